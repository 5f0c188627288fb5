/**
 * The decision for one ClusterApprovalRequest on the fleet hub, with the engine's guarantees for
 * Fleet gates: the request, its run and the stage's clusters are read from the hub (nothing else is
 * trusted); a request whose name, labels and spec disagree, that its run does not list, or whose run
 * belongs to another placement or strategy is never approved; exactly one placement rule must match
 * and every one of its checks pass; the `Approved` condition is written conditionally on the read
 * `resourceVersion` (a 409 re-reads and decides again); one audit record per decision.
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

/**
 * Decides one approval request by name. Never throws for the hub's answers: transient failures
 * give `retry` (the next tick decides again).
 */
export async function decideApprovalRequest(name: string, deps: HubDecideDeps): Promise<HubDecision> {
    const clock = deps.clock ?? Date.now;
    const started = performance.now();
    let conflicts = 0;
    const base = () => ({
        msg: "approval request decision" as const,
        request: name,
        conflicts,
        at: new Date(clock()).toISOString(),
        latencyMs: Math.round(performance.now() - started),
    });
    const budget = AbortSignal.timeout(deps.decisionBudgetMs ?? 20_000);

    for (;;) {
        let ctx: Partial<HubDecision> = {};
        try {
            const obj = await deps.hub.getApprovalRequest(name);
            if (!obj) return { ...base(), outcome: "gone", reason: "request not found on the hub", checks: [] };
            const parsed = parseApprovalRequest(obj);
            if (!parsed.ok) return { ...base(), outcome: "rejected", reason: parsed.reason, checks: [] };
            ctx = { run: parsed.run, stage: parsed.stage, timing: parsed.timing };
            const waited = pendingMinutes(obj, clock());
            if (waited !== undefined) ctx = { ...ctx, pendingMinutes: waited };
            if (isApproved(obj))
                return {
                    ...base(),
                    ...ctx,
                    outcome: "already-approved",
                    reason: "Approved is already True",
                    checks: [],
                };
            if (obj.metadata?.deletionTimestamp)
                return { ...base(), ...ctx, outcome: "gone", reason: "request is being deleted", checks: [] };

            const run = await deps.hub.getUpdateRun(parsed.run);
            if (!run)
                return {
                    ...base(),
                    ...ctx,
                    outcome: "held",
                    reason: `run ${parsed.run} not found on the hub`,
                    checks: [],
                };
            const placementName = run.spec?.placementName;
            const placement = deps.placements.find((p) => p.name === placementName);
            if (!placement)
                return {
                    ...base(),
                    ...ctx,
                    outcome: "ignored",
                    reason: `run ${parsed.run} is of placement "${placementName ?? ""}", not one of this stack's (${deps.placements.map((p) => p.name).join(", ")})`,
                    checks: [],
                };
            ctx = { ...ctx, placement: placement.name };
            if (run.spec?.stagedRolloutStrategyName !== placement.strategyName)
                return {
                    ...base(),
                    ...ctx,
                    outcome: "ignored",
                    reason: `run ${parsed.run} uses strategy "${run.spec?.stagedRolloutStrategyName ?? ""}", not this stack's "${placement.strategyName}"`,
                    checks: [],
                };
            const stage = (run.status?.stagesStatus ?? []).find((s) => s.stageName === parsed.stage);
            const tasks = parsed.timing === "Before" ? stage?.beforeStageTaskStatus : stage?.afterStageTaskStatus;
            if (!stage || !(tasks ?? []).some((t) => t.type === "Approval" && t.approvalRequestName === name))
                return {
                    ...base(),
                    ...ctx,
                    outcome: "rejected",
                    reason: `run ${parsed.run} lists no ${TASK_TYPE_VALUE[parsed.timing]} approval ${name} in stage ${parsed.stage}`,
                    checks: [],
                };

            const matching = rulesForApprovalTask(deps.rules, {
                placement: placement.name,
                stage: parsed.stage,
                timing: parsed.timing,
            });
            if (matching.length === 0)
                return {
                    ...base(),
                    ...ctx,
                    outcome: "manual",
                    reason: "no rule matches this approval request",
                    checks: [],
                };
            if (matching.length > 1)
                return {
                    ...base(),
                    ...ctx,
                    outcome: "manual",
                    reason: `${matching.length} rules match (${matching.map((r) => r.name).join(", ")}); exactly one must`,
                    checks: [],
                };
            const rule = matching[0]!;
            ctx = { ...ctx, rule: rule.name };

            const clusters = (stage.clusters ?? []).map((c) => c.clusterName);
            let placementStatus: ReturnType<PlacementScope["status"]> | undefined;
            const placementScope: PlacementScope = {
                name: placement.name,
                stage: parsed.stage,
                clusters,
                status: () =>
                    (placementStatus ??= deps.hub
                        .getPlacement(placement.name)
                        .then((p) => p?.status ?? (p ? {} : undefined))),
            };
            const checks = await runChecks(
                rule.checks,
                {
                    gate: { timing: parsed.timing, stage: parsed.stage },
                    now: clock(),
                    services: deps.services,
                    scope: new HubStageScope(deps, stage, budget),
                    placement: placementScope,
                },
                { budget, ...(deps.checks ? { registry: deps.checks } : {}) },
            );
            const failed = checks.find((c) => !c.passed && !c.skipped);
            if (failed)
                return {
                    ...base(),
                    ...ctx,
                    outcome: failed.transient ? "retry" : "held",
                    reason: `${failed.type}: ${failed.observed}`,
                    checks,
                };

            const conditions = [
                ...(obj.status?.conditions ?? []).filter((c) => c.type !== "Approved"),
                approvedCondition(obj.metadata?.generation ?? 1, rule.name, clock()),
            ];
            try {
                await deps.hub.patchApprovalConditions(name, obj.metadata?.resourceVersion ?? "", conditions);
            } catch (e) {
                if (e instanceof HubError && e.status === 409 && conflicts + 1 < (deps.maxConflicts ?? MAX_CONFLICTS)) {
                    conflicts++;
                    continue; // changed since we read it: read again and decide again
                }
                if (e instanceof HubError && e.status === 404)
                    return {
                        ...base(),
                        ...ctx,
                        outcome: "gone",
                        reason: "request deleted before the approval was written",
                        checks,
                    };
                throw e;
            }
            return { ...base(), ...ctx, outcome: "approved", checks };
        } catch (e) {
            return {
                ...base(),
                ...ctx,
                outcome: "retry",
                reason: e instanceof Error ? e.message : String(e),
                checks: [],
            };
        }
    }
}
