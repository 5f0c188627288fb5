/**
 * A gated Fleet update strategy and, optionally, the auto-upgrade profile that runs it.
 *
 * azure-native 3.28 types Fleet update strategies at 2024-05-02-preview (no gates, no maxConcurrency)
 * and its UpgradeChannel enum is the AKS one (`stable`, `node-image`), so both resources are
 * `ArmResource`s (./arm-resource.ts) at the GA api-version 2026-06-01, behind the typed args below. The payload
 * builders are pure and checked against the official OpenAPI document in the tests.
 */
import * as pulumi from "@pulumi/pulumi";
import { FLEET_NAME_PATTERN } from "../core/rules";
import { ArmResource } from "./arm-resource";
import { gatePositions, type GatePosition, type GateSpec, type GroupSpec, type StageSpec } from "../core/strategy";

// The strategy's plain-data model lives in core/ (config, policies and the rehearsal share it).
export { gatePositions };
export type { GatePosition, GateSpec, GroupSpec, StageSpec };

/** GA api-version with gates, maxConcurrency and the TargetKubernetesVersion channel. */
export const FLEET_API_VERSION = "2026-06-01";
/** Stage, group and strategy names: 1-50 characters of FLEET_NAME_PATTERN. */
export const FLEET_CHILD_NAME_MAX = 50;
/** Documented limit of update groups per stage. */
export const MAX_GROUPS_PER_STAGE = 50;
/** A count >= 1 or a percentage 1-100 (spec pattern for stage and group maxConcurrency). */
export const MAX_CONCURRENCY_PATTERN = /^(?:([1-9]\d*)|([1-9]\d?|100)%)$/;
/** `{major}.{minor}`, e.g. "1.30", as the auto-upgrade profile requires. */
export const TARGET_KUBERNETES_VERSION_PATTERN = /^\d+\.\d+$/;
const INT32_MAX = 2 ** 31 - 1;

/** Fleet auto-upgrade channels (Fleet spelling, not the AKS `UpgradeChannel` enum). */
export type AutoUpgradeChannel = "Stable" | "Rapid" | "NodeImage" | "TargetKubernetesVersion";

export interface AutoUpgradeSpec {
    readonly channel: AutoUpgradeChannel;
    /** `{major}.{minor}`; required with channel TargetKubernetesVersion and forbidden otherwise. */
    readonly targetKubernetesVersion?: string;
    readonly nodeImageSelection?: "Latest" | "Consistent";
    /** Keeps the profile but stops it from generating update runs. */
    readonly disabled?: boolean;
}

/** Arguments of `UpdateStrategy`. */
export interface UpdateStrategyArgs {
    /** The fleet's subscription (the strategy's ARM id is built from it). */
    readonly subscriptionId: pulumi.Input<string>;
    /** Resource group of the fleet. */
    readonly resourceGroupName: pulumi.Input<string>;
    /** The fleet; pass the Fleet component's output so the strategy waits for it. */
    readonly fleetName: pulumi.Input<string>;
    /** ARM name of the strategy (also of the auto-upgrade profile); a plain string because it names children. */
    readonly strategyName: string;
    /** Stages in run order. Plain data: the gate layout is decided at preview time. */
    readonly stages: readonly StageSpec[];
    /** When set, an auto-upgrade profile that generates update runs with this strategy. */
    readonly autoUpgrade?: AutoUpgradeSpec;
    /** The fleet members: the service rejects a strategy whose groups no member belongs to yet. */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** The API's `GateConfiguration`. */
export interface GateConfiguration {
    readonly displayName: string;
    readonly type: "Approval";
}

export interface UpdateGroupProperties {
    readonly name: string;
    readonly maxConcurrency?: string;
    readonly beforeGates?: GateConfiguration[];
    readonly afterGates?: GateConfiguration[];
}

export interface UpdateStageProperties {
    readonly name: string;
    readonly maxConcurrency?: string;
    readonly groups?: UpdateGroupProperties[];
    readonly beforeGates?: GateConfiguration[];
    readonly afterGates?: GateConfiguration[];
    readonly afterStageWaitInSeconds?: number;
}

/** The API's `FleetUpdateStrategyProperties` as we send them. */
export interface UpdateStrategyProperties {
    readonly strategy: { readonly stages: UpdateStageProperties[] };
}

/** The API's `AutoUpgradeProfileProperties` as we send them. */
export interface AutoUpgradeProfileProperties {
    readonly channel: AutoUpgradeChannel;
    readonly updateStrategyId: string;
    readonly nodeImageSelection?: { readonly type: "Latest" | "Consistent" };
    readonly targetKubernetesVersion?: string;
    readonly disabled: boolean;
}

/** Copies `entries` without undefined values and empty arrays: the API wants absent, not empty. */
function compact<T extends object>(entries: T): T {
    return Object.fromEntries(
        Object.entries(entries).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
    ) as T;
}

function gates(specs: readonly GateSpec[] | undefined): GateConfiguration[] | undefined {
    return specs?.map((g) => ({ displayName: g.displayName, type: "Approval" as const }));
}

/** `properties` of the strategy resource, exactly as the API wants them (absent fields omitted). */
export function updateStrategyProperties(stages: readonly StageSpec[]): UpdateStrategyProperties {
    return {
        strategy: {
            stages: stages.map((s) =>
                compact<UpdateStageProperties>({
                    name: s.name,
                    maxConcurrency: s.maxConcurrency,
                    groups: s.groups.map((g) =>
                        compact<UpdateGroupProperties>({
                            name: g.name,
                            maxConcurrency: g.maxConcurrency,
                            beforeGates: gates(g.beforeGates),
                            afterGates: gates(g.afterGates),
                        }),
                    ),
                    beforeGates: gates(s.beforeGates),
                    afterGates: gates(s.afterGates),
                    afterStageWaitInSeconds: s.afterStageWaitInSeconds,
                }),
            ),
        },
    };
}

/** `properties` of the auto-upgrade profile; channel strings are Fleet's, passed through raw. */
export function autoUpgradeProfileProperties(
    autoUpgrade: AutoUpgradeSpec,
    updateStrategyId: string,
): AutoUpgradeProfileProperties {
    return compact<AutoUpgradeProfileProperties>({
        channel: autoUpgrade.channel,
        updateStrategyId,
        nodeImageSelection: autoUpgrade.nodeImageSelection ? { type: autoUpgrade.nodeImageSelection } : undefined,
        targetKubernetesVersion: autoUpgrade.targetKubernetesVersion,
        disabled: autoUpgrade.disabled ?? false,
    });
}

function nameProblem(field: string, name: string): string | undefined {
    if (name.length < 1 || name.length > FLEET_CHILD_NAME_MAX || !FLEET_NAME_PATTERN.test(name))
        return `${field} "${name}" must be 1-${FLEET_CHILD_NAME_MAX} lower-case letters, digits and '-', starting and ending alphanumeric`;
    return undefined;
}

function gateProblems(field: string, specs: readonly GateSpec[] | undefined): string[] {
    return (specs ?? []).flatMap((g, i) =>
        g.displayName.length < 1 || g.displayName.length > 100
            ? [`${field}[${i}].displayName "${g.displayName}" must be 1-100 characters`]
            : [],
    );
}

/** What the service would reject in `stages`, each naming the field; empty when valid. */
export function stageProblems(stages: readonly StageSpec[]): string[] {
    const problems: string[] = [];
    if (stages.length === 0) problems.push("stages must contain at least one stage");
    const stageAt = new Map<string, number>();
    const groupAt = new Map<string, string>();
    stages.forEach((s, i) => {
        const at = `stages[${i}]`;
        const bad = nameProblem(`${at}.name`, s.name);
        if (bad) problems.push(bad);
        const first = stageAt.get(s.name);
        if (first !== undefined) problems.push(`${at}.name "${s.name}" duplicates stages[${first}].name`);
        else stageAt.set(s.name, i);
        if (s.groups.length === 0) problems.push(`${at}.groups must contain at least one group`);
        if (s.groups.length > MAX_GROUPS_PER_STAGE)
            problems.push(`${at}.groups has ${s.groups.length} groups; a stage allows at most ${MAX_GROUPS_PER_STAGE}`);
        if (s.maxConcurrency !== undefined && !MAX_CONCURRENCY_PATTERN.test(s.maxConcurrency))
            problems.push(`${at}.maxConcurrency "${s.maxConcurrency}" must be a count >= 1 or a percentage 1%-100%`);
        const wait = s.afterStageWaitInSeconds;
        if (wait !== undefined && (!Number.isInteger(wait) || wait < 0 || wait > INT32_MAX))
            problems.push(`${at}.afterStageWaitInSeconds ${wait} must be a whole number of seconds >= 0`);
        problems.push(
            ...gateProblems(`${at}.beforeGates`, s.beforeGates),
            ...gateProblems(`${at}.afterGates`, s.afterGates),
        );
        s.groups.forEach((g, j) => {
            const gat = `${at}.groups[${j}]`;
            const badGroup = nameProblem(`${gat}.name`, g.name);
            if (badGroup) problems.push(badGroup);
            // A group may appear once in the whole strategy, within or across stages.
            const seen = groupAt.get(g.name);
            if (seen !== undefined) problems.push(`${gat}.name "${g.name}" duplicates ${seen}.name`);
            else groupAt.set(g.name, gat);
            if (g.maxConcurrency !== undefined && !MAX_CONCURRENCY_PATTERN.test(g.maxConcurrency))
                problems.push(
                    `${gat}.maxConcurrency "${g.maxConcurrency}" must be a count >= 1 or a percentage 1%-100%`,
                );
            problems.push(
                ...gateProblems(`${gat}.beforeGates`, g.beforeGates),
                ...gateProblems(`${gat}.afterGates`, g.afterGates),
            );
        });
    });
    return problems;
}

/** Contradictions in `autoUpgrade`, naming both fields; empty when valid. */
export function autoUpgradeProblems(autoUpgrade: AutoUpgradeSpec): string[] {
    const { channel, targetKubernetesVersion: target } = autoUpgrade;
    if (channel === "TargetKubernetesVersion" && target === undefined)
        return ['autoUpgrade.channel "TargetKubernetesVersion" requires autoUpgrade.targetKubernetesVersion'];
    if (channel !== "TargetKubernetesVersion" && target !== undefined)
        return [
            `autoUpgrade.targetKubernetesVersion "${target}" is only allowed with autoUpgrade.channel "TargetKubernetesVersion", not "${channel}"`,
        ];
    if (target !== undefined && !TARGET_KUBERNETES_VERSION_PATTERN.test(target))
        return [`autoUpgrade.targetKubernetesVersion "${target}" must be {major}.{minor}, e.g. "1.30"`];
    return [];
}

/**
 * A Fleet update strategy with approval gates (an `ArmResource` at api-version 2026-06-01) and,
 * with `autoUpgrade`, the auto-upgrade profile that generates update runs from it.
 */
export class UpdateStrategy extends pulumi.ComponentResource {
    /** ARM id of the strategy; update runs and the auto-upgrade profile reference it. */
    public readonly strategyId: pulumi.Output<string>;
    public readonly strategyName: pulumi.Output<string>;
    /** Set when `autoUpgrade` was given. */
    public readonly autoUpgradeProfileId?: pulumi.Output<string>;

    constructor(name: string, args: UpdateStrategyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:fleet:UpdateStrategy", name, {}, opts);

        const problems = [
            ...[nameProblem("strategyName", args.strategyName)].filter((p): p is string => p !== undefined),
            ...stageProblems(args.stages),
            ...(args.autoUpgrade ? autoUpgradeProblems(args.autoUpgrade) : []),
        ];
        if (problems.length > 0) throw new Error(`UpdateStrategy "${name}": ${problems.join("; ")}`);

        const parentResourcePath = pulumi.interpolate`fleets/${args.fleetName}`;
        const strategy = new ArmResource(
            `${name}-strategy`,
            {
                subscriptionId: args.subscriptionId,
                resourceGroupName: args.resourceGroupName,
                resourceProviderNamespace: "Microsoft.ContainerService",
                parentResourcePath,
                resourceType: "updateStrategies",
                resourceName: args.strategyName,
                apiVersion: FLEET_API_VERSION,
                properties: updateStrategyProperties(args.stages),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.strategyId = strategy.id;
        // The name as given, resolving once the strategy exists (dependents wait for it).
        this.strategyName = strategy.id.apply(() => args.strategyName);

        const autoUpgrade = args.autoUpgrade;
        if (autoUpgrade) {
            const profile = new ArmResource(
                `${name}-auto-upgrade`,
                {
                    subscriptionId: args.subscriptionId,
                    resourceGroupName: args.resourceGroupName,
                    resourceProviderNamespace: "Microsoft.ContainerService",
                    parentResourcePath,
                    resourceType: "autoUpgradeProfiles",
                    resourceName: args.strategyName,
                    apiVersion: FLEET_API_VERSION,
                    properties: strategy.id.apply((id) => autoUpgradeProfileProperties(autoUpgrade, id)),
                },
                { parent: this },
            );
            this.autoUpgradeProfileId = profile.id;
        }

        this.registerOutputs({
            strategyId: this.strategyId,
            strategyName: this.strategyName,
            autoUpgradeProfileId: this.autoUpgradeProfileId,
        });
    }
}
