/**
 * `npm run rehearse`: an update run of a stack, simulated end to end with no Azure account.
 *
 * The stack is planned (`planStack`), so the event subscriptions and their filters are exactly the
 * ones the program deploys. The loopback ARM emulator is seeded with the fleet and healthy members
 * (update state `NotStarted`) and one update run `rehearsal-1` built from the strategy. The run is
 * then walked as Fleet walks it, on a virtual clock starting at `now`: per stage its Before gates,
 * then its groups in declaration order (sequentially; Fleet runs them in parallel, which only
 * matters for timing), per group its Before gates, the "upgrade" of its members (`Completed`, or
 * `Failed` for members in `fail`), its After gates; then the stage's After gates and
 * `afterStageWaitInSeconds`.
 *
 * At each gate: the gate is created Pending in the emulator (lower-case GUID name), FleetGateCreated
 * is published as the service shapes it (`AksResources` spelling, each subscription's delivery
 * schema), every subscription's filter is evaluated (`core/event-filter.ts`) and the event is
 * delivered to the REAL handler trigger for each matching subscription with Event Grid's retry
 * schedule (`deliverWithRetries`: a `RedeliveryRequested` = 500 is retried on the virtual clock).
 * Then:
 * - approved by the handler → next gate;
 * - held → the reconcile sweep (`sweep`, same runtime) runs every `sweepMinutes` of virtual time
 *   until the gate is approved or the horizon is reached (window checks open as time moves);
 * - a gate no approval rule matches is **manual**: with `approveManual` a person marks it Completed
 *   (the outcome stays `manual`), otherwise the run waits there;
 * - a gate an approval rule matches but no rule subscription's filter routes is **unrouted** (the
 *   lifecycle subscription does not count). In Azure the sweep could still pick it up, but the
 *   event path is broken, which is what the rehearsal exists to catch: it is reported as stuck.
 * When a gate completes, FleetGateUpdated is published (to the lifecycle subscription).
 *
 * Stuck gates (unrouted, manual without `approveManual`, held at the horizon) stop the walk: the run
 * cannot pass them. Gates after it are not in `gates`; they are listed in `notReached`.
 *
 * The world is healthy unless told otherwise: clusters provisioned and running, every metric a rule
 * checks reported at a passing value, every URL an `http` check calls answering what the check
 * expects (no request leaves the machine). Member upgrades take no virtual time.
 */
import { createDefaultHttpClient, createHttpHeaders, type HttpClient } from "@azure/core-rest-pipeline";
import { createHash } from "node:crypto";
import {
    evaluateFilter,
    explainFilter,
    gateEventFor,
    type EventSchema,
    type EventSubscriptionFilter,
    type GateEventKind,
    type GateEventSpec,
    type JsonObject,
} from "../core/event-filter";
import { rulesForGate, type ApprovalRule, type GateTiming } from "../core/rules";
import type { GatePosition } from "../core/strategy";
import { parseConfigMap, type StackConfig } from "../config";
import type { Decision } from "../handlers/gate-approval/src/audit";
import { RedeliveryRequested } from "../handlers/gate-approval/src/functions/event";
import type { Notification } from "../handlers/gate-approval/src/notifier";
import { managedClusterId } from "../components/fleet";
import { LIFECYCLE_SUBSCRIPTION_NAME } from "../components/gate-events";
import { ArmEmulator, type Fault } from "./arm-emulator";
import { deliverWithRetries, VirtualClock, type DeliveryResult } from "./event-grid";
import { OFFLINE_DEFAULTS } from "./mocks";
import { offlineHandler } from "./offline-handler";
import { planStack, type Plan } from "./plan";

export const REHEARSAL_RUN_NAME = "rehearsal-1";
export const DEFAULT_HORIZON_HOURS = 7 * 24;

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
    readonly stage: string;
    readonly group: string | null;
    /** The gate's display name; null for upgrades and waits. */
    readonly gate: string | null;
    /** The subscription that delivered the event, `sweep`, `person`, or null. */
    readonly subscription: string | null;
    /** created · a handler outcome (approved, held, manual, ignored, …) · upgraded · wait · unrouted · stuck · … */
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
    /** Gates after the first stuck one, which the run never reached (not in `gates`). */
    readonly notReached: GatePosition[];
    /** What the handler sent to its notifier (manual gates, holds, escalations). */
    readonly notifications: readonly Notification[];
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
    /** An already computed plan of the stack (skips planning; lets callers rehearse a modified plan). */
    readonly plan?: Plan;
    /** Faults injected into the ARM emulator once it is seeded (e.g. 503s on `gates.patch`: Event Grid redelivers). */
    readonly faults?: readonly Fault[];
    /** Progress of long phases (held gates swept over virtual days), one line each. */
    readonly onProgress?: (line: string) => void;
}

interface Subscription {
    readonly name: string;
    readonly filter: EventSubscriptionFilter;
    readonly schema: EventSchema;
    readonly lifecycle: boolean;
    readonly maxDeliveryAttempts?: number;
    readonly eventTimeToLiveInMinutes?: number;
    readonly deadLetter: boolean;
}

const SUBSCRIPTION_TYPE = "azure-native:eventgrid:SystemTopicEventSubscription";

/** The event subscriptions of a plan, as deployed (name, filter, delivery schema, retry policy). */
export function planSubscriptions(plan: Plan): Subscription[] {
    return plan.resources
        .filter((r) => r.type === SUBSCRIPTION_TYPE)
        .map((r) => {
            const i = r.inputs;
            const name = typeof i.eventSubscriptionName === "string" ? i.eventSubscriptionName : r.name;
            const retry = (i.retryPolicy ?? {}) as { maxDeliveryAttempts?: number; eventTimeToLiveInMinutes?: number };
            return {
                name,
                filter: (i.filter ?? {}) as EventSubscriptionFilter,
                schema: i.eventDeliverySchema === "CloudEventSchemaV1_0" ? "CloudEventSchemaV1_0" : "EventGridSchema",
                lifecycle: name.toLowerCase() === LIFECYCLE_SUBSCRIPTION_NAME.toLowerCase(),
                ...(typeof retry.maxDeliveryAttempts === "number"
                    ? { maxDeliveryAttempts: retry.maxDeliveryAttempts }
                    : {}),
                ...(typeof retry.eventTimeToLiveInMinutes === "number"
                    ? { eventTimeToLiveInMinutes: retry.eventTimeToLiveInMinutes }
                    : {}),
                deadLetter: i.deadLetterWithResourceIdentity !== undefined || i.deadLetterDestination !== undefined,
            };
        });
}

/** A lower-case GUID derived from the parts (stable across rehearsals of the same stack and start). */
function guidOf(...parts: string[]): string {
    const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** ISO 8601 with 7 fractional digits, as the service's samples carry. */
function eventTime(ms: number): string {
    return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");
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

class Stuck extends Error {}

/** A reason with its numbers blanked: what changes between two sweeps' reasons when nothing really changed. */
function shape(reason: string | undefined): string {
    return (reason ?? "").replace(/\d+/g, "#").replace(/\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b/g, "#");
}

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

    const start = (opts.now ?? new Date()).getTime();
    const clock = new VirtualClock(start);
    const horizon = start + horizonHours * 3_600_000;
    const sweepMs = cfg.handler.sweepMinutes * 60_000;

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

        /** Publishes one gate event to every subscription whose filter matches; delivers each. */
        const publish = async (
            pos: GatePosition,
            gateName: string,
            kind: GateEventKind,
        ): Promise<{ sub: Subscription; delivery: DeliveryResult; decisions: readonly Decision[] }[]> => {
            const time = eventTime(clock.now());
            const out: { sub: Subscription; delivery: DeliveryResult; decisions: readonly Decision[] }[] = [];
            for (const sub of subscriptions) {
                const event = gateEventFor(
                    { ...gateSpec(pos, gateName), kind, time },
                    { schema: sub.schema, spelling: "AksResources" },
                );
                if (!evaluateFilter(sub.filter, event, sub.schema)) continue;
                let decisions: readonly Decision[] = [];
                const delivery = await deliverWithRetries<JsonObject>(
                    event,
                    async (ev) => {
                        try {
                            decisions = await offline.trigger(ev, context());
                            return 200;
                        } catch (e) {
                            if (e instanceof RedeliveryRequested) decisions = e.decisions;
                            throw e;
                        }
                    },
                    {
                        ...(sub.maxDeliveryAttempts !== undefined
                            ? { maxDeliveryAttempts: sub.maxDeliveryAttempts }
                            : {}),
                        ...(sub.eventTimeToLiveInMinutes !== undefined
                            ? { eventTimeToLiveInMinutes: sub.eventTimeToLiveInMinutes }
                            : {}),
                        deadLetter: sub.deadLetter,
                    },
                    clock,
                );
                out.push({ sub, delivery, decisions });
            }
            return out;
        };

        const completed = (gateId: string) => emu.gate(gateId)?.state === "Completed";

        /** One gate, from creation to Completed; throws `Stuck` when the run cannot pass it. */
        const gateStep = async (pos: GatePosition, ordinal: number): Promise<void> => {
            reached.add(positionKey(pos));
            const group = pos.group ?? null;
            const where = { stage: pos.stage, group, gate: pos.displayName };
            const gateName = guidOf(opts.stack, String(start), String(ordinal), positionKey(pos));
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
            note({ ...where, subscription: null, decision: "created", reason: `gate ${gateName} Pending` });

            const rules = rulesForGate(cfg.approvals, pos);
            const deliveries = await publish(pos, gateName, "created");
            const routed = deliveries.filter((d) => !d.sub.lifecycle);
            let rule: string | null = rules[0]?.name ?? null;
            for (const d of deliveries) {
                const last = d.decisions[d.decisions.length - 1];
                if (last?.rule !== undefined) rule = last.rule;
                const retries = d.delivery.attempts > 1 ? ` (after ${d.delivery.attempts} attempts)` : "";
                note({
                    ...where,
                    subscription: d.sub.name,
                    decision: d.delivery.delivered
                        ? (last?.outcome ?? "delivered")
                        : d.delivery.deadLettered
                          ? "dead-lettered"
                          : "dropped",
                    reason: d.delivery.delivered
                        ? `${last?.reason ?? (last?.outcome === "approved" ? `checks passed${retries}` : "")}`.trim() ||
                          null
                        : `${d.delivery.reason ?? "undeliverable"} after ${d.delivery.attempts} attempt(s)`,
                });
            }
            const record = (outcome: RehearsalOutcome) =>
                gates.push({
                    stage: pos.stage,
                    group,
                    timing: pos.timing,
                    displayName: pos.displayName,
                    rule,
                    subscriptions: routed.map((d) => d.sub.name),
                    outcome,
                });
            const stop = (outcome: RehearsalOutcome, reason: string): never => {
                record(outcome);
                stuck.push({ displayName: pos.displayName, stage: pos.stage, group, reason });
                note({ ...where, subscription: null, decision: "stuck", reason });
                throw new Stuck(reason);
            };

            if (routed.length === 0 && rules.length > 0) {
                const why = subscriptions
                    .filter((s) => !s.lifecycle)
                    .map((s) => {
                        const event = gateEventFor(gateSpec(pos, gateName), {
                            schema: s.schema,
                            spelling: "AksResources",
                        });
                        return `${s.name}: ${explainFilter(s.filter, event, s.schema).reason ?? "?"}`;
                    });
                const wanted = rules.map((r) => r.name).join(", ");
                note({ ...where, subscription: null, decision: "unrouted", reason: null });
                stop(
                    "unrouted",
                    `rule ${wanted} matches the gate but no rule subscription's filter routes FleetGateCreated` +
                        (why.length > 0 ? ` (${why.join("; ")})` : " (no rule subscriptions in the plan)"),
                );
            }

            const handlerSaysManual = routed.some((d) => d.decisions.some((x) => x.outcome === "manual"));
            if (!completed(gate.id) && (rules.length === 0 || handlerSaysManual)) {
                if (!opts.approveManual)
                    stop("manual", "manual gate: no approval rule decides it; the run waits for a person");
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
                    .flatMap((d) => d.decisions)
                    .map((d) => d.reason)
                    .pop();
                let sweeps = 0;
                let progressAt = clock.now();
                while (!completed(gate.id)) {
                    const next = clock.now() + sweepMs;
                    if (next > horizon) {
                        clock.advanceTo(Math.max(clock.now(), horizon));
                        stop(
                            "held",
                            `held until the horizon (${horizonHours} h, ${sweeps} sweep(s)): ${lastReason ?? "checks failing"}`,
                        );
                    }
                    clock.advanceTo(next);
                    sweeps++;
                    const decisions = await offline.sweep();
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
                                    ? `checks passed after ${sweeps} sweep(s)`
                                    : (mine.reason ?? null),
                        });
                        lastReason = mine.reason;
                    }
                    if (opts.onProgress && clock.now() - progressAt >= 24 * 3_600_000) {
                        progressAt = clock.now();
                        opts.onProgress(
                            `  … ${pos.displayName}: still held at ${at()} (${sweeps} sweeps): ${lastReason ?? ""}`,
                        );
                    }
                }
                record("approved");
            }

            // The gate is Completed: the service announces it.
            for (const d of await publish(pos, gateName, "updated"))
                note({
                    ...where,
                    subscription: d.sub.name,
                    decision: `updated: ${d.decisions[d.decisions.length - 1]?.outcome ?? (d.delivery.delivered ? "delivered" : "undelivered")}`,
                    reason: null,
                });
        };

        const upgrade = (stage: string, group: string) => {
            const members = membersOf(group);
            for (const m of members)
                emu.setMember(m.name, { updateState: failing.has(m.name.toLowerCase()) ? "Failed" : "Completed" });
            const failed = members.filter((m) => failing.has(m.name.toLowerCase())).map((m) => m.name);
            note({
                stage,
                group,
                gate: null,
                subscription: null,
                decision: "upgraded",
                reason:
                    `${members.length - failed.length}/${members.length} member(s) Completed` +
                    (failed.length > 0 ? `; Failed: ${failed.join(", ")}` : ""),
            });
        };

        let ordinal = 0;
        const step = (pos: GatePosition) => gateStep(pos, ordinal++);
        try {
            for (const stage of cfg.updateStrategy.stages) {
                for (const g of stage.beforeGates ?? [])
                    await step({ stage: stage.name, timing: "Before", displayName: g.displayName });
                for (const group of stage.groups) {
                    for (const g of group.beforeGates ?? [])
                        await step({
                            stage: stage.name,
                            group: group.name,
                            timing: "Before",
                            displayName: g.displayName,
                        });
                    upgrade(stage.name, group.name);
                    for (const g of group.afterGates ?? [])
                        await step({
                            stage: stage.name,
                            group: group.name,
                            timing: "After",
                            displayName: g.displayName,
                        });
                }
                for (const g of stage.afterGates ?? [])
                    await step({ stage: stage.name, timing: "After", displayName: g.displayName });
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
                    clock.advance(wait * 1000);
                }
            }
        } catch (e) {
            if (!(e instanceof Stuck)) throw e;
        }

        return {
            stack: opts.stack,
            fleetId,
            gates,
            stuck,
            durationMs: clock.now() - start,
            timeline,
            notReached: cfg.gates.filter((g) => !reached.has(positionKey(g))),
            notifications: offline.notifications,
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
