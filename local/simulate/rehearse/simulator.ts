/**
 * The rehearsal's machinery and records: a virtual clock and scheduler, the seeded ARM emulator,
 * the real handler (`offlineHandler`) behind the emulated Event Grid with the plan's subscriptions,
 * and what the run has seen so far (gates, stuck gates, timeline, deliveries). The steps of Fleet's
 * order (`steps.ts`) drive it; `result()` is what the rehearsal returns.
 */
import { gateEventFor, type GateEventKind, type GateEventSpec, type JsonObject } from "../../../core/event-filter";
import { aksEventFor, type AksEventKind } from "../../../core/aks-event";
import { gateEventKindOf } from "../../../core/gate-event";
import { parseKubernetesVersion, runNameFor } from "../../../core/kubernetes-version";
import { managedClusterId } from "../../../components/fleet";
import type { GatePosition } from "../../../core/strategy";
import { parseConfigMap } from "../../../config";
import type { Decision } from "../../../handlers/gate-approval/src/audit";
import { RedeliveryRequested } from "../../../handlers/gate-approval/src/event-handler";
import { ArmEmulator } from "../../emulators/arm";
import {
    azureFunctionEndpoint,
    EventGridEmulator,
    serviceTime,
    VirtualClock,
    type Delivery,
    type EventGridEmulatorOptions,
    type Publication,
} from "../../emulators/event-grid";
import { OFFLINE_DEFAULTS } from "../../plan/mocks";
import { planStack } from "../../plan/plan";
import { offlineHandler, type OfflineHandler } from "../offline-handler";
import { stackUpgradeEvents } from "../replay";
import { seededRng } from "../rng";
import { Scheduler } from "../scheduler";
import {
    DEFAULT_HORIZON_HOURS,
    DEFAULT_UPGRADE_MINUTES,
    positionKey,
    REHEARSAL_RUN_NAME,
    RehearsalInputError,
    type PlannedSubscription,
    type RehearsalGate,
    type RehearsalResult,
    type RehearseOptions,
    type StuckGate,
    type TimelineEntry,
} from "./types";
import { guidOf, planSubscriptions, rehearsalHttpClient, seedEmulator } from "./world";

/** The stack's model as the offline engine parses it (secrets as placeholders). */
export type StackModel = ReturnType<typeof parseConfigMap>;

/** What a rehearsal is about: the stack's model, its fleet and update run, and the checked options. */
export interface RunSetup {
    readonly opts: RehearseOptions;
    readonly cfg: StackModel;
    readonly subscriptionId: string;
    readonly fleetId: string;
    readonly runId: string;
    /** `rehearsal-1`, or `k8s-<version>` when starting from a new version (the handler names its run so). */
    readonly runName: string;
    /** The version AKS announces at the start (`--new-version`). */
    readonly newVersion?: string;
    readonly subscriptions: PlannedSubscription[];
    /** The subscriptions on the members' ManagedClusters topics (AKS upgrade events). */
    readonly clusterSubscriptions: PlannedSubscription[];
    /** Lower-case names of the members whose upgrade fails. */
    readonly failing: ReadonlySet<string>;
    readonly horizonHours: number;
    readonly upgradeMinutes: number;
    /** Start of the virtual clock (ms). */
    readonly start: number;
}

/** Plans the stack (unless given a plan) and checks the options against it. */
async function setUp(opts: RehearseOptions): Promise<RunSetup> {
    const plan = opts.plan ?? (await planStack(opts.stack, opts.dir !== undefined ? { dir: opts.dir } : {}));
    const file = plan.stackFile;
    const cfg = parseConfigMap(file.config, file.secretKeys);
    const subscriptionId = file.config["azure-native:subscriptionId"] ?? OFFLINE_DEFAULTS.subscriptionId;
    const fleetId = `/subscriptions/${subscriptionId}/resourceGroups/${cfg.resourceGroupName}/providers/Microsoft.ContainerService/fleets/${cfg.fleet.name}`;
    const newVersion = opts.newVersion;
    if (newVersion !== undefined) {
        if (parseKubernetesVersion(newVersion) === undefined)
            throw new RehearsalInputError(`--new-version ${newVersion}: not a version like 1.33.2`);
        if (!cfg.upgradeEvents?.startRun)
            throw new RehearsalInputError(
                `--new-version ${newVersion}: stack ${opts.stack} does not start runs from AKS upgrade events (set fleet-gates:upgradeEvents.startRun)`,
            );
    }
    const runName = newVersion !== undefined ? runNameFor(newVersion) : REHEARSAL_RUN_NAME;
    const runId = `${fleetId}/updateRuns/${runName}`;
    const subscriptions = planSubscriptions(plan);
    const clusterSubscriptions = planSubscriptions(plan, { clusters: true });
    const failing = new Set((opts.fail ?? []).map((m) => m.toLowerCase()));
    for (const m of failing)
        if (!cfg.members.some((x) => x.name.toLowerCase() === m))
            throw new RehearsalInputError(`--fail ${m}: not a member of stack ${opts.stack}`);
    const horizonHours = opts.horizonHours ?? DEFAULT_HORIZON_HOURS;
    if (!(horizonHours > 0)) throw new RangeError(`horizonHours ${horizonHours} must be > 0`);
    const upgradeMinutes = opts.upgradeMinutes ?? DEFAULT_UPGRADE_MINUTES;
    if (!(upgradeMinutes >= 0 && Number.isFinite(upgradeMinutes)))
        throw new RangeError(`upgradeMinutes ${upgradeMinutes} must be a number >= 0`);
    const start = (opts.now ?? new Date()).getTime();
    return {
        opts,
        cfg,
        subscriptionId,
        fleetId,
        runId,
        runName,
        ...(newVersion !== undefined ? { newVersion } : {}),
        subscriptions,
        clusterSubscriptions,
        failing,
        horizonHours,
        upgradeMinutes,
        start,
    };
}

export class Simulator {
    /** Plans and checks, starts the emulator seeded with the stack's fleet, members and update run. */
    static async start(opts: RehearseOptions): Promise<Simulator> {
        const setup = await setUp(opts);
        const clock = new VirtualClock(setup.start);
        const emu = await ArmEmulator.start({ tls: true, clock: () => clock.now() });
        try {
            seedEmulator(emu, setup.cfg, setup.fleetId, setup.subscriptionId, setup.newVersion);
            for (const f of opts.faults ?? []) emu.inject(f);
            return new Simulator(setup, clock, emu);
        } catch (e) {
            await emu.stop();
            throw e;
        }
    }

    readonly sched: Scheduler;
    readonly offline: OfflineHandler;
    readonly eventGrid: EventGridEmulator;
    /**
     * The members' ManagedClusters topics. Their subscriptions are the same on every member (one filter,
     * one destination), so one topic with one of them stands for all; each event carries its cluster.
     */
    readonly clusterGrid: EventGridEmulator;
    /** When a held gate stops being re-checked (virtual ms). */
    readonly horizon: number;

    readonly gates: RehearsalGate[] = [];
    readonly stuck: StuckGate[] = [];
    readonly timeline: TimelineEntry[] = [];
    /** Position keys of the gates the run reached. */
    readonly reached = new Set<string>();
    /** Where each created gate sits (by lower-case gate id), for timeline lines about its events. */
    readonly positions = new Map<string, GatePosition>();
    /** The handler's decisions on each delivered event object (the last invocation's). */
    private readonly decided = new WeakMap<object, readonly Decision[]>();
    /** Late duplicates still on their way. */
    private readonly late: Promise<void>[] = [];
    /** One sweep per timer tick: whichever held gate wakes first runs it; the others read its decisions. */
    private readonly sweeps = new Map<number, Promise<Decision[]>>();
    private deliveries = 0;
    private invocations = 0;
    private ordinal = 0;
    private endedAt: number;

    private constructor(
        readonly setup: RunSetup,
        readonly clock: VirtualClock,
        readonly emu: ArmEmulator,
    ) {
        const { opts, cfg } = setup;
        this.endedAt = setup.start;
        this.horizon = setup.start + setup.horizonHours * 3_600_000;
        const rng = seededRng(opts.seed ?? 1);
        this.sched = new Scheduler(clock, opts.shuffle ? rng : undefined);
        this.offline = offlineHandler({
            fleetId: setup.fleetId,
            subscriptionId: setup.subscriptionId,
            approvals: cfg.approvals,
            escalateAfterMinutes: cfg.handler.escalateAfterMinutes,
            emulator: emu,
            httpClient: rehearsalHttpClient(emu.url, cfg.approvals),
            clock: clock.now,
            ...(cfg.upgradeEvents
                ? { upgradeEvents: stackUpgradeEvents(cfg, setup.fleetId, setup.subscriptionId)! }
                : {}),
        });
        const firstOfEach = setup.clusterSubscriptions.filter(
            (s, i, all) => all.findIndex((x) => x.name.toLowerCase() === s.name.toLowerCase()) === i,
        );
        // Both grids deliver to the handler's Event Grid trigger on the virtual clock; only Fleet's gate
        // events get the duplicates and shuffling asked for.
        const grid = (extra: Partial<EventGridEmulatorOptions> & Pick<EventGridEmulatorOptions, "subscriptions">) =>
            new EventGridEmulator({
                clock,
                endpoint: azureFunctionEndpoint((event) => this.invokeHandler(event as object)),
                waitUntil: (t) => this.sched.sleepUntil(t),
                defer: (due, task) =>
                    this.late.push(
                        this.sched.spawn(async () => {
                            await this.sched.sleepUntil(due);
                            await task();
                        }),
                    ),
                rng,
                jitterRatio: 0,
                ...extra,
            });
        this.clusterGrid = grid({ subscriptions: firstOfEach, onDelivery: (d) => this.noteClusterDelivery(d) });
        this.eventGrid = grid({
            subscriptions: setup.subscriptions,
            ...(opts.duplicates !== undefined ? { duplicateRate: opts.duplicates } : {}),
            ...(opts.shuffle ? { shuffle: true } : {}),
            onDelivery: (d) => this.noteDelivery(d),
        });
    }

    stop(): Promise<void> {
        return this.emu.stop();
    }

    /** The current virtual time, ISO 8601. */
    at(): string {
        return new Date(this.clock.now()).toISOString();
    }

    note(e: Omit<TimelineEntry, "at">): void {
        this.timeline.push({ at: this.at(), ...e });
    }

    /** The stack's members of a group. */
    membersOf(group: string): StackModel["members"] {
        return this.setup.cfg.members.filter((m) => m.group === group);
    }

    /** A name (lower-case GUID) for the next gate created, stable across rehearsals of the same stack and start. */
    nextGateName(pos: GatePosition): string {
        return guidOf(this.setup.opts.stack, String(this.setup.start), String(this.ordinal++), positionKey(pos));
    }

    completed(gateId: string): boolean {
        return this.emu.gate(gateId)?.state === "Completed";
    }

    decisionsOf(d: Delivery): Decision[] {
        return d.events.flatMap((e) => this.decided.get(e) ?? []);
    }

    /** Fleet publishes events to the topic: every subscription's filter, then delivery to the handler. */
    publish(events: readonly JsonObject[]): Promise<Publication> {
        this.setup.opts.onPublish?.(events);
        return this.eventGrid.publish(events);
    }

    /** The event Fleet publishes now about a gate, in the topic's input schema (Event Grid). */
    gateEvent(pos: GatePosition, gateName: string, kind: GateEventKind, state?: "Pending" | "Completed"): JsonObject {
        const spec: GateEventSpec = {
            fleetId: this.setup.fleetId,
            gateName,
            updateRunName: this.setup.runName,
            stage: pos.stage,
            ...(pos.group !== undefined ? { group: pos.group } : {}),
            timing: pos.timing,
            displayName: pos.displayName,
        };
        return gateEventFor(
            { ...spec, kind, time: serviceTime(this.clock.now()), ...(state ? { state } : {}) },
            { schema: "EventGridSchema", spelling: "AksResources" },
        );
    }

    /** The handler's reconcile sweep at timer tick `t` (run once per tick). */
    sweepAt(t: number): Promise<Decision[]> {
        let p = this.sweeps.get(t);
        if (!p) {
            for (const k of this.sweeps.keys()) if (k < t) this.sweeps.delete(k);
            p = this.offline.sweep();
            this.sweeps.set(t, p);
        }
        return p;
    }

    /** Waits for late duplicates still on their way (more may be queued while waiting). */
    async drainLate(): Promise<void> {
        for (let n = 0; n < this.late.length; n = this.late.length) await this.sched.all(this.late.slice(n));
    }

    /** Marks the end of the run (or where it got stuck). */
    ended(): void {
        this.endedAt = this.clock.now();
    }

    /** An AKS upgrade event of a member's cluster, as AKS publishes it (Event Grid schema). */
    aksEvent(member: string, kind: AksEventKind, data: Record<string, string>): JsonObject {
        const { setup } = this;
        return aksEventFor({
            kind,
            clusterId: managedClusterId(setup.subscriptionId, setup.cfg.resourceGroupName, member),
            id: guidOf(setup.opts.stack, String(setup.start), kind, member, String(this.ordinal++)),
            time: serviceTime(this.clock.now()),
            data,
        }) as JsonObject;
    }

    /** AKS publishes an event on members' cluster topics: the subscriptions' filter, then the handler. */
    publishClusterEvents(events: readonly JsonObject[]): Promise<Publication> {
        this.setup.opts.onPublish?.(events);
        return this.clusterGrid.publish(events);
    }

    /**
     * AKS announces `newVersion` on every member's topic (in the stack channel's field: latest stable,
     * or latest supported for Rapid; the minor two below as the lowest; the next minor as preview). True
     * when the handler started the run `runName`.
     */
    async announceNewVersion(): Promise<boolean> {
        const { setup } = this;
        const v = parseKubernetesVersion(setup.newVersion!)!;
        const data = {
            latestSupportedKubernetesVersion: setup.newVersion!,
            latestStableKubernetesVersion: setup.newVersion!,
            lowestMinorKubernetesVersion: `${v.major}.${Math.max(0, v.minor - 2)}.0`,
            latestPreviewKubernetesVersion: `${v.major}.${v.minor + 1}.0`,
        };
        const events = setup.cfg.members.map((m) => this.aksEvent(m.name, "newKubernetesVersionAvailable", data));
        const pub = await this.publishClusterEvents(events);
        const where = { stage: setup.runName, group: null, gate: null };
        if (pub.routed.every((r) => r.length === 0)) {
            this.note({
                ...where,
                subscription: null,
                decision: "unrouted",
                reason: "no cluster subscription routes NewKubernetesVersionAvailable",
            });
            this.stuck.push({
                stage: setup.runName,
                group: null,
                displayName: "NewKubernetesVersionAvailable",
                reason: "not routed to the handler",
            });
            return false;
        }
        const started = this.emu.startedRuns().some(([, name]) => name.toLowerCase() === setup.runName.toLowerCase());
        if (!started) {
            const why = (this.decided.get(events[0]!) ?? []).at(-1)?.reason ?? "the handler started no run";
            this.note({ ...where, subscription: null, decision: "stuck", reason: `no run started: ${why}` });
            this.stuck.push({
                stage: setup.runName,
                group: null,
                displayName: "NewKubernetesVersionAvailable",
                reason: why,
            });
        }
        return started;
    }

    /** AKS reports a node pool of the member's cluster failed to roll (when the stack routes that event). */
    async nodePoolFailed(member: string): Promise<void> {
        if (!this.setup.cfg.upgradeEvents) return;
        await this.publishClusterEvents([
            this.aksEvent(member, "nodePoolRollingFailed", { nodePoolName: "nodepool1" }),
        ]);
    }

    result(): RehearsalResult {
        const { setup } = this;
        return {
            stack: setup.opts.stack,
            fleetId: setup.fleetId,
            runName: setup.runName,
            gates: this.gates,
            stuck: this.stuck,
            durationMs: this.endedAt - setup.start,
            timeline: this.timeline,
            notReached: setup.cfg.gates.filter((g) => !this.reached.has(positionKey(g))),
            notifications: this.offline.notifications,
            deadLetters: this.eventGrid.deadLetters.blobs,
            deliveries: this.deliveries,
            gateWrites: this.emu.patchCount,
        };
    }

    /** The real trigger, as the Functions host invokes it; a `RedeliveryRequested` is a 500 (retried). */
    private async invokeHandler(event: object): Promise<void> {
        try {
            this.decided.set(
                event,
                await this.offline.trigger(event, this.offline.context(`rehearsal-${++this.invocations}`)),
            );
        } catch (e) {
            if (e instanceof RedeliveryRequested) this.decided.set(event, e.decisions);
            throw e;
        }
    }

    /** One timeline line per AKS upgrade event delivered from a member's cluster topic. */
    private noteClusterDelivery(d: Delivery): void {
        this.deliveries += d.result.attempts;
        for (const event of d.events) {
            const type =
                String(event.eventType ?? event.type ?? "")
                    .split(".")
                    .at(-1) ?? "";
            const last = (this.decided.get(event) ?? []).at(-1);
            this.note({
                stage: String(event.subject ?? ""),
                group: null,
                gate: type,
                subscription: d.subscription,
                decision: d.result.delivered
                    ? (last?.outcome ?? "delivered")
                    : d.result.deadLettered
                      ? "dead-lettered"
                      : "dropped",
                reason: last?.reason ?? (d.result.delivered ? null : (d.result.reason ?? "undeliverable")),
            });
        }
    }

    /** One timeline line per gate event Event Grid delivered (or gave up on). */
    private noteDelivery(d: Delivery): void {
        this.deliveries += d.result.attempts;
        for (const event of d.events) {
            const gateId = (event.subject as string | undefined) ?? "";
            const pos = this.positions.get(gateId.toLowerCase());
            if (pos === undefined) continue;
            const { decision, reason } = this.describeDelivery(d, event);
            this.note({
                stage: pos.stage,
                group: pos.group ?? null,
                gate: pos.displayName,
                subscription: d.subscription,
                decision,
                reason,
            });
        }
    }

    private describeDelivery(d: Delivery, event: JsonObject): { decision: string; reason: string | null } {
        const kind = gateEventKindOf(String(event.eventType ?? event.type ?? "")) ?? "created";
        const dup = d.duplicate ? " (duplicate delivery)" : "";
        if (!d.result.delivered)
            return {
                decision: d.result.deadLettered ? "dead-lettered" : "dropped",
                reason:
                    `${d.result.reason ?? "undeliverable"} after ${d.result.attempts} attempt(s)` +
                    (d.deadLetter ? `; blob ${d.deadLetter.path}` : "") +
                    dup,
            };
        const last = (this.decided.get(event) ?? []).at(-1);
        const retries = d.result.attempts > 1 ? ` (after ${d.result.attempts} attempts)` : "";
        const outcome = last?.outcome ?? "delivered";
        const why = last?.reason ?? (outcome === "approved" ? "checks passed" : "");
        return {
            decision: kind === "created" ? outcome : `${kind}: ${outcome}`,
            reason: `${why}${retries}${dup}`.trim() || null,
        };
    }
}
