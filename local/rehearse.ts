/**
 * `npm run rehearse`: an update run of a stack, simulated end to end with no Azure account.
 *
 * The stack is planned (`planStack`), so the event subscriptions, their filters, delivery schemas,
 * retry policies, batching and dead-letter containers are exactly the ones the program deploys. The
 * loopback ARM emulator is seeded with the fleet and healthy members (update state `NotStarted`)
 * and one update run `rehearsal-1` built from the strategy. The run is then walked as Fleet walks
 * it, on a virtual clock starting at `now` (cooperative processes, `local/scheduler.ts`): stages in
 * order; per stage its Before gates, then its groups in parallel — per group its Before gates, the
 * upgrade of its members (`upgradeMinutes` each, up to the group's maxConcurrency at a time and the
 * stage's maxConcurrency across its groups; `Failed` for members in `fail`), its After gates — then,
 * once every group is done, the stage's After gates and `afterStageWaitInSeconds`.
 *
 * At each gate: the gate is created Pending in the emulator (lower-case GUID name) and Fleet's
 * FleetGateCreated is published as the service shapes it (`AksResources` spelling) to the emulated
 * Event Grid (`EventGridEmulator`): every subscription's filter (`core/event-filter.ts`) on the
 * event in that subscription's delivery schema, batching, delivery to the REAL handler trigger as
 * the Functions host invokes it (a `RedeliveryRequested` is a 500: retried on Event Grid's schedule),
 * dead-letter blobs when retries run out. Then:
 * - approved by the handler → FleetGateUpdated (state Completed) is published, the run moves on;
 * - held → the handler's reconcile sweep (same runtime) runs on its timer's grid (every
 *   `sweepMinutes`, on the minute) until the gate is approved or the horizon is reached (window
 *   checks open as time moves);
 * - a gate no approval rule matches is **manual**: with `approveManual` a person marks it Completed
 *   (the outcome stays `manual`), otherwise the run waits there;
 * - a gate an approval rule matches but no rule subscription's filter routes is **unrouted** (the
 *   lifecycle subscription does not count). In Azure the sweep could still pick it up, but the
 *   event path is broken, which is what the rehearsal exists to catch: it is reported as stuck.
 * A stuck gate (unrouted, manual without `approveManual`, held at the horizon) stops its group; the
 * other groups of the stage go on, but the stage never completes, so later stages are not reached
 * (`notReached`). With `deleteRun`, a person deletes the update run at the end: Fleet deletes its
 * gates and publishes FleetGateDeleted for each (to the lifecycle subscription; the handler clears
 * what it held). On demand, Event Grid's at-least-once and unordered delivery is made visible:
 * duplicate deliveries (some arriving up to 3 minutes late) and shuffled order (`duplicates`,
 * `shuffle`, `seed`).
 *
 * The world is healthy unless told otherwise: clusters provisioned and running, every metric a rule
 * checks reported at a passing value, every URL an `http` check calls answering what the check
 * expects (no request leaves the machine). Retry delays follow the schedule exactly (no jitter), so
 * timings read plainly.
 */
import { createDefaultHttpClient, createHttpHeaders, type HttpClient } from "@azure/core-rest-pipeline";
import { createHash } from "node:crypto";
import { MANAGED_CLUSTERS_TOPIC_TYPE } from "../core/aks-event";
import { sameArmId } from "../core/arm-id";
import {
    explainFilter,
    gateEventFor,
    type GateEventKind,
    type GateEventSpec,
    type JsonObject,
} from "../core/event-filter";
import { gateEventKindOf } from "../core/gate-event";
import { rulesForGate, type ApprovalRule, type GateTiming } from "../core/rules";
import type { GatePosition } from "../core/strategy";
import { parseConfigMap, type StackConfig } from "../config";
import type { Decision } from "../handlers/gate-approval/src/audit";
import { RedeliveryRequested } from "../handlers/gate-approval/src/functions/event";
import type { Notification } from "../handlers/gate-approval/src/notifier";
import { managedClusterId } from "../components/fleet";
import { LIFECYCLE_SUBSCRIPTION_NAME } from "../components/gate-events";
import { ArmEmulator, type Fault } from "./arm-emulator";
import {
    azureFunctionEndpoint,
    EventGridEmulator,
    serviceTime,
    toCloudEvent,
    VirtualClock,
    type DeadLetterBlob,
    type Delivery,
    type DeliverySubscription,
} from "./event-grid";
import { OFFLINE_DEFAULTS } from "./mocks";
import { offlineHandler } from "./offline-handler";
import { planStack, type Plan } from "./plan";
import { seededRng } from "./rng";
import { Scheduler, Semaphore } from "./scheduler";

export const REHEARSAL_RUN_NAME = "rehearsal-1";
export const DEFAULT_HORIZON_HOURS = 7 * 24;
/** Virtual minutes one member's upgrade takes: an assumption of the rehearsal, not a Fleet figure. */
export const DEFAULT_UPGRADE_MINUTES = 10;

export type RehearsalOutcome = "approved" | "manual" | "held" | "unrouted";

export interface RehearsalGate {
    readonly stage: string;
    readonly group: string | null;
    readonly timing: GateTiming;
    readonly displayName: string;
    /** The rule the handler decided with (or, for an unrouted gate, the rule that should have routed it). */
    readonly rule: string | null;
    /** Rule subscriptions whose filter matched the FleetGateCreated event (the lifecycle one never counts). */
    readonly subscriptions: string[];
    readonly outcome: RehearsalOutcome;
}

export interface StuckGate {
    readonly displayName: string;
    readonly stage: string;
    readonly group: string | null;
    readonly reason: string;
}

export interface TimelineEntry {
    /** Virtual time, ISO 8601. */
    readonly at: string;
    /** The stage, or the update run's name for run-wide entries (its deletion). */
    readonly stage: string;
    readonly group: string | null;
    /** The gate's display name; null for upgrades and waits. */
    readonly gate: string | null;
    /** The subscription that delivered the event, `sweep`, `person`, or null. */
    readonly subscription: string | null;
    /** created · a handler outcome (approved, held, manual, ignored, …) · upgrading · upgraded · wait · unrouted · stuck · … */
    readonly decision: string;
    readonly reason: string | null;
}

export interface RehearsalResult {
    readonly stack: string;
    readonly fleetId: string;
    readonly gates: RehearsalGate[];
    readonly stuck: StuckGate[];
    /** Virtual time from the start of the run to its end (or to where it got stuck). */
    readonly durationMs: number;
    readonly timeline: TimelineEntry[];
    /** Gates the run never reached because an earlier one was stuck (not in `gates`). */
    readonly notReached: GatePosition[];
    /** What the handler sent to its notifier (manual gates, holds, escalations). */
    readonly notifications: readonly Notification[];
    /** Dead-letter blobs the emulated Event Grid wrote (Azure's path and content). */
    readonly deadLetters: readonly DeadLetterBlob[];
    /** Requests Event Grid made to the handler (retries and duplicates included). */
    readonly deliveries: number;
    /** PATCHes that changed a gate's state in the emulator: one per gate the handler approved. */
    readonly gateWrites: number;
}

/** The `--json` contract: `{ stack, gates, stuck, durationMs }`. */
export function rehearsalJson(r: RehearsalResult): Pick<RehearsalResult, "stack" | "gates" | "stuck" | "durationMs"> {
    return { stack: r.stack, gates: r.gates, stuck: r.stuck, durationMs: r.durationMs };
}

export interface RehearseOptions {
    readonly stack: string;
    /** Directory of `Pulumi.<stack>.yaml`; default the project root. */
    readonly dir?: string;
    /** Start of the virtual clock; default the real time. */
    readonly now?: Date;
    /** Manual gates are approved as a person would; otherwise the run waits at the first one (stuck). */
    readonly approveManual?: boolean;
    /** Member names whose upgrade fails (update state `Failed`). */
    readonly fail?: readonly string[];
    /** How long a held gate is re-checked before it is reported stuck; default 7 × 24 h. */
    readonly horizonHours?: number;
    /** Virtual minutes one member's upgrade takes; default {@link DEFAULT_UPGRADE_MINUTES}. */
    readonly upgradeMinutes?: number;
    /** At the end, a person deletes the update run: Fleet deletes its gates and publishes FleetGateDeleted. */
    readonly deleteRun?: boolean;
    /** Probability (0..1) that Event Grid delivers a request twice (a duplicate may come up to 3 minutes late). */
    readonly duplicates?: number;
    /** Deliveries and processes due at the same instant in random order. */
    readonly shuffle?: boolean;
    /** Seed of the RNG behind duplicates and shuffling; default 1. */
    readonly seed?: number;
    /** An already computed plan of the stack (skips planning; lets callers rehearse a modified plan). */
    readonly plan?: Plan;
    /** Faults injected into the ARM emulator once it is seeded (e.g. 503s on `gates.patch`: Event Grid redelivers). */
    readonly faults?: readonly Fault[];
    /** Progress of long phases (held gates swept over virtual days), one line each. */
    readonly onProgress?: (line: string) => void;
    /** Sees every batch of events Fleet publishes, as published (Event Grid schema, before filtering). */
    readonly onPublish?: (events: readonly JsonObject[]) => void;
}

/** An event subscription of the plan, as deployed. */
export interface PlannedSubscription extends DeliverySubscription {
    readonly schema: "EventGridSchema" | "CloudEventSchemaV1_0";
    /** The lifecycle subscription (Updated/Deleted events); it never counts as routing a gate. */
    readonly lifecycle: boolean;
}

const SUBSCRIPTION_TYPE = "azure-native:eventgrid:SystemTopicEventSubscription";

function positiveInt(v: unknown): number | undefined {
    return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

/** Names of the plan's ManagedClusters system topics (AKS upgrade events, one per member cluster). */
function clusterTopicNames(plan: Plan): Set<string> {
    return new Set(
        plan.resources
            .filter(
                (r) =>
                    r.type === "azure-native:eventgrid:SystemTopic" &&
                    r.inputs.topicType === MANAGED_CLUSTERS_TOPIC_TYPE,
            )
            .map((r) => String(r.inputs.systemTopicName ?? r.name).toLowerCase()),
    );
}

/**
 * The event subscriptions of a plan on the AKSResources topic (gate events), as deployed (filter,
 * delivery schema, retry policy, batching, dead-letter); `clusters: true` gives those on the members'
 * ManagedClusters topics instead.
 */
export function planSubscriptions(plan: Plan, opts: { clusters?: boolean } = {}): PlannedSubscription[] {
    const clusterTopics = clusterTopicNames(plan);
    return plan.resources
        .filter(
            (r) =>
                r.type === SUBSCRIPTION_TYPE &&
                clusterTopics.has(String(r.inputs.systemTopicName ?? "").toLowerCase()) === (opts.clusters === true),
        )
        .map((r) => {
            const i = r.inputs;
            const name = typeof i.eventSubscriptionName === "string" ? i.eventSubscriptionName : r.name;
            const retry = (i.retryPolicy ?? {}) as Record<string, unknown>;
            const destination = (i.destination ?? {}) as Record<string, unknown>;
            const dl = ((i.deadLetterWithResourceIdentity as Record<string, unknown> | undefined)
                ?.deadLetterDestination ?? i.deadLetterDestination) as Record<string, unknown> | undefined;
            const maxDeliveryAttempts = positiveInt(retry.maxDeliveryAttempts);
            const eventTimeToLiveInMinutes = positiveInt(retry.eventTimeToLiveInMinutes);
            const maxEventsPerBatch = positiveInt(destination.maxEventsPerBatch);
            const preferredBatchSizeInKilobytes = positiveInt(destination.preferredBatchSizeInKilobytes);
            return {
                name,
                filter: (i.filter ?? {}) as PlannedSubscription["filter"],
                schema: i.eventDeliverySchema === "CloudEventSchemaV1_0" ? "CloudEventSchemaV1_0" : "EventGridSchema",
                lifecycle: name.toLowerCase() === LIFECYCLE_SUBSCRIPTION_NAME.toLowerCase(),
                endpointType: destination.endpointType === "WebHook" ? "WebHook" : "AzureFunction",
                ...(maxDeliveryAttempts !== undefined ? { maxDeliveryAttempts } : {}),
                ...(eventTimeToLiveInMinutes !== undefined ? { eventTimeToLiveInMinutes } : {}),
                ...(maxEventsPerBatch !== undefined ? { maxEventsPerBatch } : {}),
                ...(preferredBatchSizeInKilobytes !== undefined ? { preferredBatchSizeInKilobytes } : {}),
                // A configured destination whose container is unknown at plan time still dead-letters.
                ...(dl !== undefined
                    ? {
                          deadLetterContainer:
                              typeof dl.blobContainerName === "string" ? dl.blobContainerName : "deadletter",
                      }
                    : {}),
            };
        });
}

/**
 * How many members upgrade at once (2026-06-01 `maxConcurrency`): a count, or a percentage of
 * `members` rounded down; at least 1, at most `members`; absent = 1 (the group default).
 */
export function resolveConcurrency(spec: string | undefined, members: number): number {
    if (!(Number.isInteger(members) && members >= 1)) throw new RangeError(`member count ${members} must be >= 1`);
    if (spec === undefined) return 1;
    const m = /^(?:([1-9]\d*)|([1-9]\d?|100)%)$/.exec(spec);
    if (!m) throw new RangeError(`maxConcurrency "${spec}" is not a count >= 1 or a percentage 1%-100%`);
    const n = m[1] !== undefined ? Number(m[1]) : Math.floor((members * Number(m[2])) / 100);
    return Math.min(members, Math.max(1, n));
}

/**
 * When the sweep's timer (NCRONTAB `0 *\/m * * * *`, UTC) next fires strictly after `t`: second 0 of
 * every minute whose minute-of-hour is a multiple of `sweepMinutes`.
 */
export function nextSweepAt(t: number, sweepMinutes: number): number {
    if (!(Number.isInteger(sweepMinutes) && sweepMinutes >= 1 && sweepMinutes <= 60))
        throw new RangeError(`sweepMinutes ${sweepMinutes} must be a whole number from 1 to 60`);
    let minute = Math.floor(t / 60_000) + 1;
    while ((((minute % 60) + 60) % 60) % sweepMinutes !== 0) minute++;
    return minute * 60_000;
}

/** A lower-case GUID derived from the parts (stable across rehearsals of the same stack and start). */
function guidOf(...parts: string[]): string {
    const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A metric value that satisfies `operator threshold`. */
function passingValue(operator: "lt" | "le" | "gt" | "ge", threshold: number): number {
    const margin = Math.max(1, Math.abs(threshold) * 0.1);
    switch (operator) {
        case "lt":
            return threshold - margin;
        case "le":
            return threshold;
        case "gt":
            return threshold + margin;
        case "ge":
            return threshold;
    }
}

/** The body an `http` check expects: `equals` (or `true`) at `jsonPath`. */
function expectedBody(jsonPath: string | undefined, equals: unknown): string {
    if (jsonPath === undefined) return "{}";
    const segs = jsonPath.split(".");
    let value: unknown = equals ?? true;
    for (let i = segs.length - 1; i >= 0; i--) {
        const seg = segs[i]!;
        if (/^\d+$/.test(seg)) {
            const arr: unknown[] = [];
            arr[Number(seg)] = value;
            value = arr;
        } else value = { [seg]: value };
    }
    return JSON.stringify(value);
}

/**
 * The handler's HTTP client: requests to the emulator go over real HTTP; an `http` check's URL is
 * answered locally with what the check expects (a healthy world); anything else is a 404.
 */
function rehearsalHttpClient(emulatorUrl: string, rules: readonly ApprovalRule[]): HttpClient {
    const inner = createDefaultHttpClient();
    const origin = new URL(emulatorUrl).origin;
    const httpChecks = rules.flatMap((r) => r.checks.flatMap((c) => (c.type === "http" ? [c] : [])));
    return {
        async sendRequest(request) {
            if (new URL(request.url).origin === origin) return inner.sendRequest(request);
            const check = httpChecks.find((c) => c.url === request.url);
            const headers = createHttpHeaders({ "content-type": "application/json" });
            if (!check) return { request, status: 404, headers, bodyAsText: "{}" };
            return {
                request,
                status: check.expectStatus ?? 200,
                headers,
                bodyAsText: expectedBody(check.jsonPath, check.equals),
            };
        },
    };
}

function positionKey(p: GatePosition): string {
    return [p.stage, p.group ?? "", p.timing, p.displayName].join("\u0000");
}

/** A reason with its numbers blanked: what changes between two sweeps' reasons when nothing really changed. */
function shape(reason: string | undefined): string {
    return (reason ?? "").replace(/\d+/g, "#").replace(/\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b/g, "#");
}

type StrategyStage = StackConfig["updateStrategy"]["stages"][number];
type StrategyGroup = StrategyStage["groups"][number];

/** Simulates an update run of the stack through the real handler; see the module comment. */
export async function rehearse(opts: RehearseOptions): Promise<RehearsalResult> {
    const plan = opts.plan ?? (await planStack(opts.stack, opts.dir !== undefined ? { dir: opts.dir } : {}));
    const file = plan.stackFile;
    const cfg = parseConfigMap(file.config, file.secretKeys);
    const subscriptionId = file.config["azure-native:subscriptionId"] ?? OFFLINE_DEFAULTS.subscriptionId;
    const fleetId = `/subscriptions/${subscriptionId}/resourceGroups/${cfg.resourceGroupName}/providers/Microsoft.ContainerService/fleets/${cfg.fleet.name}`;
    const runId = `${fleetId}/updateRuns/${REHEARSAL_RUN_NAME}`;
    const subscriptions = planSubscriptions(plan);
    const failing = new Set((opts.fail ?? []).map((m) => m.toLowerCase()));
    for (const m of failing)
        if (!cfg.members.some((x) => x.name.toLowerCase() === m))
            throw new Error(`--fail ${m}: not a member of stack ${opts.stack}`);
    const horizonHours = opts.horizonHours ?? DEFAULT_HORIZON_HOURS;
    if (!(horizonHours > 0)) throw new RangeError(`horizonHours ${horizonHours} must be > 0`);
    const upgradeMinutes = opts.upgradeMinutes ?? DEFAULT_UPGRADE_MINUTES;
    if (!(upgradeMinutes >= 0 && Number.isFinite(upgradeMinutes)))
        throw new RangeError(`upgradeMinutes ${upgradeMinutes} must be a number >= 0`);

    const start = (opts.now ?? new Date()).getTime();
    const clock = new VirtualClock(start);
    const horizon = start + horizonHours * 3_600_000;
    const rng = seededRng(opts.seed ?? 1);
    const sched = new Scheduler(clock, opts.shuffle ? rng : undefined);

    const gates: RehearsalGate[] = [];
    const stuck: StuckGate[] = [];
    const timeline: TimelineEntry[] = [];
    const reached = new Set<string>();
    const at = () => new Date(clock.now()).toISOString();
    const note = (e: Omit<TimelineEntry, "at">) => timeline.push({ at: at(), ...e });

    const emu = await ArmEmulator.start({ tls: true, clock: () => clock.now() });
    try {
        emu.addFleet(fleetId);
        const membersOf = (group: string) => cfg.members.filter((m) => m.group === group);
        const metricChecks = cfg.approvals.flatMap((r) => r.checks.flatMap((c) => (c.type === "metric" ? [c] : [])));
        for (const m of cfg.members) {
            const clusterResourceId = managedClusterId(subscriptionId, cfg.resourceGroupName, m.name);
            emu.addMember(fleetId, {
                name: m.name,
                clusterResourceId,
                group: m.group,
                updateState: "NotStarted",
                provisioningState: "Succeeded",
                powerState: "Running",
            });
            for (const c of metricChecks)
                emu.setMetric(clusterResourceId, c.metric, passingValue(c.operator, c.threshold));
        }
        const gateConfigs = (gs: readonly { displayName: string }[] | undefined) =>
            (gs ?? []).map((g) => ({ displayName: g.displayName, type: "Approval" as const }));
        emu.putUpdateRun({
            fleetId,
            name: REHEARSAL_RUN_NAME,
            stages: cfg.updateStrategy.stages.map((s) => ({
                name: s.name,
                groups: s.groups.map((g) => ({
                    name: g.name,
                    members: membersOf(g.name).map((m) => m.name),
                    beforeGates: gateConfigs(g.beforeGates),
                    afterGates: gateConfigs(g.afterGates),
                })),
                beforeGates: gateConfigs(s.beforeGates),
                afterGates: gateConfigs(s.afterGates),
                ...(s.afterStageWaitInSeconds !== undefined
                    ? { afterStageWaitInSeconds: s.afterStageWaitInSeconds }
                    : {}),
            })),
        });

        for (const f of opts.faults ?? []) emu.inject(f);

        const offline = offlineHandler({
            fleetId,
            subscriptionId,
            approvals: cfg.approvals,
            escalateAfterMinutes: cfg.handler.escalateAfterMinutes,
            emulator: emu,
            httpClient: rehearsalHttpClient(emu.url, cfg.approvals),
            clock: clock.now,
        });
        let invocations = 0;
        const context = () => offline.context(`rehearsal-${++invocations}`);

        /** Where each created gate sits (by lower-case gate id), for timeline lines about its events. */
        const positions = new Map<string, GatePosition>();
        /** The handler's decisions on each delivered event object (the last invocation's). */
        const decided = new WeakMap<object, readonly Decision[]>();
        const decisionsOf = (d: Delivery): Decision[] => d.events.flatMap((e) => decided.get(e) ?? []);
        const late: Promise<void>[] = [];
        let deliveries = 0;

        const noteDelivery = (d: Delivery) => {
            deliveries += d.result.attempts;
            for (const event of d.events) {
                const gateId = (event.subject as string | undefined) ?? "";
                const pos = positions.get(gateId.toLowerCase());
                if (pos === undefined) continue;
                const kind = gateEventKindOf(String(event.eventType ?? event.type ?? "")) ?? "created";
                const last = (decided.get(event) ?? []).at(-1);
                const retries = d.result.attempts > 1 ? ` (after ${d.result.attempts} attempts)` : "";
                const dup = d.duplicate ? " (duplicate delivery)" : "";
                let decision: string;
                let reason: string | null;
                if (d.result.delivered) {
                    const outcome = last?.outcome ?? "delivered";
                    decision = kind === "created" ? outcome : `${kind}: ${outcome}`;
                    const why = last?.reason ?? (outcome === "approved" ? "checks passed" : "");
                    reason = `${why}${retries}${dup}`.trim() || null;
                } else {
                    decision = d.result.deadLettered ? "dead-lettered" : "dropped";
                    reason =
                        `${d.result.reason ?? "undeliverable"} after ${d.result.attempts} attempt(s)` +
                        (d.deadLetter ? `; blob ${d.deadLetter.path}` : "") +
                        dup;
                }
                note({
                    stage: pos.stage,
                    group: pos.group ?? null,
                    gate: pos.displayName,
                    subscription: d.subscription,
                    decision,
                    reason,
                });
            }
        };

        const eventGrid = new EventGridEmulator({
            subscriptions,
            clock,
            endpoint: azureFunctionEndpoint(async (event) => {
                try {
                    decided.set(event as object, await offline.trigger(event, context()));
                } catch (e) {
                    if (e instanceof RedeliveryRequested) decided.set(event as object, e.decisions);
                    throw e;
                }
            }),
            waitUntil: (t) => sched.sleepUntil(t),
            defer: (due, task) =>
                late.push(
                    sched.spawn(async () => {
                        await sched.sleepUntil(due);
                        await task();
                    }),
                ),
            rng,
            jitterRatio: 0,
            ...(opts.duplicates !== undefined ? { duplicateRate: opts.duplicates } : {}),
            ...(opts.shuffle ? { shuffle: true } : {}),
            onDelivery: noteDelivery,
        });

        const publish = (events: readonly JsonObject[]) => {
            opts.onPublish?.(events);
            return eventGrid.publish(events);
        };

        /** The gate as Fleet's events describe it, at its position in the rehearsal's update run. */
        const gateSpec = (pos: GatePosition, gateName: string): GateEventSpec => ({
            fleetId,
            gateName,
            updateRunName: REHEARSAL_RUN_NAME,
            stage: pos.stage,
            ...(pos.group !== undefined ? { group: pos.group } : {}),
            timing: pos.timing,
            displayName: pos.displayName,
        });
        /** The event Fleet publishes now, in the topic's input schema (Event Grid). */
        const gateEvent = (
            pos: GatePosition,
            gateName: string,
            kind: GateEventKind,
            state?: "Pending" | "Completed",
        ): JsonObject =>
            gateEventFor(
                { ...gateSpec(pos, gateName), kind, time: serviceTime(clock.now()), ...(state ? { state } : {}) },
                { schema: "EventGridSchema", spelling: "AksResources" },
            );

        const completed = (gateId: string) => emu.gate(gateId)?.state === "Completed";

        // One sweep per timer tick, whichever held gate wakes first runs it; the others read its decisions.
        const sweeps = new Map<number, Promise<Decision[]>>();
        const sweepAt = (t: number): Promise<Decision[]> => {
            let p = sweeps.get(t);
            if (!p) {
                for (const k of sweeps.keys()) if (k < t) sweeps.delete(k);
                p = offline.sweep();
                sweeps.set(t, p);
            }
            return p;
        };

        let ordinal = 0;
        /** One gate, from creation to Completed; false when the run cannot pass it (stuck). */
        const gateStep = async (pos: GatePosition): Promise<boolean> => {
            reached.add(positionKey(pos));
            const group = pos.group ?? null;
            const where = { stage: pos.stage, group, gate: pos.displayName };
            const gateName = guidOf(opts.stack, String(start), String(ordinal++), positionKey(pos));
            const gate = emu.addGate({
                fleetId,
                name: gateName,
                displayName: pos.displayName,
                gateType: "Approval",
                state: "Pending",
                target: {
                    id: runId,
                    updateRunProperties: {
                        name: REHEARSAL_RUN_NAME,
                        stage: pos.stage,
                        ...(pos.group !== undefined ? { group: pos.group } : {}),
                        timing: pos.timing,
                    },
                },
            });
            positions.set(gate.id.toLowerCase(), pos);
            note({ ...where, subscription: null, decision: "created", reason: `gate ${gateName} Pending` });

            const rules = rulesForGate(cfg.approvals, pos);
            const created = gateEvent(pos, gateName, "created");
            const published = await publish([created]);
            const ruleSubs = new Set(subscriptions.filter((s) => !s.lifecycle).map((s) => s.name));
            const routedNames = (published.routed[0] ?? []).filter((n) => ruleSubs.has(n));
            const routed = published.deliveries.filter((d) => ruleSubs.has(d.subscription) && !d.duplicate);
            let rule: string | null = rules[0]?.name ?? null;
            for (const d of routed) {
                const last = decisionsOf(d).at(-1);
                if (last?.rule !== undefined) rule = last.rule;
            }
            const record = (outcome: RehearsalOutcome) =>
                gates.push({
                    stage: pos.stage,
                    group,
                    timing: pos.timing,
                    displayName: pos.displayName,
                    rule,
                    subscriptions: routedNames,
                    outcome,
                });
            const stop = (outcome: RehearsalOutcome, reason: string): false => {
                record(outcome);
                stuck.push({ displayName: pos.displayName, stage: pos.stage, group, reason });
                note({ ...where, subscription: null, decision: "stuck", reason });
                return false;
            };

            if (routedNames.length === 0 && rules.length > 0) {
                const why = subscriptions
                    .filter((s) => !s.lifecycle)
                    .map((s) => {
                        const event = s.schema === "CloudEventSchemaV1_0" ? toCloudEvent(created) : created;
                        return `${s.name}: ${explainFilter(s.filter, event, s.schema).reason ?? "?"}`;
                    });
                const wanted = rules.map((r) => r.name).join(", ");
                note({ ...where, subscription: null, decision: "unrouted", reason: null });
                return stop(
                    "unrouted",
                    `rule ${wanted} matches the gate but no rule subscription's filter routes FleetGateCreated` +
                        (why.length > 0 ? ` (${why.join("; ")})` : " (no rule subscriptions in the plan)"),
                );
            }

            const handlerSaysManual = routed.some((d) => decisionsOf(d).some((x) => x.outcome === "manual"));
            if (!completed(gate.id) && (rules.length === 0 || handlerSaysManual)) {
                if (!opts.approveManual)
                    return stop("manual", "manual gate: no approval rule decides it; the run waits for a person");
                emu.setGateState(gate.id, "Completed");
                note({
                    ...where,
                    subscription: "person",
                    decision: "approved",
                    reason: "manual gate approved by a person",
                });
                record("manual");
            } else {
                let lastReason = routed
                    .flatMap((d) => decisionsOf(d))
                    .map((d) => d.reason)
                    .pop();
                let sweepCount = 0;
                let progressAt = clock.now();
                while (!completed(gate.id)) {
                    const next = nextSweepAt(clock.now(), cfg.handler.sweepMinutes);
                    if (next > horizon) {
                        await sched.sleepUntil(horizon);
                        if (completed(gate.id)) break;
                        return stop(
                            "held",
                            `held until the horizon (${horizonHours} h, ${sweepCount} sweep(s)): ${lastReason ?? "checks failing"}`,
                        );
                    }
                    await sched.sleepUntil(next);
                    // A late (duplicate or retried) delivery may have approved it meanwhile.
                    if (completed(gate.id)) break;
                    sweepCount++;
                    const decisions = await sweepAt(next);
                    const mine = decisions.find((d) => d.gateId?.toLowerCase() === gate.id.toLowerCase());
                    // One line per change of outcome or kind of reason (times and counts inside reasons vary).
                    if (mine && (mine.outcome === "approved" || shape(mine.reason) !== shape(lastReason))) {
                        if (mine.rule !== undefined) rule = mine.rule;
                        note({
                            ...where,
                            subscription: "sweep",
                            decision: mine.outcome,
                            reason:
                                mine.outcome === "approved"
                                    ? `checks passed after ${sweepCount} sweep(s)`
                                    : (mine.reason ?? null),
                        });
                        lastReason = mine.reason;
                    }
                    if (opts.onProgress && clock.now() - progressAt >= 24 * 3_600_000) {
                        progressAt = clock.now();
                        opts.onProgress(
                            `  … ${pos.displayName}: still held at ${at()} (${sweepCount} sweeps): ${lastReason ?? ""}`,
                        );
                    }
                }
                record("approved");
            }

            // The gate is Completed: the service announces it.
            await publish([gateEvent(pos, gateName, "updated")]);
            return true;
        };

        /** The group's members upgrade: `upgradeMinutes` each, maxConcurrency at a time, within the stage's slots. */
        const upgrade = async (stage: StrategyStage, group: StrategyGroup, stageSlots?: Semaphore) => {
            const members = membersOf(group.name);
            if (members.length === 0) return;
            const concurrency = resolveConcurrency(group.maxConcurrency, members.length);
            note({
                stage: stage.name,
                group: group.name,
                gate: null,
                subscription: null,
                decision: "upgrading",
                reason: `${members.length} member(s), ${concurrency} at a time, ${upgradeMinutes} min each`,
            });
            let next = 0;
            const worker = async () => {
                while (next < members.length) {
                    const m = members[next++]!;
                    if (stageSlots) await stageSlots.acquire();
                    emu.setMember(m.name, { updateState: "Running" });
                    await sched.sleep(upgradeMinutes * 60_000);
                    emu.setMember(m.name, { updateState: failing.has(m.name.toLowerCase()) ? "Failed" : "Completed" });
                    stageSlots?.release();
                }
            };
            await sched.all(Array.from({ length: concurrency }, () => sched.spawn(worker)));
            const failed = members.filter((m) => failing.has(m.name.toLowerCase())).map((m) => m.name);
            note({
                stage: stage.name,
                group: group.name,
                gate: null,
                subscription: null,
                decision: "upgraded",
                reason:
                    `${members.length - failed.length}/${members.length} member(s) Completed` +
                    (failed.length > 0 ? `; Failed: ${failed.join(", ")}` : ""),
            });
        };

        const runGroup = async (stage: StrategyStage, group: StrategyGroup, slots?: Semaphore): Promise<boolean> => {
            const pos = (timing: GateTiming, displayName: string): GatePosition => ({
                stage: stage.name,
                group: group.name,
                timing,
                displayName,
            });
            for (const g of group.beforeGates ?? []) if (!(await gateStep(pos("Before", g.displayName)))) return false;
            await upgrade(stage, group, slots);
            for (const g of group.afterGates ?? []) if (!(await gateStep(pos("After", g.displayName)))) return false;
            return true;
        };

        const runStage = async (stage: StrategyStage): Promise<boolean> => {
            for (const g of stage.beforeGates ?? [])
                if (!(await gateStep({ stage: stage.name, timing: "Before", displayName: g.displayName })))
                    return false;
            const stageMembers = stage.groups.reduce((n, g) => n + membersOf(g.name).length, 0);
            const slots =
                stage.maxConcurrency !== undefined && stageMembers > 0
                    ? new Semaphore(sched, resolveConcurrency(stage.maxConcurrency, stageMembers))
                    : undefined;
            // Fleet runs the groups of a stage in parallel.
            const done = await sched.all(stage.groups.map((g) => sched.spawn(() => runGroup(stage, g, slots))));
            if (!done.every(Boolean)) return false;
            for (const g of stage.afterGates ?? [])
                if (!(await gateStep({ stage: stage.name, timing: "After", displayName: g.displayName }))) return false;
            const wait = stage.afterStageWaitInSeconds ?? 0;
            if (wait > 0) {
                note({
                    stage: stage.name,
                    group: null,
                    gate: null,
                    subscription: null,
                    decision: "wait",
                    reason: `afterStageWaitInSeconds ${wait}`,
                });
                await sched.sleep(wait * 1000);
            }
            return true;
        };

        /** Late duplicates still on their way (more may be queued while waiting). */
        const drainLate = async () => {
            for (let n = 0; n < late.length; n = late.length) await sched.all(late.slice(n));
        };

        /** A person deletes the update run: Fleet deletes its gates and announces each (FleetGateDeleted). */
        const deleteRun = async () => {
            const runGates = emu.gates().filter((g) => sameArmId(g.target.id, runId));
            emu.deleteUpdateRun(fleetId, REHEARSAL_RUN_NAME);
            note({
                stage: REHEARSAL_RUN_NAME,
                group: null,
                gate: null,
                subscription: "person",
                decision: "run deleted",
                reason: `the update run is deleted; Fleet deletes its ${runGates.length} gate(s) and publishes FleetGateDeleted`,
            });
            const events = runGates.flatMap((g) => {
                const pos = positions.get(g.id.toLowerCase());
                return pos
                    ? [gateEvent(pos, g.name, "deleted", g.state === "Completed" ? "Completed" : "Pending")]
                    : [];
            });
            if (events.length > 0) await publish(events);
        };

        let endedAt = start;
        await sched.spawn(async () => {
            for (const stage of cfg.updateStrategy.stages) if (!(await runStage(stage))) break;
            endedAt = clock.now();
            await drainLate();
            if (opts.deleteRun) {
                await deleteRun();
                await drainLate();
            }
        });

        return {
            stack: opts.stack,
            fleetId,
            gates,
            stuck,
            durationMs: endedAt - start,
            timeline,
            notReached: cfg.gates.filter((g) => !reached.has(positionKey(g))),
            notifications: offline.notifications,
            deadLetters: eventGrid.deadLetters.blobs,
            deliveries,
            gateWrites: emu.patchCount,
        };
    } finally {
        await emu.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

function duration(ms: number): string {
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86_400);
    const hms = [Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60), s % 60]
        .map((n) => String(n).padStart(2, "0"))
        .join(":");
    return d > 0 ? `${d}d ${hms}` : hms;
}

function table(head: string[], rows: string[][]): string[] {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd();
    return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

/** A readable timeline (virtual time) and a summary table, for a person reading a terminal. */
export function formatRehearsal(r: RehearsalResult): string {
    const t0 = r.timeline.length > 0 ? Date.parse(r.timeline[0]!.at) : 0;
    const out: string[] = [`rehearsal of stack ${r.stack} (fleet ${r.fleetId}, update run ${REHEARSAL_RUN_NAME})`, ""];
    out.push(
        ...table(
            ["+time", "virtual time", "where", "gate", "via", "decision", "why"],
            r.timeline.map((e) => [
                `+${duration(Date.parse(e.at) - t0)}`,
                e.at.replace(/\.\d{3}Z$/, "Z"),
                e.group === null ? e.stage : `${e.stage}/${e.group}`,
                e.gate === null ? "-" : JSON.stringify(e.gate),
                e.subscription ?? "-",
                e.decision,
                e.reason ?? "",
            ]),
        ),
    );
    out.push("", "summary");
    out.push(
        ...table(
            ["stage", "group", "timing", "gate", "rule", "routed by", "outcome"],
            [
                ...r.gates.map((g) => [
                    g.stage,
                    g.group ?? "-",
                    g.timing,
                    JSON.stringify(g.displayName),
                    g.rule ?? "-",
                    g.subscriptions.join(", ") || "-",
                    g.outcome,
                ]),
                ...r.notReached.map((g) => [
                    g.stage,
                    g.group ?? "-",
                    g.timing,
                    JSON.stringify(g.displayName),
                    "",
                    "",
                    "not reached",
                ]),
            ],
        ),
    );
    out.push(
        "",
        `event grid: ${r.deliveries} request(s) to the handler, ${r.gateWrites} gate approval(s) written by it, ` +
            `${r.deadLetters.length} dead-letter blob(s)`,
    );
    for (const b of r.deadLetters) {
        const first = b.records[0] ?? {};
        const reason = first.deadLetterReason ?? first.deadletterreason ?? "?";
        out.push(`  dead-lettered: ${b.path} (${b.records.length} event(s), ${String(reason)})`);
    }
    out.push("");
    if (r.stuck.length === 0)
        out.push(`the run completed: ${r.gates.length} gate(s) passed in ${duration(r.durationMs)} of virtual time`);
    else
        for (const s of r.stuck)
            out.push(
                `STUCK at "${s.displayName}" (stage ${s.stage}${s.group !== null ? `, group ${s.group}` : ""}) after ${duration(r.durationMs)}: ${s.reason}`,
            );
    return out.join("\n");
}

function mermaidText(s: string): string {
    return s.replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;");
}

const MERMAID_MARK: Record<RehearsalOutcome | "notReached", string> = {
    approved: "approved by rule",
    manual: "manual",
    held: "held",
    unrouted: "unrouted",
    notReached: "not reached",
};

/**
 * The rollout as a Mermaid flowchart, ready for a PR comment: stages (subgraphs) → groups with
 * member counts → gates, each gate marked approved by rule / manual / held / unrouted / not reached.
 */
export function rehearsalMermaid(r: RehearsalResult, model: Pick<StackConfig, "updateStrategy" | "members">): string {
    const outcome = new Map<string, RehearsalGate>();
    for (const g of r.gates)
        outcome.set(
            positionKey({
                stage: g.stage,
                ...(g.group !== null ? { group: g.group } : {}),
                timing: g.timing,
                displayName: g.displayName,
            }),
            g,
        );
    const lines = ["flowchart LR"];
    let n = 0;
    const id = () => `n${n++}`;
    let prev: string | null = null;
    const edge = (from: string | null, to: string) => {
        if (from !== null) lines.push(`    ${from} --> ${to}`);
    };
    const gateNode = (indent: string, pos: GatePosition): string => {
        const g = outcome.get(positionKey(pos));
        const kind = g?.outcome ?? "notReached";
        const rule = g?.outcome === "approved" && g.rule !== null ? ` (${g.rule})` : "";
        const node = id();
        lines.push(
            `${indent}${node}{{"${mermaidText(pos.displayName)}<br/>${pos.timing} · ${MERMAID_MARK[kind]}${mermaidText(rule)}"}}:::${kind}`,
        );
        return node;
    };
    model.updateStrategy.stages.forEach((stage, si) => {
        lines.push(`    subgraph s${si}["stage ${mermaidText(stage.name)}"]`);
        const entry = id();
        lines.push(`        ${entry}(["${mermaidText(stage.name)}"])`);
        const chain: [string, string][] = [];
        /** Gates one after another from `from`; returns the last node. */
        const chainGates = (
            from: string,
            gates: readonly { displayName: string }[] | undefined,
            timing: GateTiming,
            group?: string,
        ): string => {
            let cur = from;
            for (const g of gates ?? []) {
                const node = gateNode("        ", {
                    stage: stage.name,
                    ...(group !== undefined ? { group } : {}),
                    timing,
                    displayName: g.displayName,
                });
                chain.push([cur, node]);
                cur = node;
            }
            return cur;
        };
        const cur = chainGates(entry, stage.beforeGates, "Before");
        const ends: string[] = [];
        for (const group of stage.groups) {
            const before = chainGates(cur, group.beforeGates, "Before", group.name);
            const count = model.members.filter((m) => m.group === group.name).length;
            const gnode = id();
            lines.push(`        ${gnode}["group ${mermaidText(group.name)}<br/>${count} member(s)"]`);
            chain.push([before, gnode]);
            ends.push(chainGates(gnode, group.afterGates, "After", group.name));
        }
        let tail = ends.length > 0 ? ends : [cur];
        for (const g of stage.afterGates ?? []) {
            const node = gateNode("        ", { stage: stage.name, timing: "After", displayName: g.displayName });
            for (const e of tail) chain.push([e, node]);
            tail = [node];
        }
        for (const [a, b] of chain) lines.push(`        ${a} --> ${b}`);
        lines.push("    end");
        edge(prev, `s${si}`);
        if (stage.afterStageWaitInSeconds) {
            const wait = id();
            lines.push(`    ${wait}(["wait ${stage.afterStageWaitInSeconds} s"])`);
            lines.push(`    s${si} --> ${wait}`);
            prev = wait;
        } else prev = `s${si}`;
    });
    lines.push(
        "    classDef approved fill:#d4f7d4,stroke:#2e7d32",
        "    classDef manual fill:#fff3c4,stroke:#b28704",
        "    classDef held fill:#ffd6d6,stroke:#c62828",
        "    classDef unrouted fill:#ffd6d6,stroke:#c62828,stroke-dasharray: 4 2",
        "    classDef notReached fill:#eeeeee,stroke:#9e9e9e,color:#757575",
    );
    return lines.join("\n");
}
