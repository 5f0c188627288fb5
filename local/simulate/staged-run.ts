/**
 * Rehearsal of a staged workload rollout on the fleet hub, on a virtual clock: a
 * ClusterStagedUpdateRun of each placement (or one placement at a given resource snapshot, as
 * `stage-run` and a rollback create it; a StagedUpdateRun in its namespace for a namespaced placement)
 * walks its stages as KubeFleet's run controller does — members selected by label and ordered by
 * `sortingLabelKey`, updated `maxConcurrency` at a time, TimedWait on the virtual clock, each Approval
 * task a ClusterApprovalRequest (or namespaced ApprovalRequest) created on the loopback hub
 * emulator and decided by the real handler code (the reconcile loop and its hub client, over TLS),
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
import { HubEmulator, type HubPlural } from "../emulators/hub/hub-emulator";
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
                        ...(x.scope === "Namespaced" && x.namespace !== undefined ? { namespace: x.namespace } : {}),
                    })),
                    rules: opts.config.approvals,
                    memberClusterIds,
                    services: { arm: runtime.deps.arm, http: runtime.deps.services.http },
                    clock: () => clock.now,
                },
                // The rehearsal lists every tick: the same decisions as a resumed watch, without real waiting.
                { fullListEveryMs: 0 },
            );
            results.push(await new StagedRun(p, opts, hub, reconciler, clock).execute());
        }
        return results;
    } finally {
        await hub.stop();
        await arm.stop();
    }
}

/** The plurals of a placement's objects on the hub (cluster-scoped, or namespaced twins) and its namespace. */
interface RunObjects {
    readonly placement: HubPlural;
    readonly run: HubPlural;
    readonly request: HubPlural;
    readonly namespace: string | undefined;
}

function runObjects(p: PlacementSpec): RunObjects {
    return p.scope === "Namespaced"
        ? {
              placement: "resourceplacements",
              run: "stagedupdateruns",
              request: "approvalrequests",
              namespace: p.namespace,
          }
        : {
              placement: "clusterresourceplacements",
              run: "clusterstagedupdateruns",
              request: "clusterapprovalrequests",
              namespace: undefined,
          };
}

/** One rehearsed run: the run controller's side on the hub emulator, on the virtual clock. */
class StagedRun {
    private readonly snapshot: string;
    private readonly run: string;
    private readonly start: number;
    private readonly stages: ReturnType<typeof planStages>;
    private readonly objects: RunObjects;
    private readonly unavailable: ReadonlySet<string>;
    private readonly timeline: string[] = [];
    private readonly stuck: string[] = [];
    private readonly clusterConds = new Map<string, { type: string; status: string }[]>();
    private readonly placementStatus: {
        clusterName: string;
        conditions: { type: string; status: string; reason: string }[];
    }[] = [];

    constructor(
        private readonly p: PlacementSpec,
        private readonly opts: StagedRunOptions,
        private readonly hub: HubEmulator,
        private readonly reconciler: HubReconciler,
        private readonly clock: { now: number },
    ) {
        this.snapshot = opts.snapshot ?? "1";
        this.run = opts.run ?? `${p.name}-run-${this.snapshot}`;
        this.start = clock.now;
        this.stages = planStages(p, opts.config.members);
        this.objects = runObjects(p);
        this.unavailable = new Set(opts.unavailable ?? []);
    }

    private say(where: string, what: string): void {
        const now = this.clock.now;
        this.timeline.push(`+${formatElapsed(now - this.start)}  ${iso(now)}  ${where.padEnd(24)} ${what}`);
    }

    /** The run's status as the controller reports it: each stage's clusters and task requests. */
    private runStatus() {
        const run = this.run;
        const tasks = (s: (typeof this.stages)[number], timing: GateTiming) =>
            s.tasks
                .filter((t) => t.timing === timing)
                .map((t) => ({
                    type: t.type,
                    ...(t.type === "Approval" ? { approvalRequestName: approvalRequestName(run, s.name, timing) } : {}),
                }));
        return {
            stagesStatus: this.stages.map((s) => ({
                stageName: s.name,
                clusters: s.clusters.map((c) => ({ clusterName: c, conditions: this.clusterConds.get(c) ?? [] })),
                beforeStageTaskStatus: tasks(s, "Before"),
                afterStageTaskStatus: tasks(s, "After"),
            })),
        };
    }

    private writeRunStatus(): void {
        this.hub.writeStatus(this.objects.run, this.run, this.runStatus(), this.objects.namespace);
    }

    /** The placement (if the program has not created it) and the run, as `stage-run` creates it. */
    private createRun(): void {
        const { p, objects } = this;
        const ns = objects.namespace !== undefined ? { namespace: objects.namespace } : {};
        const strategyName = p.strategyName ?? p.name;
        if (!this.hub.get(objects.placement, p.name, objects.namespace))
            this.hub.create(objects.placement, {
                metadata: { name: p.name, ...ns },
                spec: { resourceSelectors: p.resourceSelectors, strategy: { type: "External" } },
            });
        this.hub.create(objects.run, {
            metadata: { name: this.run, ...ns },
            spec: {
                placementName: p.name,
                resourceSnapshotIndex: this.snapshot,
                stagedRolloutStrategyName: strategyName,
            },
        });
        this.writeRunStatus();
        this.say(p.name, `run ${this.run} created (resource snapshot ${this.snapshot}, strategy ${strategyName})`);
    }

    /** The controller creates an Approval task's request, as KubeFleet labels it. */
    private createRequest(stage: string, timing: GateTiming): string {
        const name = approvalRequestName(this.run, stage, timing);
        this.hub.create(this.objects.request, {
            metadata: {
                name,
                ...(this.objects.namespace !== undefined ? { namespace: this.objects.namespace } : {}),
                labels: {
                    [APPROVAL_LABELS.run]: this.run,
                    [APPROVAL_LABELS.stage]: stage,
                    [APPROVAL_LABELS.taskType]: TASK_TYPE_VALUE[timing],
                    [APPROVAL_LABELS.latest]: "true",
                },
            },
            spec: { parentStageRollout: this.run, targetStage: stage },
        });
        this.say(`${stage} (${timing})`, `approval request ${name} created`);
        return name;
    }

    /** One Approval task: the handler's loop ticks until it is approved, or a person approves, or the horizon. */
    private async approval(stage: string, timing: GateTiming): Promise<StagedTaskResult> {
        const { opts, clock } = this;
        const rules = rulesForApprovalTask(opts.config.approvals, { placement: this.p.name, stage, timing });
        const rule = rules.length === 1 ? rules[0]!.name : null;
        const name = this.createRequest(stage, timing);
        const where = `${stage} (${timing})`;
        const tickMs = (opts.tickSeconds ?? 30) * 1000;
        const horizon = this.start + (opts.horizonHours ?? 168) * 3_600_000;
        let last: HubDecision | undefined;
        let lastReason: string | undefined;
        for (;;) {
            const tick = await this.reconciler.tick();
            const mine = tick.decisions.find((d) => d.request === name && d.namespace === this.objects.namespace);
            if (mine) {
                last = mine;
                if (mine.reason !== lastReason || mine.outcome === "approved") {
                    this.say(
                        where,
                        `handler: ${mine.outcome}${mine.rule ? ` by rule ${mine.rule}` : ""}${mine.reason ? `: ${mine.reason}` : ""}`,
                    );
                    lastReason = mine.reason;
                }
            }
            const obj = this.hub.get(this.objects.request, name, this.objects.namespace)!;
            if (isApproved(obj as Parameters<typeof isApproved>[0])) {
                accept(this.hub, this.objects, name);
                return { type: "Approval", timing, rule, outcome: last?.outcome === "manual" ? "manual" : "approved" };
            }
            if (last?.outcome === "manual" || last?.outcome === "rejected" || last?.outcome === "ignored")
                return this.undecided(where, name, timing, rule, last);
            if (clock.now + tickMs > horizon) {
                this.stuck.push(name);
                this.say(where, `stuck: held until the horizon (${last?.reason ?? "no decision"})`);
                return { type: "Approval", timing, rule, outcome: "held" };
            }
            clock.now += tickMs;
        }
    }

    /** A request the handler will not approve: a person approves a manual one (with approveManual), else it is stuck. */
    private undecided(
        where: string,
        name: string,
        timing: GateTiming,
        rule: string | null,
        last: HubDecision,
    ): StagedTaskResult {
        if (this.opts.approveManual && last.outcome === "manual") {
            personApproves(this.hub, this.objects, name, this.clock.now);
            this.say(where, "person: Approved (no rule decides this request)");
            accept(this.hub, this.objects, name);
            return { type: "Approval", timing, rule: null, outcome: "manual" };
        }
        this.stuck.push(name);
        this.say(where, `stuck: ${last.outcome} (${last.reason ?? ""})`);
        return { type: "Approval", timing, rule, outcome: last.outcome === "manual" ? "manual" : "held" };
    }

    /** The stage's clusters, `maxConcurrency` at a time: each applies the snapshot, then reports Available (or not). */
    private applyStage(s: (typeof this.stages)[number]): void {
        const { hub, objects, clock } = this;
        for (let i = 0; i < s.clusters.length; i += s.maxConcurrency) {
            const batch = s.clusters.slice(i, i + s.maxConcurrency);
            for (const c of batch) this.clusterConds.set(c, [{ type: "Started", status: "True" }]);
            this.writeRunStatus();
            this.say(s.name, `applying snapshot ${this.snapshot}: ${batch.join(", ")}`);
            clock.now += (this.opts.applyMinutes ?? 2) * 60_000;
            for (const c of batch) {
                this.clusterConds.set(c, [
                    { type: "Started", status: "True" },
                    { type: "Succeeded", status: "True" },
                ]);
                const ok = !this.unavailable.has(c);
                this.placementStatus.push({
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
            hub.writeStatus(
                objects.placement,
                this.p.name,
                { placementStatuses: this.placementStatus },
                objects.namespace,
            );
            this.writeRunStatus();
            this.say(
                s.name,
                `applied: ${batch.map((c) => (this.unavailable.has(c) ? `${c} (not available)` : c)).join(", ")}`,
            );
        }
    }

    /** One stage: its Before approval, its clusters, then its After tasks (TimedWait on the virtual clock, Approval). */
    private async stage(s: (typeof this.stages)[number]): Promise<StagedStageResult> {
        const tasks: StagedTaskResult[] = [];
        this.say(s.name, `stage started: ${s.clusters.join(", ")} (maxConcurrency ${s.maxConcurrency})`);
        // Before-stage tasks are Approval only (config rejects a TimedWait there).
        if (s.tasks.some((x) => x.timing === "Before")) tasks.push(await this.approval(s.name, "Before"));
        if (this.stuck.length === 0) {
            this.applyStage(s);
            for (const t of s.tasks.filter((x) => x.timing === "After")) {
                if (this.stuck.length > 0) break;
                if (t.type === "TimedWait") {
                    this.say(s.name, `TimedWait ${Math.round((t.waitMs ?? 0) / 1000)} s`);
                    this.clock.now += t.waitMs ?? 0;
                    tasks.push({ type: "TimedWait", timing: "After", rule: null, outcome: "waited" });
                } else tasks.push(await this.approval(s.name, "After"));
            }
        }
        if (this.stuck.length === 0) this.say(s.name, "stage succeeded");
        return { name: s.name, clusters: s.clusters, tasks, reached: true };
    }

    async execute(): Promise<StagedRunResult> {
        this.createRun();
        const out: StagedStageResult[] = [];
        for (const s of this.stages) {
            if (this.stuck.length > 0) out.push({ name: s.name, clusters: s.clusters, tasks: [], reached: false });
            else out.push(await this.stage(s));
        }
        if (this.stuck.length === 0) this.say(this.p.name, `run ${this.run} succeeded`);
        return {
            placement: this.p.name,
            run: this.run,
            snapshot: this.snapshot,
            stages: out,
            stuck: this.stuck,
            timeline: this.timeline,
            durationMs: this.clock.now - this.start,
        };
    }
}

/** A person's approval, as `kubectl fleet approve` writes it. */
function personApproves(hub: HubEmulator, at: RunObjects, name: string, now: number): void {
    const obj = hub.get(at.request, name, at.namespace)!;
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
    hub.writeStatus(at.request, name, { conditions }, at.namespace);
}

/** The run controller's answer to Approved. */
function accept(hub: HubEmulator, at: RunObjects, name: string): void {
    const obj = hub.get(at.request, name, at.namespace)!;
    const conditions = [
        ...((obj.status?.conditions as { type: string }[] | undefined) ?? []),
        {
            type: "ApprovalAccepted",
            status: "True",
            observedGeneration: obj.metadata.generation ?? 1,
            reason: "ApprovalAccepted",
        },
    ];
    hub.writeStatus(at.request, name, { conditions }, at.namespace);
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
