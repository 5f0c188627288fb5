/**
 * Rehearsal of a staged workload rollout on the fleet hub, on a virtual clock: a
 * ClusterStagedUpdateRun of each placement (or one placement at a given resource snapshot, as
 * `stage-run` and a rollback create it) walks its stages as KubeFleet's run controller does —
 * members selected by label and ordered by `sortingLabelKey`, updated `maxConcurrency` at a time,
 * TimedWait on the virtual clock, each Approval task a ClusterApprovalRequest created on the loopback
 * hub emulator and decided by the real handler code (the reconcile loop over `@kubernetes/client-node`),
 * with `clusterHealth` answered by the loopback ARM emulator. A request nobody approves is stuck.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import {
    APPROVAL_LABELS,
    TASK_TYPE_VALUE,
    approvalRequestName,
    isApproved,
    planStages,
    rulesForApprovalTask,
    type PlacementSpec,
} from "../../core/placement";
import type { GateTiming } from "../../core/rules";
import { fleetId as formatFleetId } from "../../core/arm-id";
import { hubKubeConfig, KubeHubClient } from "../../handlers/gate-approval/src/hub/client";
import type { HubDecision } from "../../handlers/gate-approval/src/hub/decide";
import { HubReconciler } from "../../handlers/gate-approval/src/hub/reconcile";
import { createRuntime } from "../../handlers/gate-approval/src/runtime";
import { readSettings } from "../../handlers/gate-approval/src/settings";
import { MemoryStateStore } from "../../handlers/gate-approval/src/state";
import type { StackConfig } from "../../config";
import { ArmEmulator } from "../emulators/arm";
import { HubEmulator } from "../emulators/hub/hub-emulator";
import { loopbackCertificate } from "../emulators/tls";

export type StagedTaskOutcome = "approved" | "manual" | "held" | "waited";

export interface StagedTaskResult {
    readonly type: "TimedWait" | "Approval";
    readonly timing: GateTiming;
    /** The rule that decided the request (Approval tasks matched by one), else null. */
    readonly rule: string | null;
    readonly outcome: StagedTaskOutcome;
}

export interface StagedStageResult {
    readonly name: string;
    /** Clusters in update order. */
    readonly clusters: readonly string[];
    readonly tasks: readonly StagedTaskResult[];
    /** False when the run stopped before this stage. */
    readonly reached: boolean;
}

export interface StagedRunResult {
    readonly placement: string;
    readonly run: string;
    readonly snapshot: string;
    readonly stages: readonly StagedStageResult[];
    /** Approval requests nobody approved: the run stops there. */
    readonly stuck: readonly string[];
    readonly timeline: readonly string[];
    readonly durationMs: number;
}

export interface StagedRunOptions {
    readonly config: Pick<StackConfig, "members" | "placements" | "approvals" | "fleet" | "resourceGroupName">;
    readonly subscriptionId: string;
    /** One placement only (default: each placement of the stack). */
    readonly placement?: string;
    /** Resource snapshot index of the run (default "1"; a rollback is a run at an older index). */
    readonly snapshot?: string;
    /** Run name (default `<placement>-run-<snapshot>`). */
    readonly run?: string;
    readonly now?: Date;
    /** A person approves requests no rule decides (they stay `manual`). */
    readonly approveManual?: boolean;
    /** Virtual minutes one cluster takes to apply the snapshot (default 2). */
    readonly applyMinutes?: number;
    /** How often the handler's loop runs (virtual seconds, default 30). */
    readonly tickSeconds?: number;
    /** How long a held request is decided again before it counts as stuck (default 168 h). */
    readonly horizonHours?: number;
    /** Members whose placement never becomes Available. */
    readonly unavailable?: readonly string[];
}

const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

/** Rehearses one staged update run per placement (or the one named); never touches the network beyond loopback. */
export async function rehearseStagedRuns(opts: StagedRunOptions): Promise<StagedRunResult[]> {
    const placements = opts.config.placements.filter((p) => opts.placement === undefined || p.name === opts.placement);
    if (opts.placement !== undefined && placements.length === 0)
        throw new Error(
            `--placement "${opts.placement}" is not a placement of the stack (placements: ${opts.config.placements.map((p) => p.name).join(", ") || "none"})`,
        );
    if (placements.length === 0) return [];

    const cert = await loopbackCertificate();
    const arm = await ArmEmulator.start({ tls: true });
    const hub = new HubEmulator({ token: "offline-hub-token", tls: cert, bookmarkMs: 60_000 });
    await hub.start();
    try {
        const fleet = formatFleetId({
            subscriptionId: opts.subscriptionId,
            resourceGroup: opts.config.resourceGroupName,
            fleetName: opts.config.fleet.name,
        });
        arm.addFleet(fleet);
        const memberClusterIds: Record<string, string> = {};
        for (const m of opts.config.members) {
            const id = `/subscriptions/${opts.subscriptionId}/resourceGroups/${opts.config.resourceGroupName}/providers/Microsoft.ContainerService/managedClusters/${m.name}`;
            memberClusterIds[m.name] = id;
            arm.addMember(fleet, { name: m.name, clusterResourceId: id, group: m.group, updateState: "Completed" });
        }
        const credential: TokenCredential = {
            getToken: (): Promise<AccessToken> =>
                Promise.resolve({ token: "offline", expiresOnTimestamp: Date.now() + 3_600_000 }),
        };
        const clock = { now: (opts.now ?? new Date()).getTime() };
        const runtime = createRuntime(
            readSettings({
                FLEET_ID: fleet,
                SUBSCRIPTION_ID: opts.subscriptionId,
                APPROVAL_RULES: JSON.stringify(opts.config.approvals),
                ESCALATE_AFTER_MINUTES: "240",
                ARM_ENDPOINT: arm.url,
            }),
            {
                credential,
                tuning: { tlsCa: arm.ca! },
                state: new MemoryStateStore(),
                clock: () => clock.now,
                log: () => undefined,
            },
        );
        const client = new KubeHubClient(
            hubKubeConfig(hub.url, Buffer.from(cert.cert).toString("base64"), "offline-hub-token"),
        );
        const results: StagedRunResult[] = [];
        for (const p of placements) {
            const reconciler = new HubReconciler(
                {
                    hub: client,
                    placements: opts.config.placements.map((x) => ({
                        name: x.name,
                        strategyName: x.strategyName ?? x.name,
                    })),
                    rules: opts.config.approvals,
                    memberClusterIds,
                    services: { arm: runtime.deps.arm, http: runtime.deps.services.http },
                    clock: () => clock.now,
                },
                // The rehearsal lists every tick: the same decisions as a resumed watch, without real waiting.
                { fullListEveryMs: 0 },
            );
            results.push(await runOne(p, opts, hub, reconciler, clock));
        }
        return results;
    } finally {
        await hub.stop();
        await arm.stop();
    }
}

async function runOne(
    p: PlacementSpec,
    opts: StagedRunOptions,
    hub: HubEmulator,
    reconciler: HubReconciler,
    clock: { now: number },
): Promise<StagedRunResult> {
    const snapshot = opts.snapshot ?? "1";
    const run = opts.run ?? `${p.name}-run-${snapshot}`;
    const start = clock.now;
    const timeline: string[] = [];
    const say = (where: string, what: string) =>
        timeline.push(`+${formatElapsed(clock.now - start)}  ${iso(clock.now)}  ${where.padEnd(24)} ${what}`);
    const stages = planStages(p, opts.config.members);
    const strategyName = p.strategyName ?? p.name;
    const unavailable = new Set(opts.unavailable ?? []);
    const tickMs = (opts.tickSeconds ?? 30) * 1000;
    const horizon = start + (opts.horizonHours ?? 168) * 3_600_000;
    const placementStatus: { clusterName: string; conditions: { type: string; status: string; reason: string }[] }[] =
        [];

    if (!hub.get("clusterresourceplacements", p.name))
        hub.create("clusterresourceplacements", {
            metadata: { name: p.name },
            spec: { resourceSelectors: p.resourceSelectors, strategy: { type: "External" } },
        });
    hub.create("clusterstagedupdateruns", {
        metadata: { name: run },
        spec: { placementName: p.name, resourceSnapshotIndex: snapshot, stagedRolloutStrategyName: strategyName },
    });
    const clusterConds = new Map<string, { type: string; status: string }[]>();
    const runStatus = () => ({
        stagesStatus: stages.map((s) => ({
            stageName: s.name,
            clusters: s.clusters.map((c) => ({ clusterName: c, conditions: clusterConds.get(c) ?? [] })),
            beforeStageTaskStatus: s.tasks
                .filter((t) => t.timing === "Before")
                .map((t) => ({
                    type: t.type,
                    ...(t.type === "Approval"
                        ? { approvalRequestName: approvalRequestName(run, s.name, "Before") }
                        : {}),
                })),
            afterStageTaskStatus: s.tasks
                .filter((t) => t.timing === "After")
                .map((t) => ({
                    type: t.type,
                    ...(t.type === "Approval"
                        ? { approvalRequestName: approvalRequestName(run, s.name, "After") }
                        : {}),
                })),
        })),
    });
    hub.writeStatus("clusterstagedupdateruns", run, runStatus());
    say(p.name, `run ${run} created (resource snapshot ${snapshot}, strategy ${strategyName})`);

    const out: StagedStageResult[] = [];
    const stuck: string[] = [];

    /** One Approval task: the controller creates the request, the handler's loop ticks until it is approved, or a person approves, or the horizon. */
    const approval = async (stage: string, timing: GateTiming): Promise<StagedTaskResult> => {
        const name = approvalRequestName(run, stage, timing);
        const rules = rulesForApprovalTask(opts.config.approvals, { placement: p.name, stage, timing });
        const rule = rules.length === 1 ? rules[0]!.name : null;
        hub.create("clusterapprovalrequests", {
            metadata: {
                name,
                labels: {
                    [APPROVAL_LABELS.run]: run,
                    [APPROVAL_LABELS.stage]: stage,
                    [APPROVAL_LABELS.taskType]: TASK_TYPE_VALUE[timing],
                    [APPROVAL_LABELS.latest]: "true",
                },
            },
            spec: { parentStageRollout: run, targetStage: stage },
        });
        say(`${stage} (${timing})`, `approval request ${name} created`);
        let last: HubDecision | undefined;
        let lastReason: string | undefined;
        for (;;) {
            const tick = await reconciler.tick();
            const mine = tick.decisions.find((d) => d.request === name);
            if (mine) {
                last = mine;
                if (mine.reason !== lastReason || mine.outcome === "approved") {
                    say(
                        `${stage} (${timing})`,
                        `handler: ${mine.outcome}${mine.rule ? ` by rule ${mine.rule}` : ""}${mine.reason ? `: ${mine.reason}` : ""}`,
                    );
                    lastReason = mine.reason;
                }
            }
            const obj = hub.get("clusterapprovalrequests", name)!;
            if (isApproved(obj as Parameters<typeof isApproved>[0])) {
                accept(hub, name);
                return { type: "Approval", timing, rule, outcome: last?.outcome === "manual" ? "manual" : "approved" };
            }
            if (last?.outcome === "manual" || last?.outcome === "rejected" || last?.outcome === "ignored") {
                if (opts.approveManual && last.outcome === "manual") {
                    personApproves(hub, name, clock.now);
                    say(`${stage} (${timing})`, "person: Approved (no rule decides this request)");
                    accept(hub, name);
                    return { type: "Approval", timing, rule: null, outcome: "manual" };
                }
                stuck.push(name);
                say(`${stage} (${timing})`, `stuck: ${last.outcome} (${last.reason ?? ""})`);
                return { type: "Approval", timing, rule, outcome: last.outcome === "manual" ? "manual" : "held" };
            }
            if (clock.now + tickMs > horizon) {
                stuck.push(name);
                say(`${stage} (${timing})`, `stuck: held until the horizon (${last?.reason ?? "no decision"})`);
                return { type: "Approval", timing, rule, outcome: "held" };
            }
            clock.now += tickMs;
        }
    };

    for (const s of stages) {
        if (stuck.length > 0) {
            out.push({ name: s.name, clusters: s.clusters, tasks: [], reached: false });
            continue;
        }
        const tasks: StagedTaskResult[] = [];
        say(s.name, `stage started: ${s.clusters.join(", ")} (maxConcurrency ${s.maxConcurrency})`);
        // Before-stage tasks are Approval only (config rejects a TimedWait there).
        if (s.tasks.some((x) => x.timing === "Before")) tasks.push(await approval(s.name, "Before"));
        if (stuck.length === 0) {
            for (let i = 0; i < s.clusters.length; i += s.maxConcurrency) {
                const batch = s.clusters.slice(i, i + s.maxConcurrency);
                for (const c of batch) clusterConds.set(c, [{ type: "Started", status: "True" }]);
                hub.writeStatus("clusterstagedupdateruns", run, runStatus());
                say(s.name, `applying snapshot ${snapshot}: ${batch.join(", ")}`);
                clock.now += (opts.applyMinutes ?? 2) * 60_000;
                for (const c of batch) {
                    clusterConds.set(c, [
                        { type: "Started", status: "True" },
                        { type: "Succeeded", status: "True" },
                    ]);
                    const ok = !unavailable.has(c);
                    placementStatus.push({
                        clusterName: c,
                        conditions: [
                            {
                                type: "Available",
                                status: ok ? "True" : "False",
                                reason: ok ? "AllWorkloadsAvailable" : "NotAllWorkloadsAvailable",
                            },
                        ],
                    });
                }
                hub.writeStatus("clusterresourceplacements", p.name, { placementStatuses: placementStatus });
                hub.writeStatus("clusterstagedupdateruns", run, runStatus());
                say(
                    s.name,
                    `applied: ${batch.map((c) => (unavailable.has(c) ? `${c} (not available)` : c)).join(", ")}`,
                );
            }
            for (const t of s.tasks.filter((x) => x.timing === "After")) {
                if (stuck.length > 0) break;
                if (t.type === "TimedWait") {
                    say(s.name, `TimedWait ${Math.round((t.waitMs ?? 0) / 1000)} s`);
                    clock.now += t.waitMs ?? 0;
                    tasks.push({ type: "TimedWait", timing: "After", rule: null, outcome: "waited" });
                } else tasks.push(await approval(s.name, "After"));
            }
        }
        out.push({ name: s.name, clusters: s.clusters, tasks, reached: true });
        if (stuck.length === 0) say(s.name, "stage succeeded");
    }
    if (stuck.length === 0) say(p.name, `run ${run} succeeded`);
    return { placement: p.name, run, snapshot, stages: out, stuck, timeline, durationMs: clock.now - start };
}

/** A person's approval, as `kubectl fleet approve` writes it. */
function personApproves(hub: HubEmulator, name: string, now: number): void {
    const obj = hub.get("clusterapprovalrequests", name)!;
    const conditions = [
        ...((obj.status?.conditions as { type: string }[] | undefined) ?? []).filter((c) => c.type !== "Approved"),
        {
            type: "Approved",
            status: "True",
            observedGeneration: obj.metadata.generation ?? 1,
            reason: "ApprovedByPerson",
            lastTransitionTime: iso(now),
        },
    ];
    hub.writeStatus("clusterapprovalrequests", name, { conditions });
}

/** The run controller's answer to Approved. */
function accept(hub: HubEmulator, name: string): void {
    const obj = hub.get("clusterapprovalrequests", name)!;
    const conditions = [
        ...((obj.status?.conditions as { type: string }[] | undefined) ?? []),
        {
            type: "ApprovalAccepted",
            status: "True",
            observedGeneration: obj.metadata.generation ?? 1,
            reason: "ApprovalAccepted",
        },
    ];
    hub.writeStatus("clusterapprovalrequests", name, { conditions });
}

function formatElapsed(ms: number): string {
    const m = Math.floor(ms / 60_000);
    const s = Math.floor((ms % 60_000) / 1000);
    return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

/** The `--json` shape of one staged run (README: rehearse JSON shape, `stagedRuns`). */
export function stagedRunJson(r: StagedRunResult) {
    return {
        placement: r.placement,
        run: r.run,
        stages: r.stages.map((s) => ({
            name: s.name,
            clusters: [...s.clusters],
            tasks: s.tasks.map((t) => ({ type: t.type, timing: t.timing, rule: t.rule, outcome: t.outcome })),
        })),
    };
}

/** Timeline and summary of the staged runs, for the text output. */
export function formatStagedRuns(runs: readonly StagedRunResult[]): string {
    const out: string[] = [];
    for (const r of runs) {
        out.push(
            `staged run ${r.run} of placement ${r.placement} (resource snapshot ${r.snapshot}):`,
            ...r.timeline.map((l) => `  ${l}`),
            "",
            "  summary:",
        );
        for (const s of r.stages) {
            out.push(`    stage ${s.name}: ${s.reached ? `[${s.clusters.join(", ")}]` : "not reached"}`);
            for (const t of s.tasks)
                out.push(
                    `      ${t.timing} ${t.type}: ${t.outcome}${t.rule ? ` (rule ${t.rule})` : t.type === "Approval" ? " (no rule)" : ""}`,
                );
        }
        out.push(r.stuck.length > 0 ? `  stuck: ${r.stuck.join(", ")}` : "  no approval request stuck", "");
    }
    return out.join("\n").trimEnd();
}

/** A Mermaid flowchart per run: stages with clusters in order, then each task and its outcome. */
export function stagedRunsMermaid(runs: readonly StagedRunResult[]): string {
    const lines = ["flowchart LR"];
    runs.forEach((r, i) => {
        let prev = `r${i}`;
        lines.push(`  ${prev}(["${r.placement}: ${r.run}"])`);
        r.stages.forEach((s, j) => {
            const id = `r${i}s${j}`;
            lines.push(
                `  ${id}["stage ${s.name}<br/>${s.reached ? s.clusters.join(" → ") : "not reached"}"]`,
                `  ${prev} --> ${id}`,
            );
            prev = id;
            s.tasks.forEach((t, k) => {
                const tid = `${id}t${k}`;
                const label =
                    t.type === "TimedWait"
                        ? `${t.timing} TimedWait: ${t.outcome}`
                        : `${t.timing} Approval: ${t.outcome}${t.rule ? ` by ${t.rule}` : ""}`;
                lines.push(`  ${tid}{{"${label}"}}`, `  ${prev} --> ${tid}`);
                prev = tid;
            });
        });
    });
    return lines.join("\n");
}
