/**
 * Staged workload rollouts on the fleet hub (KubeFleet `placement.kubernetes-fleet.io/v1beta1`): the
 * placement and staged-strategy model declared in `fleet-gates:placements`, how a staged update run
 * orders members into stages (label selector, integer `sortingLabelKey`), the identity of the
 * `ClusterApprovalRequest`s a run creates, and matching those requests to approval rules. Pure code
 * shared by config validation, the program, the handler's hub loop and the rehearsal; the semantics
 * follow KubeFleet's updaterun controller (initialization.go, execution.go).
 */
import { z } from "zod";
import type { ApprovalRule, GateTiming, RuleMatch } from "./rules";

export const PLACEMENT_GROUP = "placement.kubernetes-fleet.io";
export const PLACEMENT_API_VERSION = `${PLACEMENT_GROUP}/v1beta1`;

/** KubeFleet's CRD limits (stageupdate_types.go kubebuilder markers) and controller rules. */
export const PLACEMENT_LIMITS = {
    stages: 31,
    beforeStageTasks: 1,
    afterStageTasks: 2,
    stageNameMax: 63,
    objectNameMax: 63,
    resourceSelectors: 100,
} as const;

/** Labels the run controller puts on each approval request (commons.go, execution.go buildApprovalRequestObject). */
export const APPROVAL_LABELS = {
    run: "kubernetes-fleet.io/targetUpdateRun",
    stage: "kubernetes-fleet.io/targetUpdatingStage",
    taskType: "kubernetes-fleet.io/taskType",
    latest: "kubernetes-fleet.io/isLatestUpdateRunApproval",
} as const;

/** `taskType` label values, by Azure's timing words. */
export const TASK_TYPE_VALUE: Readonly<Record<GateTiming, string>> = { Before: "beforeStage", After: "afterStage" };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const STAGE_NAME = /^[a-z0-9]+$/;
/** Go duration subset KubeFleet accepts for waitTime: `1h30m`, `90s`, `1.5h`. */
const WAIT_TIME = /^(?:(?:0|[1-9][0-9]*)(\.[0-9]+)?(?:s|m|h))+$/;
const PERCENT = /^(100|[1-9][0-9]?)%$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

const LabelSelectorSchema = z
    .strictObject({
        matchLabels: z.record(z.string().regex(LABEL_KEY, "is not a valid label key"), z.string()).optional(),
        matchExpressions: z
            .array(
                z.strictObject({
                    key: z.string().regex(LABEL_KEY, "is not a valid label key"),
                    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
                    values: z.array(z.string()).optional(),
                }),
            )
            .optional(),
    })
    .refine((s) => Object.keys(s.matchLabels ?? {}).length + (s.matchExpressions ?? []).length > 0, {
        message: "must have matchLabels or matchExpressions (an empty selector selects every member)",
    });
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

const StageTaskSchema = z.discriminatedUnion("type", [
    z.strictObject({
        type: z.literal("TimedWait"),
        waitTime: z.string().regex(WAIT_TIME, 'must be a duration like "1m", "90s" or "1h30m"'),
    }),
    z.strictObject({ type: z.literal("Approval") }),
]);
export type StageTask = z.infer<typeof StageTaskSchema>;

export const PlacementStageSchema = z.strictObject({
    name: z
        .string()
        .min(1)
        .max(PLACEMENT_LIMITS.stageNameMax)
        .regex(STAGE_NAME, "must be lower-case letters and digits"),
    labelSelector: LabelSelectorSchema,
    sortingLabelKey: z.string().regex(LABEL_KEY, "is not a valid label key").optional(),
    maxConcurrency: z
        .union([z.number().int().min(1), z.string().regex(PERCENT, 'must be a percentage like "25%"')])
        .optional(),
    beforeStageTasks: z.array(StageTaskSchema).max(PLACEMENT_LIMITS.beforeStageTasks).optional(),
    afterStageTasks: z.array(StageTaskSchema).max(PLACEMENT_LIMITS.afterStageTasks).optional(),
});
export type PlacementStage = z.infer<typeof PlacementStageSchema>;

const ResourceSelectorSchema = z.strictObject({
    group: z.string(),
    version: z.string().min(1),
    kind: z.string().min(1),
    name: z.string().min(1).optional(),
    labelSelector: LabelSelectorSchema.optional(),
});
export type ResourceSelector = z.infer<typeof ResourceSelectorSchema>;

export const PlacementSchema = z.strictObject({
    name: z
        .string()
        .min(1)
        .max(PLACEMENT_LIMITS.objectNameMax)
        .regex(DNS_LABEL, "must be lower-case letters, digits and '-'"),
    /** `Cluster`: ClusterResourcePlacement + ClusterStagedUpdateStrategy; `Namespaced`: the namespaced twins. */
    scope: z.enum(["Cluster", "Namespaced"]).default("Cluster"),
    namespace: z.string().regex(DNS_LABEL, "must be a namespace name").optional(),
    resourceSelectors: z.array(ResourceSelectorSchema).min(1).max(PLACEMENT_LIMITS.resourceSelectors),
    /** Name of the staged update strategy; defaults to the placement's name. */
    strategyName: z.string().regex(DNS_LABEL, "must be lower-case letters, digits and '-'").optional(),
    stages: z.array(PlacementStageSchema).min(1).max(PLACEMENT_LIMITS.stages),
});
export type PlacementSpec = z.infer<typeof PlacementSchema>;

/** What a placement needs to know of a member: its name (the MemberCluster's name on the hub) and labels. */
export interface LabelledMember {
    readonly name: string;
    readonly labels: Readonly<Record<string, string>>;
}

/** Kubernetes label-selector semantics (every matchLabels pair and every expression must hold). */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
    for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
    for (const e of selector.matchExpressions ?? []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        const value = labels[e.key];
        const values = e.values ?? [];
        switch (e.operator) {
            case "In":
                if (!has || !values.includes(value as string)) return false;
                break;
            case "NotIn":
                if (has && values.includes(value as string)) return false;
                break;
            case "Exists":
                if (!has) return false;
                break;
            case "DoesNotExist":
                if (has) return false;
                break;
        }
    }
    return true;
}

/** The integer KubeFleet sorts by (strconv.Atoi: optional sign, decimal digits), or undefined. */
export function sortingValue(value: string | undefined): number | undefined {
    if (value === undefined || !/^[+-]?\d+$/.test(value)) return undefined;
    return Number.parseInt(value, 10);
}

/** A stage's members in update order: by the integer value of `sortingLabelKey`, then by name. */
export function stageMembers<M extends LabelledMember>(stage: PlacementStage, members: readonly M[]): M[] {
    const key = stage.sortingLabelKey;
    const byName = (a: M, b: M) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return members
        .filter((m) => selectorMatches(stage.labelSelector, m.labels))
        .sort((a, b) => {
            if (key === undefined) return byName(a, b);
            const d = (sortingValue(a.labels[key]) ?? 0) - (sortingValue(b.labels[key]) ?? 0);
            return d !== 0 ? d : byName(a, b);
        });
}

/** Milliseconds of a KubeFleet waitTime (`1m`, `1h30m`, `1.5h`). */
export function waitTimeMs(waitTime: string): number {
    const unit = { s: 1000, m: 60_000, h: 3_600_000 } as const;
    let ms = 0;
    for (const [, n, u] of waitTime.matchAll(/(\d+(?:\.\d+)?)([smh])/g)) ms += Number(n) * unit[u as "s" | "m" | "h"];
    return Math.round(ms);
}

/** One stage task of a planned run, in the order the run reaches it. */
export interface PlannedTask {
    readonly type: StageTask["type"];
    readonly timing: GateTiming;
    /** TimedWait only. */
    readonly waitMs?: number;
}

export interface PlannedStage {
    readonly name: string;
    readonly clusters: readonly string[];
    readonly maxConcurrency: number;
    readonly tasks: readonly PlannedTask[];
}

/** A stage's maxConcurrency as a count of its clusters (default 1; a percentage rounds down, at least 1). */
export function concurrency(max: PlacementStage["maxConcurrency"], clusters: number): number {
    if (max === undefined) return 1;
    if (typeof max === "number") return max;
    return Math.max(1, Math.floor((clusters * Number.parseInt(max, 10)) / 100));
}

/** The stages of a run of this placement over these members, as KubeFleet's initialization computes them. */
export function planStages(
    placement: Pick<PlacementSpec, "stages">,
    members: readonly LabelledMember[],
): PlannedStage[] {
    return placement.stages.map((s) => {
        const clusters = stageMembers(s, members).map((m) => m.name);
        const task = (timing: GateTiming) => (t: StageTask) => ({
            type: t.type,
            timing,
            ...(t.type === "TimedWait" ? { waitMs: waitTimeMs(t.waitTime) } : {}),
        });
        return {
            name: s.name,
            clusters,
            maxConcurrency: concurrency(s.maxConcurrency, clusters.length),
            tasks: [...(s.beforeStageTasks ?? []).map(task("Before")), ...(s.afterStageTasks ?? []).map(task("After"))],
        };
    });
}

/** Where an approval request sits: the coordinates a rule matches on. */
export interface ApprovalTaskCoordinates {
    readonly placement: string;
    readonly stage: string;
    readonly timing: GateTiming;
}

/** Every Approval task the placement's strategy declares, in run order. */
export function approvalTasks(placement: Pick<PlacementSpec, "name" | "stages">): ApprovalTaskCoordinates[] {
    return placement.stages.flatMap((s) => [
        ...(s.beforeStageTasks ?? [])
            .filter((t) => t.type === "Approval")
            .map(() => ({ placement: placement.name, stage: s.name, timing: "Before" as const })),
        ...(s.afterStageTasks ?? [])
            .filter((t) => t.type === "Approval")
            .map(() => ({ placement: placement.name, stage: s.name, timing: "After" as const })),
    ]);
}

/** The name KubeFleet gives an approval request (`<run>-before-<stage>` / `<run>-after-<stage>`). */
export function approvalRequestName(run: string, stage: string, timing: GateTiming): string {
    return `${run}-${timing === "Before" ? "before" : "after"}-${stage}`;
}

/** True for rules that decide approval requests (they name a placement) rather than Fleet gates. */
export function isPlacementRule(rule: Pick<ApprovalRule, "match">): boolean {
    return rule.match.placement !== undefined;
}

function sameText(a: string | undefined, b: string | undefined): boolean {
    return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/** A placement rule covers a request when its placement, and its stage and timing if given, are the request's. */
export function ruleMatchesApprovalTask(match: RuleMatch, task: ApprovalTaskCoordinates): boolean {
    if (!sameText(match.placement, task.placement)) return false;
    if (match.stage !== undefined && !sameText(match.stage, task.stage)) return false;
    if (match.timing !== undefined && match.timing !== task.timing) return false;
    return match.displayName === undefined && match.group === undefined;
}

export function rulesForApprovalTask(rules: readonly ApprovalRule[], task: ApprovalTaskCoordinates): ApprovalRule[] {
    return rules.filter((r) => ruleMatchesApprovalTask(r.match, task));
}

/** The parts of a ClusterApprovalRequest the handler reads (from the hub, never from elsewhere). */
export interface ApprovalRequestObject {
    readonly metadata?: {
        readonly name?: string;
        readonly namespace?: string;
        readonly generation?: number;
        readonly resourceVersion?: string;
        readonly labels?: Readonly<Record<string, string>>;
        readonly deletionTimestamp?: string;
    };
    readonly spec?: { readonly parentStageRollout?: string; readonly targetStage?: string };
    readonly status?: { readonly conditions?: readonly Condition[] };
}

export interface Condition {
    readonly type: string;
    readonly status: string;
    readonly observedGeneration?: number;
    readonly reason?: string;
    readonly message?: string;
    readonly lastTransitionTime?: string;
}

export type ParsedApprovalRequest =
    | {
          readonly ok: true;
          readonly name: string;
          readonly run: string;
          readonly stage: string;
          readonly timing: GateTiming;
      }
    | { readonly ok: false; readonly reason: string };

/**
 * A request's run, stage and timing, accepted only when its name, labels and immutable spec all agree
 * (what the run controller creates). Anything else is forged or foreign and is never approved.
 */
export function parseApprovalRequest(obj: ApprovalRequestObject): ParsedApprovalRequest {
    const name = obj.metadata?.name;
    const labels = obj.metadata?.labels ?? {};
    const run = obj.spec?.parentStageRollout;
    const stage = obj.spec?.targetStage;
    if (!name) return { ok: false, reason: "request has no name" };
    if (!run || !stage) return { ok: false, reason: `request ${name} has no spec.parentStageRollout/targetStage` };
    if (labels[APPROVAL_LABELS.run] !== run)
        return { ok: false, reason: `request ${name}: label ${APPROVAL_LABELS.run} does not name run "${run}"` };
    if (labels[APPROVAL_LABELS.stage] !== stage)
        return { ok: false, reason: `request ${name}: label ${APPROVAL_LABELS.stage} does not name stage "${stage}"` };
    const taskType = labels[APPROVAL_LABELS.taskType];
    const timing = (Object.keys(TASK_TYPE_VALUE) as GateTiming[]).find((t) => TASK_TYPE_VALUE[t] === taskType);
    if (!timing)
        return {
            ok: false,
            reason: `request ${name}: label ${APPROVAL_LABELS.taskType} "${taskType ?? ""}" is not beforeStage or afterStage`,
        };
    if (name !== approvalRequestName(run, stage, timing))
        return {
            ok: false,
            reason: `request ${name} is not named ${approvalRequestName(run, stage, timing)} as its run's requests are`,
        };
    return { ok: true, name, run, stage, timing };
}

/** The condition with this type, if any. */
export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
    return (conditions ?? []).find((c) => c.type === type);
}

/** Approved as the run controller reads it: status True for the object's current generation. */
export function isApproved(obj: ApprovalRequestObject): boolean {
    const c = findCondition(obj.status?.conditions, "Approved");
    return c?.status === "True" && (c.observedGeneration ?? 0) === (obj.metadata?.generation ?? 0);
}

/**
 * Config problems of the placements against the members, the hub and the rules. `key` renders a
 * path below `placements` (config passes its key formatter); each message names the key and value.
 */
export function placementProblems(
    placements: readonly PlacementSpec[],
    members: readonly LabelledMember[],
    hubCluster: boolean,
    rules: readonly ApprovalRule[],
    key: (path: string) => string,
): string[] {
    const problems: string[] = [];
    const seen = new Map<string, number>();
    placements.forEach((p, i) => {
        const at = (rest: string) => key(`placements[${i}]${rest}`);
        if (!hubCluster)
            problems.push(`${at("")} "${p.name}" needs a hub cluster: set ${key("fleet")}.hubCluster to true`);
        const prev = seen.get(p.name);
        if (prev !== undefined) problems.push(`${at(".name")} "${p.name}" is used by placements[${prev}] too`);
        else seen.set(p.name, i);
        if (p.scope === "Namespaced" && p.namespace === undefined)
            problems.push(`${at(".namespace")} is required when scope is "Namespaced" (placement "${p.name}")`);
        if (p.scope === "Cluster" && p.namespace !== undefined)
            problems.push(`${at(".namespace")} "${p.namespace}" is only allowed when scope is "Namespaced"`);

        const stageSeen = new Map<string, number>();
        const placedIn = new Map<string, string>();
        p.stages.forEach((s, j) => {
            const st = (rest: string) => at(`.stages[${j}]${rest}`);
            const prevStage = stageSeen.get(s.name);
            if (prevStage !== undefined)
                problems.push(`${st(".name")} "${s.name}" is used by stages[${prevStage}] too`);
            else stageSeen.set(s.name, j);

            const selected = stageMembers(s, members);
            if (selected.length === 0)
                problems.push(
                    `${st(".labelSelector")} ${JSON.stringify(s.labelSelector)} selects no member (stage "${s.name}")`,
                );
            for (const m of selected) {
                const other = placedIn.get(m.name);
                if (other !== undefined)
                    problems.push(
                        `${st(".labelSelector")} selects member "${m.name}", already in stage "${other}" (a member runs in one stage)`,
                    );
                else placedIn.set(m.name, s.name);
            }
            if (s.sortingLabelKey !== undefined && selected.length > 0) {
                const sk = s.sortingLabelKey;
                const missing = selected.filter((m) => m.labels[sk] === undefined);
                if (missing.length === selected.length)
                    problems.push(
                        `${st(".sortingLabelKey")} "${sk}" is a label of no member of stage "${s.name}" (members: ${selected.map((m) => m.name).join(", ")})`,
                    );
                else
                    for (const m of selected)
                        if (sortingValue(m.labels[sk]) === undefined)
                            problems.push(
                                `${st(".sortingLabelKey")} "${sk}": member "${m.name}" has ${m.labels[sk] === undefined ? "no such label" : `value "${m.labels[sk]}"`}; Fleet needs an integer on every member of the stage`,
                            );
            }
            (s.beforeStageTasks ?? []).forEach((t, k) => {
                if (t.type !== "Approval")
                    problems.push(
                        `${st(`.beforeStageTasks[${k}].type`)} "${t.type}" is not allowed before a stage (only Approval)`,
                    );
            });
            const after = s.afterStageTasks ?? [];
            if (after.length === 2 && after[0]?.type === after[1]?.type)
                problems.push(
                    `${st(".afterStageTasks")} has two ${after[0]?.type} tasks; Fleet allows one of each type`,
                );
            after.forEach((t, k) => {
                if (t.type === "TimedWait" && waitTimeMs(t.waitTime) <= 0)
                    problems.push(`${st(`.afterStageTasks[${k}].waitTime`)} "${t.waitTime}" must be longer than 0`);
            });
        });
    });

    // Placement rules: each names a placement of this stack and covers at least one of its Approval tasks; one rule per task.
    const tasks = placements.flatMap((p) => approvalTasks(p));
    rules.forEach((r, i) => {
        if (!isPlacementRule(r)) return;
        const at = key(`approvals[${i}]`);
        const m = r.match;
        if (m.displayName !== undefined || m.group !== undefined) {
            problems.push(
                `${at}.match names a placement and ${m.displayName !== undefined ? "displayName" : "group"}; approval requests have neither (match placement, stage, timing)`,
            );
            return;
        }
        const p = placements.find((x) => sameText(x.name, m.placement));
        if (!p) {
            problems.push(
                `${at}.match.placement "${m.placement}" is not a placement of the stack (placements: ${placements.map((x) => x.name).join(", ") || "none"})`,
            );
            return;
        }
        if (m.stage !== undefined && !p.stages.some((s) => sameText(s.name, m.stage))) {
            problems.push(
                `${at}.match.stage "${m.stage}" is not a stage of placement "${p.name}" (stages: ${p.stages.map((s) => s.name).join(", ")})`,
            );
            return;
        }
        if (!tasks.some((t) => ruleMatchesApprovalTask(m, t)))
            problems.push(`${at} "${r.name}" matches no Approval task of placement "${p.name}"`);
    });
    rules.forEach((r, i) => {
        if (!isPlacementRule(r) && r.checks.some((c) => c.type === "placementAvailable"))
            problems.push(
                `${key(`approvals[${i}]`)}.checks: "placementAvailable" needs match.placement (rule "${r.name}" decides Fleet gates)`,
            );
    });
    for (const t of tasks) {
        const covering = rules.flatMap((r, i) =>
            ruleMatchesApprovalTask(r.match, t) ? [`approvals[${i}] "${r.name}"`] : [],
        );
        if (covering.length > 1)
            problems.push(
                `approval task of placement "${t.placement}", stage "${t.stage}", ${t.timing} is matched by ${covering.length} rules: ${covering.join(", ")}; make them disjoint`,
            );
    }
    return problems;
}
