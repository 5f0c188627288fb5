/**
 * Fault-injection soak: > 1,000 gates across four update runs in the ARM emulator (TLS, so the
 * SDK's bearer-token policy runs unmodified), each announced by a FleetGateCreated event (both
 * envelope schemas, both type spellings) and delivered through the real Event Grid trigger handler
 * (`createGateEventHandler` on a runtime from `createRuntime`) with Event Grid's redelivery emulated
 * on a virtual clock (`local/emulators/event-grid/`): a thrown `RedeliveryRequested` is the host's HTTP 500,
 * retried per the documented schedule. About a third of the requests on the gate and update-run
 * routes fail transiently (429 with Retry-After, 500, 503, connection resets, a few stalls); a
 * fraction of the events is delivered twice (some racing the original) and a fraction out of order.
 *
 * Invariants: every gate whose checks pass ends Completed; no gate whose check fails is ever
 * PATCHed (it ends `held`); every gate has a final decision in the audit records; one state-changing
 * PATCH per approvable gate; nothing dead-lettered. The plan (gates, schemas, duplicates, order,
 * jitter) and the emulator's fault draws are seeded; with `SOAK_CONCURRENCY=1` the run is exact
 * (concurrent deliveries otherwise decide which request draws which fault).
 */
import { InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gateEventFor, type JsonObject } from "../../../core/event-filter";
import type { ApprovalRule } from "../../../core/rules";
import {
    type DeliveryPolicy,
    type DeliveryResult,
    VirtualClock,
    deliverWithRetries,
    seededRng,
} from "../../../local/emulators/event-grid";
import { ArmEmulator, type Fault, type Route } from "../../../local/emulators/arm";
import type { AuditRecord, Outcome } from "../src/audit";
import { RedeliveryRequested, createGateEventHandler } from "../src/functions/event";
import type { Notification } from "../src/notifier";
import { createRuntime, type Runtime } from "../src/runtime";
import { readSettings } from "../src/settings";
import { MemoryStateStore } from "../src/state";
import { ALWAYS_OPEN, FLEET_ID, SUB, clusterId, countingCredential, guid } from "./helpers";

const SEED = 20260302;
const RUNS = ["run-1", "run-2", "run-3", "run-4"];
const STAGE = "prod";
/** Per update run: gates by kind. */
const PER_RUN = { okBefore: 100, okAfter: 100, stageOpen: 20, bad: 40 } as const;
const DUPLICATE_FRACTION = 0.1;
const SHUFFLE_FRACTION = 0.3;
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 16);
/** The gate events' time; Event Grid publishes at once. */
const T0 = Date.parse("2026-03-02T09:00:00Z");
/** The Fleet sample subscription's retry policy [S12][S13]: stricter than the defaults (30, 1440). */
const POLICY: DeliveryPolicy = {
    maxDeliveryAttempts: 10,
    eventTimeToLiveInMinutes: 120,
    endpointType: "AzureFunction",
};
/** Fast pipeline: 3 tries, millisecond back-off, 1.5 s per try (stalls are cut by it). */
const TUNING = { perTryTimeoutMs: 1500, maxRetries: 2, retryDelayMs: 5, maxRetryDelayMs: 40 };

const RULES: ApprovalRule[] = [
    { name: "ok-health", match: { group: "ok" }, checks: [{ type: "clusterHealth" }] },
    { name: "bad-health", match: { group: "bad" }, checks: [{ type: "clusterHealth" }] },
    { name: "stage-open", match: { displayName: "stage-open" }, checks: [ALWAYS_OPEN] },
];

const FAULT_ROUTES: Route[] = ["gates.get", "gates.patch", "updateRuns.get"];
/** Per route, in order (each draws from the emulator's seeded PRNG): ≈ 36 % of requests fault. */
const FAULTS: Omit<Fault, "route">[] = [
    { kind: "429", probability: 0.08, retryAfterSeconds: 0 },
    { kind: "429", probability: 0.04, retryAfterSeconds: 0.05 },
    { kind: "500", probability: 0.12 },
    { kind: "503", probability: 0.08, retryAfterSeconds: 0.01 },
    { kind: "reset", probability: 0.1 },
    { kind: "stall", probability: 0.01, times: 4, stallMs: 3000 },
];
const FAULT_STATUSES = new Set<unknown>([429, 500, 503, "reset", "stall"]);

type Expect = "approve" | "hold";

interface PlannedGate {
    readonly name: string;
    readonly id: string;
    readonly expect: Expect;
    readonly event: JsonObject;
}

interface Delivery {
    readonly gate: PlannedGate;
    readonly duplicate: boolean;
}

function shuffleInPlace<T>(xs: T[], rng: () => number): void {
    for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async () => {
        for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

function countBy(values: readonly (string | number)[]): Record<string, number> {
    const h: Record<string, number> = {};
    const sorted = [...values].sort((a, b) =>
        typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b)),
    );
    for (const v of sorted) h[String(v)] = (h[String(v)] ?? 0) + 1;
    return h;
}

/** Two healthy members in group ok, a stopped one in group bad; each run has stage prod with both groups. */
function buildFleet(emu: ArmEmulator): void {
    emu.addFleet(FLEET_ID);
    for (const name of ["aks-ok-1", "aks-ok-2"])
        emu.addMember(FLEET_ID, { name, clusterResourceId: clusterId(name), group: "ok", updateState: "Completed" });
    emu.addMember(FLEET_ID, {
        name: "aks-stopped-1",
        clusterResourceId: clusterId("aks-stopped-1"),
        group: "bad",
        updateState: "Completed",
        powerState: "Stopped",
    });
    for (const run of RUNS)
        emu.putUpdateRun({
            fleetId: FLEET_ID,
            name: run,
            stages: [
                {
                    name: STAGE,
                    groups: [
                        { name: "ok", members: ["aks-ok-1", "aks-ok-2"] },
                        { name: "bad", members: ["aks-stopped-1"] },
                    ],
                },
            ],
        });
}

interface GateKind {
    readonly count: number;
    readonly group?: string;
    readonly timing: "Before" | "After";
    readonly displayName: string;
    readonly expect: Expect;
}

const KINDS: readonly GateKind[] = [
    { count: PER_RUN.okBefore, group: "ok", timing: "Before", displayName: "ok-before", expect: "approve" },
    { count: PER_RUN.okAfter, group: "ok", timing: "After", displayName: "ok-after", expect: "approve" },
    { count: PER_RUN.stageOpen, timing: "Before", displayName: "stage-open", expect: "approve" },
    { count: PER_RUN.bad, group: "bad", timing: "After", displayName: "bad", expect: "hold" },
];

/** Adds the Pending gates to the emulator and builds each one's FleetGateCreated event (schema and spelling drawn). */
function planGates(emu: ArmEmulator, rng: () => number): PlannedGate[] {
    const gates: PlannedGate[] = [];
    let n = 0;
    for (const run of RUNS)
        for (const k of KINDS)
            for (let i = 0; i < k.count; i++) {
                const name = guid(++n);
                const coordinates = {
                    stage: STAGE,
                    ...(k.group !== undefined ? { group: k.group } : {}),
                    timing: k.timing,
                };
                const g = emu.addGate({
                    fleetId: FLEET_ID,
                    name,
                    displayName: k.displayName,
                    gateType: "Approval",
                    state: "Pending",
                    target: { id: `${FLEET_ID}/updateRuns/${run}`, updateRunProperties: { name: run, ...coordinates } },
                });
                const event = gateEventFor(
                    {
                        fleetId: FLEET_ID,
                        gateName: name,
                        updateRunName: run,
                        ...coordinates,
                        displayName: k.displayName,
                        time: new Date(T0).toISOString(),
                    },
                    {
                        schema: rng() < 0.3 ? "CloudEventSchemaV1_0" : "EventGridSchema",
                        spelling: rng() < 0.5 ? "AKSResources" : "AksResources",
                    },
                );
                gates.push({ name, id: g.id, expect: k.expect, event });
            }
    return gates;
}

/** Creation order, with a fraction of positions shuffled among themselves and a fraction of events duplicated. */
function planDeliveries(
    gates: readonly PlannedGate[],
    rng: () => number,
): { queue: Delivery[]; reordered: number; duplicates: number } {
    const queue: Delivery[] = gates.map((gate) => ({ gate, duplicate: false }));
    const moved = queue.map((_, i) => i).filter(() => rng() < SHUFFLE_FRACTION);
    const picked = moved.map((i) => queue[i]!);
    shuffleInPlace(picked, rng);
    moved.forEach((pos, k) => (queue[pos] = picked[k]!));
    let duplicates = 0;
    for (const gate of gates) {
        if (rng() >= DUPLICATE_FRACTION) continue;
        duplicates++;
        const at = queue.findIndex((d) => d.gate === gate);
        // Right behind the original (so it races it), or anywhere (late, or even first).
        const pos = rng() < 0.4 ? at + 1 : Math.floor(rng() * (queue.length + 1));
        queue.splice(pos, 0, { gate, duplicate: true });
    }
    return { queue, reordered: moved.length, duplicates };
}

interface Soak {
    readonly emu: ArmEmulator;
    readonly gates: readonly PlannedGate[];
    readonly approvable: readonly PlannedGate[];
    readonly failing: readonly PlannedGate[];
    readonly results: readonly { delivery: Delivery; result: DeliveryResult }[];
    readonly queueLength: number;
    readonly audits: readonly AuditRecord[];
    readonly notifications: readonly Notification[];
    /** Warning and error lines the handler logged (other than audit lines). */
    readonly logProblems: readonly string[];
    /** Errors other than `RedeliveryRequested` thrown by the handler. */
    readonly unexpected: readonly unknown[];
    readonly faultRate: number;
    /** Deliveries the handler asked to be repeated (it threw `RedeliveryRequested`). */
    readonly redeliveries: number;
}

async function runSoak(emu: ArmEmulator, started: number): Promise<Soak> {
    const rng = seededRng(SEED);
    buildFleet(emu);
    const gates = planGates(emu, rng);
    const { queue, reordered, duplicates } = planDeliveries(gates, rng);
    for (const route of FAULT_ROUTES) for (const f of FAULTS) emu.inject({ ...f, route });

    // The handler's runtime, built as in Azure from app settings, with test parts injected.
    const notifications: Notification[] = [];
    const rt = createRuntime(
        readSettings({
            FLEET_ID,
            SUBSCRIPTION_ID: SUB,
            APPROVAL_RULES: JSON.stringify(RULES),
            ESCALATE_AFTER_MINUTES: "60",
            SWEEP_SCHEDULE: "0 */5 * * * *",
            ARM_ENDPOINT: emu.url,
        }),
        {
            credential: countingCredential(),
            tuning: { ...TUNING, tlsCa: emu.ca! },
            state: new MemoryStateStore(),
            notifier: {
                async notify(x) {
                    notifications.push(x);
                },
            },
        },
    );
    const audits: AuditRecord[] = [];
    const logProblems: string[] = [...rt.warnings];
    const unexpected: unknown[] = [];
    let redeliveries = 0;
    const results: { delivery: Delivery; result: DeliveryResult }[] = [];

    await pool(queue, CONCURRENCY, async (delivery, index) => {
        // Each delivery has its own virtual clock (published at T0; a duplicate arrives a bit later),
        // which is also the engine's clock for its decisions.
        const clock = new VirtualClock(T0 + (delivery.duplicate ? 90_000 : 0));
        const runtime: Runtime = { ...rt, deps: { ...rt.deps, clock: clock.now } };
        const handler = createGateEventHandler(() => runtime);
        const result = await deliverWithRetries(
            delivery.gate.event,
            async (event, info) => {
                const context = new InvocationContext({
                    invocationId: `d${index}-a${info.attempt}`,
                    functionName: "gate-event",
                    logHandler: (level, ...args) => {
                        const text = args.map(String).join(" ");
                        if (text.startsWith('{"msg":"gate decision"')) audits.push(JSON.parse(text) as AuditRecord);
                        else if (level === "warning" || level === "error") logProblems.push(text);
                    },
                });
                try {
                    await handler(event, context);
                    return 202; // what the Event Grid extension answers when the invocation succeeded
                } catch (e) {
                    if (e instanceof RedeliveryRequested) redeliveries++;
                    else unexpected.push(e);
                    return 500; // what the host answers when the function throws
                }
            },
            { ...POLICY, rng: seededRng(SEED + index), publishedAt: T0 },
            clock,
        );
        results.push({ delivery, result });
    });
    const wallMs = performance.now() - started;

    const log = emu.requests;
    const onFaultRoutes = log.filter((r) => (FAULT_ROUTES as string[]).includes(r.route));
    const faulted = onFaultRoutes.filter((r) => FAULT_STATUSES.has(r.status));
    const faultRate = faulted.length / onFaultRoutes.length;
    const approvable = gates.filter((g) => g.expect === "approve");
    const failing = gates.filter((g) => g.expect === "hold");
    const maxElapsed = Math.max(...results.map((r) => r.result.elapsedMs));
    console.info(
        [
            `soak: ${gates.length} gates (${approvable.length} approvable, ${failing.length} failing) in ` +
                `${RUNS.length} update runs; ${queue.length} deliveries (${duplicates} duplicates, ` +
                `${reordered} reordered), concurrency ${CONCURRENCY}`,
            `  faults injected: ${faulted.length}/${onFaultRoutes.length} requests on ${FAULT_ROUTES.join(", ")} = ` +
                `${(100 * faultRate).toFixed(1)} % ${JSON.stringify(countBy(faulted.map((r) => String(r.status))))}; ` +
                `${log.length} requests in all`,
            `  Event Grid attempts per delivery: ${JSON.stringify(countBy(results.map((r) => r.result.attempts)))}; ` +
                `${redeliveries} redeliveries requested (HTTP 500); longest delivery ${(maxElapsed / 1000).toFixed(0)} s virtual`,
            `  decisions: ${JSON.stringify(countBy(audits.map((a) => a.outcome)))}; state-changing PATCHes: ` +
                `${emu.patchCount}; notifications: ${JSON.stringify(countBy(notifications.map((x) => x.kind)))}`,
            `  wall time ${(wallMs / 1000).toFixed(1)} s`,
        ].join("\n"),
    );
    return {
        emu,
        gates,
        approvable,
        failing,
        results,
        queueLength: queue.length,
        audits,
        notifications,
        logProblems,
        unexpected,
        faultRate,
        redeliveries,
    };
}

let emulator: ArmEmulator | undefined;
let soak: Soak;
beforeAll(async () => {
    const started = performance.now();
    emulator = await ArmEmulator.start({ tls: true, seed: SEED });
    soak = await runSoak(emulator, started);
}, 120_000);
afterAll(async () => {
    await emulator?.stop();
});

/** Decisions other than `retry` for a gate, from the audit records. */
function finals(g: PlannedGate): Outcome[] {
    const id = g.id.toLowerCase();
    return soak.audits.filter((a) => a.gateId?.toLowerCase() === id && a.outcome !== "retry").map((a) => a.outcome);
}

describe("fault-injection soak: > 1,000 gates through the Event Grid trigger, with redelivery", () => {
    it("ran at scale under at least 30 % transient faults, without crashing or logging problems", () => {
        expect(soak.gates.length).toBeGreaterThanOrEqual(1000);
        expect(soak.faultRate).toBeGreaterThanOrEqual(0.3);
        expect(soak.unexpected).toEqual([]);
        expect(soak.logProblems).toEqual([]);
        expect(soak.audits.every((a) => a.gateId !== undefined)).toBe(true);
        // Event Grid's redelivery was exercised, not just the pipeline's retries.
        expect(soak.redeliveries).toBeGreaterThan(0);
        expect(soak.results.filter((r) => r.result.attempts > 1).length).toBeGreaterThan(0);
        expect(soak.results.filter((r) => r.delivery.duplicate).length).toBeGreaterThan(0);
    });

    it("dead-lettered nothing: every delivery ended with a 2xx", () => {
        expect(soak.results).toHaveLength(soak.queueLength);
        const undelivered = soak.results.filter(
            (r) => !r.result.delivered || r.result.deadLettered || r.result.dropped,
        );
        expect(undelivered.map((r) => ({ gate: r.delivery.gate.name, ...r.result }))).toEqual([]);
    });

    it("completed every gate whose checks pass", () => {
        const notCompleted = soak.approvable.filter((g) => soak.emu.gate(g.id)?.state !== "Completed");
        expect(notCompleted.map((g) => ({ gate: g.name, decisions: finals(g) }))).toEqual([]);
    });

    it("completed no gate whose check fails, and never PATCHed one: each ended held", () => {
        const failingNames = new Set(soak.failing.map((g) => g.name));
        const patches = soak.emu.requests.filter(
            (r) =>
                r.route === "gates.patch" && failingNames.has(r.path.slice(r.path.lastIndexOf("/") + 1).toLowerCase()),
        );
        expect(patches).toEqual([]);
        for (const g of soak.failing) {
            expect(soak.emu.gate(g.id)?.state, g.name).toBe("Pending");
            const f = finals(g);
            expect(f.length, g.name).toBeGreaterThan(0);
            expect(new Set(f), g.name).toEqual(new Set(["held"]));
        }
    });

    it("lost none: every approvable gate has a final approval decision, at most one `approved`", () => {
        for (const g of soak.approvable) {
            const f = finals(g);
            expect(f.length, g.name).toBeGreaterThan(0);
            expect(
                f.filter((o) => o !== "approved" && o !== "already-completed"),
                g.name,
            ).toEqual([]);
            expect(f.filter((o) => o === "approved").length, g.name).toBeLessThanOrEqual(1);
        }
    });

    it("changed each approvable gate's state with exactly one PATCH (duplicates and redeliveries included)", () => {
        expect(soak.emu.patchCount).toBe(soak.approvable.length);
    });

    it("notified each held gate once, and no passing gate as held or manual", () => {
        const held = soak.notifications.filter((x) => x.kind === "held").map((x) => x.gateId.toLowerCase());
        expect(held.length).toBe(new Set(held).size);
        expect(new Set(held)).toEqual(new Set(soak.failing.map((g) => g.id.toLowerCase())));
        expect(soak.notifications.filter((x) => x.kind === "manual")).toEqual([]);
    });
});
