/**
 * Stack config: the `fleet-gates:` namespace of `Pulumi.<stack>.yaml`, validated into a typed model.
 *
 * Every error names the key path and the offending value, e.g.
 * `fleet-gates:members[3].group "blu" is not a group of any stage (groups: blue, green)`, and every
 * key of the namespace is accounted for: one the schema does not know is an error with the closest
 * setting. All errors are collected and reported together, so one `pulumi preview` shows everything
 * to fix; the offline engine and `pulumi up` validate through the same `parseConfigMap`.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { closest, configKeyProblems, show } from "./core/config-keys";
import { ApprovalRuleSchema, FLEET_NAME_PATTERN, ruleMatchesGate, type ApprovalRule } from "./core/rules";
import { describeGate, gatePositions, type GatePosition, type StageSpec } from "./core/strategy";
import { isPlacementRule, PlacementSchema, placementProblems, type PlacementSpec } from "./core/placement";
import { UpgradeEventsConfigSchema, resolveUpgradeEvents, type UpgradeEventsSpec } from "./core/upgrade-events";

export const NAMESPACE = "fleet-gates";

export { closest, configKeyProblems };

/** Fleet limits (2026-06-01 spec and Fleet docs). */
export const LIMITS = {
    groupsPerStage: 50,
    nameMax: 50,
    fleetNameMax: 63,
    displayNameMax: 100,
} as const;

const fleetName = (max: number) =>
    z.string().min(1).max(max).regex(FLEET_NAME_PATTERN, "must be lower-case letters, digits and '-'");

/** Fleet's maxConcurrency: a count ≥ 1 or a percentage 1–100 %. */
const MAX_CONCURRENCY = /^(?:([1-9]\d*)|([1-9]\d?|100)%)$/;
const maxConcurrency = z.string().regex(MAX_CONCURRENCY, 'must be a count ≥ 1 or a percentage like "25%"');

/** Kubernetes label syntax: optional DNS prefix, then a name of ≤ 63 characters. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

const GateSchema = z.strictObject({
    displayName: z.string().min(1).max(LIMITS.displayNameMax),
});

const GroupSchema = z.strictObject({
    name: fleetName(LIMITS.nameMax),
    maxConcurrency: maxConcurrency.optional(),
    beforeGates: z.array(GateSchema).optional(),
    afterGates: z.array(GateSchema).optional(),
});

const StageSchema = z.strictObject({
    name: fleetName(LIMITS.nameMax),
    groups: z.array(GroupSchema).min(1).max(LIMITS.groupsPerStage),
    beforeGates: z.array(GateSchema).optional(),
    afterGates: z.array(GateSchema).optional(),
    afterStageWaitInSeconds: z.number().int().min(0).max(3600).optional(),
    maxConcurrency: maxConcurrency.optional(),
});

const MemberSchema = z.strictObject({
    name: fleetName(LIMITS.nameMax),
    group: z.string().min(1),
    labels: z
        .record(
            z.string().regex(LABEL_KEY, "is not a valid label key"),
            z.string().regex(LABEL_VALUE, "is not a valid label value (quote numbers in YAML)"),
        )
        .default({}),
    nodeCount: z.number().int().min(1).max(100).default(1),
    vmSize: z.string().min(1).default("Standard_D2s_v5"),
    kubernetesVersion: z
        .string()
        .regex(/^\d+\.\d+(\.\d+)?$/, 'must look like "1.33" or "1.33.2"')
        .optional(),
    location: z.string().min(1).optional(),
});

const CHANNELS = ["Stable", "Rapid", "NodeImage", "TargetKubernetesVersion"] as const;

const AutoUpgradeSchema = z.strictObject({
    channel: z.enum(CHANNELS),
    targetKubernetesVersion: z
        .string()
        .regex(/^\d+\.\d+$/, 'must be "{major}.{minor}"')
        .optional(),
    nodeImageSelection: z.enum(["Latest", "Consistent"]).optional(),
    disabled: z.boolean().default(false),
});

const HandlerSchema = z.strictObject({
    roleScope: z.enum(["fleet", "custom-role"]).default("fleet"),
    sweepMinutes: z.number().int().min(1).max(60).default(5),
    escalateAfterMinutes: z.number().int().min(1).max(10080).default(240),
    notifyWebhookUrl: z.url({ protocol: /^https$/ }).optional(),
    nodeVersion: z.enum(["20", "22"]).default("22"),
});

const SystemTopicSchema = z.strictObject({
    existingName: z.string().min(3).max(128),
    existingResourceGroup: z.string().min(1).max(90),
});

const RawSchema = z.strictObject({
    location: z.string().min(1),
    environment: z.string().regex(/^[a-z][a-z0-9]{0,9}$/, "must be 1-10 lower-case letters and digits"),
    fleet: z.strictObject({
        name: fleetName(LIMITS.fleetNameMax),
        hubCluster: z.boolean().default(false),
        resourceGroupName: z.string().min(1).max(90).optional(),
    }),
    members: z.array(MemberSchema).min(1),
    updateStrategy: z.strictObject({
        name: fleetName(LIMITS.nameMax),
        stages: z.array(StageSchema).min(1),
    }),
    autoUpgrade: AutoUpgradeSchema.optional(),
    approvals: z.array(ApprovalRuleSchema).default([]),
    handler: HandlerSchema.default({
        roleScope: "fleet",
        sweepMinutes: 5,
        escalateAfterMinutes: 240,
        nodeVersion: "22",
    }),
    systemTopic: SystemTopicSchema.optional(),
    placements: z.array(PlacementSchema).default([]),
    upgradeEvents: UpgradeEventsConfigSchema.optional(),
});

type Raw = z.infer<typeof RawSchema>;
export type MemberSpec = Raw["members"][number];
export type AutoUpgradeSpec = z.infer<typeof AutoUpgradeSchema>;

/** The validated stack: what the program wires. */
export interface StackConfig {
    readonly environment: string;
    readonly location: string;
    readonly resourceGroupName: string;
    readonly fleet: { readonly name: string; readonly hubCluster: boolean };
    readonly members: readonly MemberSpec[];
    readonly updateStrategy: { readonly name: string; readonly stages: readonly StageSpec[] };
    readonly autoUpgrade?: AutoUpgradeSpec;
    readonly approvals: readonly ApprovalRule[];
    readonly handler: {
        readonly roleScope: "fleet" | "custom-role";
        readonly sweepMinutes: number;
        readonly escalateAfterMinutes: number;
        readonly nodeVersion: "20" | "22";
        /** Only ever a Pulumi secret. */
        readonly notifyWebhookUrl?: pulumi.Output<string>;
    };
    readonly systemTopic?: { readonly existingName: string; readonly existingResourceGroup: string };
    /** Workload placements on the hub, each with its staged update strategy (`core/placement.ts`). */
    readonly placements: readonly PlacementSpec[];
    /** AKS upgrade events routed to the handler (absent: not configured, or `enabled: false`). */
    readonly upgradeEvents?: UpgradeEventsSpec;
    /** Every gate of the strategy, in the order a run reaches it. */
    readonly gates: readonly GatePosition[];
}

/** Schema keys that are settings of another namespace: the provider's region, which the program reads. */
const FOREIGN_KEYS = { location: "azure-native:location" } as const;

type SchemaKey = keyof typeof RawSchema.shape;

/** The settings of the `fleet-gates:` namespace, as they appear in `Pulumi.<stack>.yaml`: the schema's keys. */
export const CONFIG_KEYS = Object.keys(RawSchema.shape).filter((k) => !(k in FOREIGN_KEYS)) as Exclude<
    SchemaKey,
    keyof typeof FOREIGN_KEYS
>[];

/** Raw config: values of the `fleet-gates:` keys (already JSON-parsed) and `location`. */
export type RawStackConfig = Partial<Record<SchemaKey, unknown>>;

/** The full config key of a schema key: `handler` → `fleet-gates:handler`, `location` → `azure-native:location`. */
function fullKey(schemaKey: string): string {
    return (FOREIGN_KEYS as Readonly<Record<string, string>>)[schemaKey] ?? `${NAMESPACE}:${schemaKey}`;
}

export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(
            `invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n  - ${problems.join("\n  - ")}`,
        );
        this.name = "ConfigError";
    }
}

/** `["members", 3, "group"]` → `fleet-gates:members[3].group`; `location` is azure-native's key. */
export function keyPath(path: readonly PropertyKey[]): string {
    if (path.length === 0) return `${NAMESPACE}:`;
    const [head, ...rest] = path;
    let out = fullKey(String(head));
    for (const p of rest) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
    return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
    let v: unknown = root;
    for (const p of path) {
        if (v === null || typeof v !== "object") return undefined;
        v = (v as Record<PropertyKey, unknown>)[p as string];
    }
    return v;
}

/** One zod issue as `<key> <value> <problem>`; a value under a secret key shows as `[secret]`. */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown, secretKeys: ReadonlySet<string>): string {
    const path = issue.path as PropertyKey[];
    const value = valueAt(raw, path);
    const secret = path.length > 0 && secretKeys.has(fullKey(String(path[0])));
    if (issue.code === "unrecognized_keys") {
        return `${keyPath(path)} has unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    }
    if (issue.code === "invalid_type" && value === undefined) return `${keyPath(path)} is required`;
    let problem: string;
    switch (issue.code) {
        case "invalid_type":
            problem = `must be ${issue.expected === "array" ? "a list" : issue.expected === "object" ? "a map" : `a ${issue.expected}`}`;
            break;
        case "too_small":
            problem =
                issue.origin === "array"
                    ? `must have at least ${String(issue.minimum)} item${issue.minimum === 1 ? "" : "s"}`
                    : issue.origin === "string"
                      ? `must be at least ${String(issue.minimum)} character${issue.minimum === 1 ? "" : "s"}`
                      : `must be ≥ ${String(issue.minimum)}`;
            break;
        case "too_big":
            problem =
                issue.origin === "array"
                    ? `must have at most ${String(issue.maximum)} items`
                    : issue.origin === "string"
                      ? `must be at most ${String(issue.maximum)} characters`
                      : `must be ≤ ${String(issue.maximum)}`;
            break;
        case "invalid_value":
            problem = `must be one of ${issue.values.map((x) => show(x)).join(", ")}`;
            break;
        case "invalid_union":
            problem =
                "has an unknown check type (expected one of clusterHealth, window, http, metric, placementAvailable)";
            break;
        case "invalid_format":
            problem = issue.format === "url" ? "must be an https URL" : issue.message;
            break;
        default:
            problem = issue.message;
    }
    return `${keyPath(path)} ${secret ? "[secret]" : show(value)} ${problem}`;
}

/** The checks zod cannot express: references between sections, uniqueness, rule coverage. */
function crossCheck(raw: Raw, secretKeys: ReadonlySet<string>): string[] {
    const problems: string[] = [];
    const stages = raw.updateStrategy.stages;
    const stagePath = (i: number) => `${NAMESPACE}:updateStrategy.stages[${i}]`;

    const firstStage = new Map<string, number>();
    stages.forEach((s, i) => {
        const prev = firstStage.get(s.name);
        if (prev !== undefined) problems.push(`${stagePath(i)}.name "${s.name}" is used by stages[${prev}] too`);
        else firstStage.set(s.name, i);
    });

    const groupHome = new Map<string, string>();
    stages.forEach((s, i) =>
        s.groups.forEach((g, j) => {
            const where = `stages[${i}].groups[${j}]`;
            const prev = groupHome.get(g.name);
            if (prev !== undefined)
                problems.push(
                    `${stagePath(i)}.groups[${j}].name "${g.name}" is used by ${prev} too (a group runs once per update)`,
                );
            else groupHome.set(g.name, where);
        }),
    );

    // Gate display names are unique within a stage, so a rule's displayName + stage names one gate.
    stages.forEach((s, i) => {
        const seen = new Map<string, string>();
        const visit = (gates: readonly { displayName: string }[] | undefined, where: string) =>
            (gates ?? []).forEach((g, k) => {
                const key = g.displayName.toLowerCase();
                const here = `${where}[${k}]`;
                const prev = seen.get(key);
                if (prev !== undefined)
                    problems.push(
                        `${stagePath(i)}.${here}.displayName "${g.displayName}" is used by ${prev} in the same stage too`,
                    );
                else seen.set(key, here);
            });
        visit(s.beforeGates, "beforeGates");
        s.groups.forEach((g, j) => {
            visit(g.beforeGates, `groups[${j}].beforeGates`);
            visit(g.afterGates, `groups[${j}].afterGates`);
        });
        visit(s.afterGates, "afterGates");
    });

    const groupNames = [...groupHome.keys()];
    const memberSeen = new Map<string, number>();
    const membersPerGroup = new Map<string, number>();
    raw.members.forEach((m, i) => {
        const prev = memberSeen.get(m.name);
        if (prev !== undefined)
            problems.push(`${NAMESPACE}:members[${i}].name "${m.name}" is used by members[${prev}] too`);
        else memberSeen.set(m.name, i);
        if (!groupHome.has(m.group))
            problems.push(
                `${NAMESPACE}:members[${i}].group "${m.group}" is not a group of any stage (groups: ${groupNames.join(", ")})`,
            );
        membersPerGroup.set(m.group, (membersPerGroup.get(m.group) ?? 0) + 1);
    });
    stages.forEach((s, i) =>
        s.groups.forEach((g, j) => {
            if (!membersPerGroup.has(g.name))
                problems.push(
                    `${stagePath(i)}.groups[${j}].name "${g.name}" has no members (set members[].group to it)`,
                );
        }),
    );

    if (raw.autoUpgrade) {
        const a = raw.autoUpgrade;
        if (a.channel === "TargetKubernetesVersion" && a.targetKubernetesVersion === undefined)
            problems.push(
                `${NAMESPACE}:autoUpgrade.targetKubernetesVersion is required when autoUpgrade.channel is "TargetKubernetesVersion"`,
            );
        if (a.channel !== "TargetKubernetesVersion" && a.targetKubernetesVersion !== undefined)
            problems.push(
                `${NAMESPACE}:autoUpgrade.targetKubernetesVersion "${a.targetKubernetesVersion}" is only allowed with autoUpgrade.channel "TargetKubernetesVersion" (channel is "${a.channel}")`,
            );
    }

    if (raw.handler.escalateAfterMinutes < raw.handler.sweepMinutes)
        problems.push(
            `${NAMESPACE}:handler.escalateAfterMinutes ${raw.handler.escalateAfterMinutes} is shorter than handler.sweepMinutes ${raw.handler.sweepMinutes}`,
        );
    if (raw.handler.notifyWebhookUrl !== undefined && !secretKeys.has(`${NAMESPACE}:handler`))
        problems.push(
            `${NAMESPACE}:handler.notifyWebhookUrl must be a Pulumi secret: pulumi config set --secret --path 'handler.notifyWebhookUrl' <url>`,
        );

    problems.push(...checkRules(raw.approvals, stages));
    problems.push(
        ...placementProblems(
            raw.placements,
            raw.members,
            raw.fleet.hubCluster,
            raw.approvals,
            (p) => `${NAMESPACE}:${p}`,
        ),
    );
    problems.push(...resolveUpgradeEvents(raw.upgradeEvents, raw.autoUpgrade, NAMESPACE, memberNamesOf(raw)).problems);
    return problems;
}

function checkRules(rules: readonly ApprovalRule[], stages: Raw["updateStrategy"]["stages"]): string[] {
    const problems: string[] = [];
    const gates = gatePositions(stages);
    const stageNames = stages.map((s) => s.name);
    const rulePath = (i: number) => `${NAMESPACE}:approvals[${i}]`;
    const seen = new Map<string, number>();
    rules.forEach((rule, i) => {
        const prev = seen.get(rule.name);
        if (prev !== undefined) problems.push(`${rulePath(i)}.name "${rule.name}" is used by approvals[${prev}] too`);
        else seen.set(rule.name, i);
        if (isPlacementRule(rule)) return; // checked with the placements

        const { stage, group, displayName } = rule.match;
        const stageSpec =
            stage === undefined ? undefined : stages.find((s) => s.name.toLowerCase() === stage.toLowerCase());
        if (stage !== undefined && !stageSpec) {
            problems.push(
                `${rulePath(i)}.match.stage "${stage}" is not a stage of the strategy (stages: ${stageNames.join(", ")})`,
            );
            return;
        }
        if (group !== undefined) {
            const inScope = (stageSpec ? [stageSpec] : stages).flatMap((s) => s.groups.map((g) => g.name));
            if (!inScope.some((g) => g.toLowerCase() === group.toLowerCase())) {
                problems.push(
                    `${rulePath(i)}.match.group "${group}" is not a group ${stageSpec ? `of stage "${stageSpec.name}"` : "of the strategy"} (groups: ${inScope.join(", ")})`,
                );
                return;
            }
        }
        if (!gates.some((g) => ruleMatchesGate(rule.match, g))) {
            const hint =
                displayName === undefined
                    ? `gates: ${gates.map(describeGate).join(", ") || "none"}`
                    : `closest gates: ${closest(
                          displayName,
                          gates.map((g) => g.displayName),
                      )
                          .map((name) =>
                              gates
                                  .filter((g) => g.displayName === name)
                                  .map(describeGate)
                                  .join(", "),
                          )
                          .join(", ")}`;
            problems.push(`${rulePath(i)} "${rule.name}" matches no gate of the strategy; ${hint}`);
        }
    });

    // A gate decided by two rules would run two sets of checks: one rule per gate.
    for (const gate of gates) {
        const covering = rules.flatMap((r, i) =>
            ruleMatchesGate(r.match, gate) ? [`approvals[${i}] "${r.name}"`] : [],
        );
        if (covering.length > 1)
            problems.push(
                `gate ${describeGate(gate)} is matched by ${covering.length} rules: ${covering.join(", ")}; make them disjoint`,
            );
    }
    return problems;
}

const memberNamesOf = (raw: Raw) => raw.members.map((m) => m.name);

function upgradeEventsOf(raw: Raw): { upgradeEvents?: UpgradeEventsSpec } {
    const { spec } = resolveUpgradeEvents(raw.upgradeEvents, raw.autoUpgrade, NAMESPACE, memberNamesOf(raw));
    return spec ? { upgradeEvents: spec } : {};
}

/**
 * Validates raw config into the model. `secretKeys` are the full config keys Pulumi marks secret;
 * `secretValue` wraps a secret value (the program passes `pulumi.secret`).
 */
export function parseStackConfig(
    input: RawStackConfig,
    secretKeys: ReadonlySet<string> = new Set(),
): Omit<StackConfig, "handler"> & {
    handler: Omit<StackConfig["handler"], "notifyWebhookUrl"> & { notifyWebhookUrl?: string };
} {
    const parsed = RawSchema.safeParse(input);
    if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => describeIssue(i, input, secretKeys)));
    const raw = parsed.data;
    const problems = crossCheck(raw, secretKeys);
    if (problems.length > 0) throw new ConfigError(problems);
    return {
        environment: raw.environment,
        location: raw.location,
        resourceGroupName: raw.fleet.resourceGroupName ?? `rg-fleet-gates-${raw.environment}`,
        fleet: { name: raw.fleet.name, hubCluster: raw.fleet.hubCluster },
        members: raw.members,
        updateStrategy: raw.updateStrategy,
        ...(raw.autoUpgrade ? { autoUpgrade: raw.autoUpgrade } : {}),
        approvals: raw.approvals,
        handler: raw.handler,
        ...(raw.systemTopic ? { systemTopic: raw.systemTopic } : {}),
        placements: raw.placements,
        ...upgradeEventsOf(raw),
        gates: gatePositions(raw.updateStrategy.stages),
    };
}

/**
 * True when Pulumi marks the key secret. The SDK's own check reads the runtime's config store, which
 * the CLI fills from `PULUMI_CONFIG_SECRET_KEYS` and `setAllConfig` fills in-process; it is not in
 * the public typings.
 */
function isConfigSecret(fullKey: string): boolean {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(k: string): boolean };
    return runtimeConfig.isConfigSecret(fullKey);
}

/**
 * A config value as Pulumi stores it: objects and lists as JSON, strings as they are. A setting whose
 * schema is a string keeps its text (`namePrefix: "123"` stays a string); others are JSON-parsed, and
 * text that is not JSON is left for the schema to reject.
 */
export function configValue(text: string | undefined, schema: z.ZodType): unknown {
    if (text === undefined) return undefined;
    let inner = schema as z.core.$ZodType;
    while (inner._zod.def.type === "optional" || inner._zod.def.type === "default")
        inner = (inner._zod.def as unknown as { innerType: z.core.$ZodType }).innerType;
    if (inner._zod.def.type === "string") return text;
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/** The raw config from Pulumi's namespaced config map (`fleet-gates:fleet` → JSON text, …). */
export function rawStackConfig(get: (fullKey: string) => string | undefined): RawStackConfig {
    const raw: RawStackConfig = {};
    for (const [k, schema] of Object.entries(RawSchema.shape))
        raw[k as SchemaKey] = configValue(get(fullKey(k)), schema);
    return raw;
}

/**
 * Validates a whole config map, as a stack file or `pulumi config` holds it: every key of the
 * `fleet-gates:` namespace, then the model. The offline engine (stack files) and `pulumi up` (the
 * runtime's config) both come here; every problem is reported together.
 */
export function parseConfigMap(config: Readonly<Record<string, string>>, secretKeys: Iterable<string> = []) {
    const secrets = new Set(secretKeys);
    const keyProblems = configKeyProblems(config, NAMESPACE, CONFIG_KEYS, secrets);
    let model: ReturnType<typeof parseStackConfig>;
    try {
        model = parseStackConfig(
            rawStackConfig((k) => config[k]),
            secrets,
        );
    } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError([...keyProblems, ...e.problems]);
        throw e;
    }
    if (keyProblems.length > 0) throw new ConfigError(keyProblems);
    return model;
}

/**
 * Every key of the current stack's config as the runtime holds it (the CLI passes it in
 * `PULUMI_CONFIG`, the offline engine sets it in-process), and which of them are secret.
 */
export function runtimeConfig(): { config: Record<string, string>; secretKeys: string[] } {
    const config = pulumi.runtime.allConfig();
    return { config, secretKeys: Object.keys(config).filter(isConfigSecret) };
}

/**
 * Reads and validates the current stack's config, every key of it (`runtimeConfig`), before anything is created;
 * throws `ConfigError` listing every problem.
 */
export function loadStackConfig(): StackConfig {
    const { config, secretKeys } = runtimeConfig();
    const model = parseConfigMap(config, secretKeys);
    const { notifyWebhookUrl, ...handler } = model.handler;
    return {
        ...model,
        handler: {
            ...handler,
            ...(notifyWebhookUrl !== undefined ? { notifyWebhookUrl: pulumi.secret(notifyWebhookUrl) } : {}),
        },
    };
}
