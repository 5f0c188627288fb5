/**
 * The decision for one approval request on the fleet hub (a ClusterApprovalRequest, or a namespaced
 * ApprovalRequest of a namespaced placement), with the engine's guarantees for Fleet gates: the
 * request, its run and the stage's clusters are read from the hub (nothing else is trusted); a
 * request whose name, labels and spec disagree, that its run does not list, whose run belongs to
 * another placement, namespace or strategy is never approved; exactly one placement rule must match
 * and every one of its checks pass; the `Approved` condition is written conditionally on the read
 * `resourceVersion` (a 409 re-reads and decides again); one audit record per decision. The steps:
 * read the request, read its run, match the rule, run its checks, write the approval.
 */
import {
    TASK_TYPE_VALUE,
    findCondition,
    isApproved,
    parseApprovalRequest,
    rulesForApprovalTask,
    type ApprovalRequestObject,
    type Condition,
} from "../../../../core/placement";
import type { ApprovalRule } from "../../../../core/rules";
import { runChecks, type CheckRegistry, type CheckResult, type CheckServices } from "../checks";
import type { MembersInScope, MemberScope, PlacementScope, ScopeMember } from "../checks/scope";
import type { ManagedClusterStatus } from "../arm-client";
import { HubError, type HubApi, type StagedUpdateRunObject } from "./client";

export const HUB_OUTCOMES = [
    "approved",
    "already-approved",
    "held",
    "manual",
    "ignored",
    "rejected",
    "gone",
    "retry",
] as const;
export type HubOutcome = (typeof HUB_OUTCOMES)[number];

export interface HubDecision {
    readonly msg: "approval request decision";
    readonly request: string;
    /** The request's namespace; absent for a ClusterApprovalRequest. */
    readonly namespace?: string;
    readonly outcome: HubOutcome;
    /** Why; present for every outcome but `approved`. */
    readonly reason?: string;
    readonly run?: string;
    readonly placement?: string;
    readonly stage?: string;
    readonly timing?: "Before" | "After";
    readonly rule?: string;
    readonly checks: readonly CheckResult[];
    /** Minutes since the request was created (for escalation). */
    readonly pendingMinutes?: number;
    /** Conditional writes that met a 409 and were decided again. */
    readonly conflicts: number;
    readonly at: string;
    readonly latencyMs: number;
}

/** A placement this stack created: only its runs' requests are decided. */
export interface HubPlacement {
    readonly name: string;
    readonly strategyName: string;
    /** Namespaced placements (ResourcePlacement): their runs and approval requests live in this namespace. */
    readonly namespace?: string;
}

/** An approval request on the hub: a ClusterApprovalRequest by name, or an ApprovalRequest in a namespace. */
export interface ApprovalRequestRef {
    readonly name: string;
    readonly namespace?: string;
}

export interface HubDecideDeps {
    readonly hub: HubApi;
    readonly placements: readonly HubPlacement[];
    readonly rules: readonly ApprovalRule[];
    /** Member (MemberCluster) name → its AKS cluster's ARM id, for clusterHealth and metric checks. */
    readonly memberClusterIds: Readonly<Record<string, string>>;
    /** Checks' clients; `arm` reads member clusters. */
    readonly services: CheckServices;
    readonly clock?: () => number;
    readonly checks?: CheckRegistry;
    /** Budget of one decision (default 20 s). */
    readonly decisionBudgetMs?: number;
    /** Conditional-write attempts before giving up with `retry` (default 3). */
    readonly maxConflicts?: number;
}

const MAX_CONFLICTS = 3;

/** The condition a person or this handler writes; the run controller answers with ApprovalAccepted. */
export function approvedCondition(generation: number, rule: string, now: number): Condition {
    return {
        type: "Approved",
        status: "True",
        observedGeneration: generation,
        reason: "ApprovedByRule",
        message: `fleet-gates rule ${rule}: every check passed`,
        lastTransitionTime: new Date(Math.floor(now / 1000) * 1000).toISOString().replace(".000Z", "Z"),
    };
}

/** Stage cluster state in the run's status, in the words of Fleet's member update states. */
function clusterState(conditions: readonly Condition[] | undefined): string {
    const succeeded = findCondition(conditions, "Succeeded");
    if (succeeded?.status === "True") return "Completed";
    if (succeeded?.status === "False") return "Failed";
    if (findCondition(conditions, "Started")?.status === "True") return "Running";
    return "NotStarted";
}

/** The stage's members as the Fleet-gate checks read them, from the run's status on the hub. */
class HubStageScope implements MemberScope {
    private readonly clusters = new Map<string, Promise<ManagedClusterStatus | undefined>>();
    constructor(
        private readonly deps: HubDecideDeps,
        private readonly stage: NonNullable<NonNullable<StagedUpdateRunObject["status"]>["stagesStatus"]>[number],
        private readonly signal: AbortSignal,
    ) {}

    members(): Promise<MembersInScope> {
        const members: ScopeMember[] = [];
        for (const c of this.stage.clusters ?? []) {
            const id = this.deps.memberClusterIds[c.clusterName];
            if (id === undefined)
                return Promise.resolve({
                    ok: false,
                    observed: `cluster ${c.clusterName} is not a member this stack knows`,
                });
            members.push({
                name: c.clusterName,
                clusterResourceId: id,
                state: clusterState(c.conditions),
            } as ScopeMember);
        }
        if (members.length === 0)
            return Promise.resolve({ ok: false, observed: `no clusters in stage ${this.stage.stageName}` });
        return Promise.resolve({ ok: true, members, where: `stage ${this.stage.stageName}` });
    }

    cluster(id: string): Promise<ManagedClusterStatus | undefined> {
        const key = id.toLowerCase();
        let p = this.clusters.get(key);
        if (!p) {
            p = this.deps.services.arm.getManagedCluster(id, { abortSignal: this.signal });
            this.clusters.set(key, p);
        }
        return p;
    }
}

function pendingMinutes(obj: ApprovalRequestObject, now: number): number | undefined {
    const created = (obj.metadata as { creationTimestamp?: string } | undefined)?.creationTimestamp;
    const t = created ? Date.parse(created) : NaN;
    return Number.isNaN(t) ? undefined : Math.max(0, Math.floor((now - t) / 60_000));
}

/** A placement as decisions name it: `web`, or `apps/web` when namespaced. */
export function placementLabel(p: { readonly name: string; readonly namespace?: string | undefined }): string {
    return p.namespace === undefined ? p.name : `${p.namespace}/${p.name}`;
}

/** What one attempt concludes: a decision's own fields (the caller adds timing, conflicts and the request). */
type Verdict = Omit<HubDecision, "msg" | "request" | "namespace" | "conflicts" | "at" | "latencyMs">;
/** What is known about the request so far, carried into every verdict. */
type Known = Partial<Pick<HubDecision, "run" | "placement" | "stage" | "timing" | "rule" | "pendingMinutes">>;
type Step<T> = { readonly done: Verdict } | { readonly next: T };

const verdict = (
    known: Known,
    outcome: HubOutcome,
    reason: string,
    checks: readonly CheckResult[] = [],
): Step<never> => ({
    done: { ...known, outcome, reason, checks },
});

type StageStatus = NonNullable<NonNullable<StagedUpdateRunObject["status"]>["stagesStatus"]>[number];
type Parsed = Extract<ReturnType<typeof parseApprovalRequest>, { ok: true }>;

/**
 * Step 1, read: the request from the hub, accepted only when its name, labels and spec agree; a
 * request already approved or being deleted needs nothing.
 */
async function readRequest(
    ref: ApprovalRequestRef,
    deps: HubDecideDeps,
): Promise<Step<{ obj: ApprovalRequestObject; parsed: Parsed; known: Known }>> {
    const obj = await deps.hub.getApprovalRequest(ref.name, ref.namespace);
    if (!obj) return verdict({}, "gone", "request not found on the hub");
    const parsed = parseApprovalRequest(obj);
    if (!parsed.ok) return verdict({}, "rejected", parsed.reason);
    let known: Known = { run: parsed.run, stage: parsed.stage, timing: parsed.timing };
    const waited = pendingMinutes(obj, (deps.clock ?? Date.now)());
    if (waited !== undefined) known = { ...known, pendingMinutes: waited };
    if (isApproved(obj)) return verdict(known, "already-approved", "Approved is already True");
    if (obj.metadata?.deletionTimestamp) return verdict(known, "gone", "request is being deleted");
    return { next: { obj, parsed, known } };
}

/**
 * Step 2, the run: it must exist in the request's scope, be of one of this stack's placements (same
 * name and namespace) with its strategy, and list this request in the stage's task status.
 */
async function readRun(
    ref: ApprovalRequestRef,
    parsed: Parsed,
    deps: HubDecideDeps,
    known: Known,
): Promise<Step<{ placement: HubPlacement; stage: StageStatus; known: Known }>> {
    const run = await deps.hub.getUpdateRun(parsed.run, ref.namespace);
    if (!run) return verdict(known, "held", `run ${parsed.run} not found on the hub`);
    const placementName = run.spec?.placementName;
    const placement = deps.placements.find((p) => p.name === placementName && p.namespace === ref.namespace);
    if (!placement)
        return verdict(
            known,
            "ignored",
            `run ${parsed.run} is of placement "${placementLabel({ name: placementName ?? "", namespace: ref.namespace })}", not one of this stack's (${deps.placements.map(placementLabel).join(", ")})`,
        );
    const withPlacement = { ...known, placement: placement.name };
    if (run.spec?.stagedRolloutStrategyName !== placement.strategyName)
        return verdict(
            withPlacement,
            "ignored",
            `run ${parsed.run} uses strategy "${run.spec?.stagedRolloutStrategyName ?? ""}", not this stack's "${placement.strategyName}"`,
        );
    const stage = (run.status?.stagesStatus ?? []).find((s) => s.stageName === parsed.stage);
    const tasks = parsed.timing === "Before" ? stage?.beforeStageTaskStatus : stage?.afterStageTaskStatus;
    if (!stage || !(tasks ?? []).some((t) => t.type === "Approval" && t.approvalRequestName === ref.name))
        return verdict(
            withPlacement,
            "rejected",
            `run ${parsed.run} lists no ${TASK_TYPE_VALUE[parsed.timing]} approval ${ref.name} in stage ${parsed.stage}`,
        );
    return { next: { placement, stage, known: withPlacement } };
}

/** Step 3, the rule: exactly one placement rule must match the request's placement, stage and timing. */
function matchRule(placement: HubPlacement, parsed: Parsed, deps: HubDecideDeps, known: Known): Step<ApprovalRule> {
    const matching = rulesForApprovalTask(deps.rules, {
        placement: placement.name,
        stage: parsed.stage,
        timing: parsed.timing,
    });
    if (matching.length === 0) return verdict(known, "manual", "no rule matches this approval request");
    if (matching.length > 1)
        return verdict(
            known,
            "manual",
            `${matching.length} rules match (${matching.map((r) => r.name).join(", ")}); exactly one must`,
        );
    return { next: matching[0]! };
}

/** Step 4, the checks of the rule, over the stage's clusters as the run reports them. */
async function checkRule(
    rule: ApprovalRule,
    at: { placement: HubPlacement; stage: StageStatus; parsed: Parsed },
    deps: HubDecideDeps,
    budget: AbortSignal,
    known: Known,
): Promise<Step<readonly CheckResult[]>> {
    const { placement, stage, parsed } = at;
    let placementStatus: ReturnType<PlacementScope["status"]> | undefined;
    const placementScope: PlacementScope = {
        name: placement.name,
        stage: parsed.stage,
        clusters: (stage.clusters ?? []).map((c) => c.clusterName),
        status: () =>
            (placementStatus ??= deps.hub
                .getPlacement(placement.name, placement.namespace)
                .then((p) => p?.status ?? (p ? {} : undefined))),
    };
    const checks = await runChecks(
        rule.checks,
        {
            gate: { timing: parsed.timing, stage: parsed.stage },
            now: (deps.clock ?? Date.now)(),
            services: deps.services,
            scope: new HubStageScope(deps, stage, budget),
            placement: placementScope,
        },
        { budget, ...(deps.checks ? { registry: deps.checks } : {}) },
    );
    const failed = checks.find((c) => !c.passed && !c.skipped);
    if (failed)
        return verdict(known, failed.transient ? "retry" : "held", `${failed.type}: ${failed.observed}`, checks);
    return { next: checks };
}

/**
 * Step 5, the write: the `Approved` condition as a merge patch of the status subresource carrying
 * the read resourceVersion. A 409 answers the conflict (the caller reads and decides again).
 */
async function writeApproval(
    ref: ApprovalRequestRef,
    obj: ApprovalRequestObject,
    rule: ApprovalRule,
    deps: HubDecideDeps,
): Promise<"approved" | "gone" | { readonly conflict: HubError }> {
    const conditions = [
        ...(obj.status?.conditions ?? []).filter((c) => c.type !== "Approved"),
        approvedCondition(obj.metadata?.generation ?? 1, rule.name, (deps.clock ?? Date.now)()),
    ];
    try {
        await deps.hub.patchApprovalConditions(
            ref.name,
            obj.metadata?.resourceVersion ?? "",
            conditions,
            ref.namespace,
        );
        return "approved";
    } catch (e) {
        if (e instanceof HubError && e.status === 409) return { conflict: e };
        if (e instanceof HubError && e.status === 404) return "gone";
        throw e;
    }
}

/** One read-decide-write attempt; the conflict when the conditional write met a 409. */
async function attempt(
    ref: ApprovalRequestRef,
    deps: HubDecideDeps,
    budget: AbortSignal,
    known: { current: Known },
): Promise<Verdict | { readonly conflict: HubError }> {
    const read = await readRequest(ref, deps);
    if ("done" in read) return read.done;
    const { obj, parsed } = read.next;
    known.current = read.next.known;
    const run = await readRun(ref, parsed, deps, known.current);
    if ("done" in run) return run.done;
    known.current = run.next.known;
    const rule = matchRule(run.next.placement, parsed, deps, known.current);
    if ("done" in rule) return rule.done;
    known.current = { ...known.current, rule: rule.next.name };
    const checked = await checkRule(rule.next, { ...run.next, parsed }, deps, budget, known.current);
    if ("done" in checked) return checked.done;
    const written = await writeApproval(ref, obj, rule.next, deps);
    if (typeof written === "object") return written;
    if (written === "gone")
        return {
            ...known.current,
            outcome: "gone",
            reason: "request deleted before the approval was written",
            checks: checked.next,
        };
    return { ...known.current, outcome: "approved", checks: checked.next };
}

/** A request outside every namespace (or the cluster scope) of this stack's placements is never decided. */
function outsideStack(ref: ApprovalRequestRef, deps: HubDecideDeps): string | undefined {
    if (deps.placements.some((p) => p.namespace === ref.namespace)) return undefined;
    return ref.namespace === undefined
        ? "a cluster-scoped request, and every placement of this stack is namespaced"
        : `request in namespace "${ref.namespace}", where this stack has no placement`;
}

/**
 * Decides one approval request, by name (cluster-scoped) or by name and namespace. Never throws
 * for the hub's answers: transient failures give `retry` (the next tick decides again).
 */
export async function decideApprovalRequest(
    request: string | ApprovalRequestRef,
    deps: HubDecideDeps,
): Promise<HubDecision> {
    const ref: ApprovalRequestRef = typeof request === "string" ? { name: request } : request;
    const clock = deps.clock ?? Date.now;
    const started = performance.now();
    let conflicts = 0;
    const decision = (v: Verdict): HubDecision => ({
        msg: "approval request decision" as const,
        request: ref.name,
        ...(ref.namespace !== undefined ? { namespace: ref.namespace } : {}),
        conflicts,
        at: new Date(clock()).toISOString(),
        latencyMs: Math.round(performance.now() - started),
        ...v,
    });
    const foreign = outsideStack(ref, deps);
    if (foreign !== undefined) return decision({ outcome: "ignored", reason: foreign, checks: [] });
    const budget = AbortSignal.timeout(deps.decisionBudgetMs ?? 20_000);
    for (;;) {
        const known = { current: {} as Known };
        let result: Verdict | { readonly conflict: HubError };
        try {
            result = await attempt(ref, deps, budget, known);
        } catch (e) {
            result = {
                ...known.current,
                outcome: "retry",
                reason: e instanceof Error ? e.message : String(e),
                checks: [],
            };
        }
        if (!("conflict" in result)) return decision(result);
        if (conflicts + 1 >= (deps.maxConflicts ?? MAX_CONFLICTS))
            return decision({ ...known.current, outcome: "retry", reason: result.conflict.message, checks: [] });
        conflicts++; // changed since we read it: read again and decide again
    }
}
