/**
 * Event Grid publishing, emulated, against `shared/reference/event-grid.md`: the Event Grid →
 * CloudEvents mapping (§5.3), request bodies (§4.1), batching (§4.5), dead-letter blobs in Azure's
 * path and format (§4.4), duplicates and shuffled order (§4.6), and the Functions host's answers
 * (§6.1), through `EventGridEmulator`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
    compileLifecycleFilter,
    compileRuleFilter,
    gateEventFor,
    gateEventVariants,
    type GateEventSpec,
    type JsonObject,
    type JsonValue,
} from "../core/event-filter";
import {
    azureFunctionEndpoint,
    batchEvents,
    DEAD_LETTER_WRITE_DELAY_MS,
    deadLetterBlobPath,
    deadLetterRecord,
    DeadLetterStore,
    deliveryOutcomeOf,
    type Delivery,
    type DeliveryStatus,
    type DeliverySubscription,
    type Endpoint,
    EventGridEmulator,
    planDeliveries,
    requestBody,
    seededRng,
    serviceTime,
    toCloudEvent,
    VirtualClock,
} from "../local/emulators/event-grid";

const S = 1000;
const M = 60 * S;
const FIXTURES = join(__dirname, "../../shared/fixtures/events");
const fixture = (p: string): JsonValue => JSON.parse(readFileSync(join(FIXTURES, p), "utf8")) as JsonValue;

const SUB = "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e";
const FLEET = `/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`;
const T0 = Date.parse("2026-11-24T09:00:00Z");

const spec = (n: number, extra: Partial<GateEventSpec> = {}): GateEventSpec => ({
    fleetId: FLEET,
    gateName: `6f1c2a4e-8d3b-4c5a-9e7f-1a2b3c4d5e${String(n).padStart(2, "0")}`,
    updateRunName: "run-1",
    stage: "dev",
    timing: "Before",
    displayName: "Check with sales team",
    time: serviceTime(T0),
    ...extra,
});
const created = (n: number) => gateEventFor(spec(n), { schema: "EventGridSchema" });

const RULE = compileRuleFilter(
    { name: "sales-check", match: { displayName: "Check with sales team" }, checks: [{ type: "clusterHealth" }] },
    FLEET,
);

describe("Event Grid → CloudEvents (§5.3)", () => {
    it.each(["created", "updated", "deleted"] as const)(
        "a %s event converts to what a CloudEvents subscription of the service receives",
        (kind) => {
            const s = spec(1, { kind, group: "blue", timing: "After" });
            for (const spelling of ["AKSResources", "AksResources"] as const) {
                const eg = gateEventFor(s, { schema: "EventGridSchema", spelling });
                const ce = gateEventFor(s, { schema: "CloudEventSchemaV1_0", spelling });
                expect(toCloudEvent(eg)).toEqual(ce);
                // Same key order as the service's samples, dataVersion/metadataVersion dropped.
                expect(Object.keys(toCloudEvent(eg))).toEqual(Object.keys(ce));
            }
        },
    );

    it("maps the published Event Grid-schema sample field by field", () => {
        const eg = (fixture("resolved/eventgrid-schema-gate-created.json") as JsonObject[])[0]!;
        expect(toCloudEvent(eg)).toEqual({
            source: eg.topic,
            subject: eg.subject,
            type: eg.eventType,
            time: eg.eventTime,
            id: eg.id,
            data: eg.data,
            specversion: "1.0",
        });
    });
});

describe("request bodies (§4.1)", () => {
    const a = created(1);
    const b = created(2);
    it.each<[string, JsonObject[], "EventGridSchema" | "CloudEventSchemaV1_0", JsonValue]>([
        ["Event Grid schema, one event: an array of one", [a], "EventGridSchema", [a]],
        ["Event Grid schema, a batch: an array", [a, b], "EventGridSchema", [a, b]],
        ["CloudEvents, one event: the object itself", [a], "CloudEventSchemaV1_0", a],
        ["CloudEvents, a batch: an array", [a, b], "CloudEventSchemaV1_0", [a, b]],
    ])("%s", (_l, events, schema, body) => {
        expect(requestBody(events, schema)).toEqual(body);
    });
});

describe("batchEvents (§4.5)", () => {
    const ev = (bytes: number) => ({ bytes });
    const size = (e: { bytes: number }) => e.bytes;
    const sizes = (batches: { bytes: number }[][]) => batches.map((b) => b.map((e) => e.bytes));
    it.each<[string, number[], { maxEventsPerBatch?: number; preferredBatchSizeInKilobytes?: number }, number[][]]>([
        ["off by default: one event per request", [1, 2, 3], {}, [[1], [2], [3]]],
        ["maxEventsPerBatch", [1, 2, 3, 4, 5], { maxEventsPerBatch: 2 }, [[1, 2], [3, 4], [5]]],
        [
            "a request closes before it would pass the preferred size",
            [600, 600, 600],
            { maxEventsPerBatch: 10, preferredBatchSizeInKilobytes: 1 },
            [[600], [600], [600]],
        ],
        [
            "events fill a request up to the preferred size",
            [400, 400, 400, 100],
            { maxEventsPerBatch: 10, preferredBatchSizeInKilobytes: 1 },
            [
                [400, 400],
                [400, 100],
            ],
        ],
        [
            "an event larger than the preferred size goes alone",
            [100, 5000, 100],
            { maxEventsPerBatch: 10, preferredBatchSizeInKilobytes: 1 },
            [[100], [5000], [100]],
        ],
        ["nothing to send", [], { maxEventsPerBatch: 5 }, []],
    ])("%s", (_l, bytes, settings, expected) => {
        expect(sizes(batchEvents(bytes.map(ev), settings, size))).toEqual(expected);
    });

    it.each([
        { maxEventsPerBatch: 0 },
        { maxEventsPerBatch: 5001 },
        { maxEventsPerBatch: 1.5 },
        { preferredBatchSizeInKilobytes: 0 },
        { preferredBatchSizeInKilobytes: 1025 },
    ])("rejects settings outside Event Grid's ranges: %j", (settings) => {
        expect(() => batchEvents([1], settings)).toThrow(RangeError);
    });

    it("keeps every event once, in order, within the limits (generated)", () => {
        fc.assert(
            fc.property(
                fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 40 }),
                fc.integer({ min: 1, max: 8 }),
                fc.integer({ min: 1, max: 4 }),
                (bytes, maxEventsPerBatch, kb) => {
                    const batches = batchEvents(
                        bytes.map(ev),
                        { maxEventsPerBatch, preferredBatchSizeInKilobytes: kb },
                        size,
                    );
                    expect(batches.flat().map((e) => e.bytes)).toEqual(bytes);
                    for (const b of batches) {
                        expect(b.length).toBeGreaterThan(0);
                        expect(b.length).toBeLessThanOrEqual(maxEventsPerBatch);
                        const total = b.reduce((n, e) => n + e.bytes, 0);
                        if (b.length > 1) expect(total).toBeLessThanOrEqual(kb * 1024);
                    }
                },
            ),
        );
    });
});

describe("dead-letter blobs (§4.4)", () => {
    it.each<[DeliveryStatus, string]>([
        [400, "BadRequest"],
        [401, "Unauthorized"],
        [403, "Forbidden"],
        [404, "NotFound"],
        [408, "TimedOut"],
        ["timeout", "TimedOut"],
        [413, "PayloadTooLarge"],
        ["reset", "SocketError"],
        [500, "Busy"],
        [503, "Busy"],
        [429, "Busy"],
    ])("lastDeliveryOutcome of %s is %s", (status, outcome) => {
        expect(deliveryOutcomeOf(status)).toBe(outcome);
    });

    it("a success is not a failed attempt's outcome", () => {
        expect(() => deliveryOutcomeOf(202)).toThrow(RangeError);
    });

    it("puts the blob where the docs' example does: <container>/<SUBSCRIPTION>/<yyyy>/<M>/<d>/<H>/<guid>.json, UTC, not zero-padded", () => {
        const guid = "111111111-1111-1111-1111-111111111111";
        expect(
            deadLetterBlobPath("myblobcontainer", "My-Blob-Subscription", Date.parse("2019-08-08T05:59:59Z"), guid),
        ).toBe(`myblobcontainer/MY-BLOB-SUBSCRIPTION/2019/8/8/5/${guid}.json`);
        expect(deadLetterBlobPath("dl", "gate-lifecycle", Date.parse("2026-12-31T23:00:00Z"), "g")).toBe(
            "dl/GATE-LIFECYCLE/2026/12/31/23/g.json",
        );
        // The path's hour is UTC whatever the local zone of the machine.
        expect(deadLetterBlobPath("dl", "s", Date.parse("2026-01-01T00:30:00+02:00"), "g")).toBe(
            "dl/S/2025/12/31/22/g.json",
        );
    });

    it("appends the Event Grid-schema delivery fields to the event", () => {
        const e = created(1);
        const record = deadLetterRecord(e, "EventGridSchema", {
            reason: "MaxDeliveryAttemptsExceeded",
            deliveryAttempts: 10,
            lastStatus: 404,
            lastAttemptAt: T0 + 3 * M,
            publishedAt: T0,
        });
        expect(record).toEqual({
            ...e,
            deadLetterReason: "MaxDeliveryAttemptsExceeded",
            deliveryAttempts: 10,
            lastDeliveryOutcome: "NotFound",
            publishTime: "2026-11-24T09:00:00.0000000Z",
            lastDeliveryAttemptTime: "2026-11-24T09:03:00.0000000Z",
        });
        expect(Object.keys(record).slice(-5)).toEqual([
            "deadLetterReason",
            "deliveryAttempts",
            "lastDeliveryOutcome",
            "publishTime",
            "lastDeliveryAttemptTime",
        ]);
    });

    it("appends the CloudEvents fields lower-cased, as the published sample shows", () => {
        const e = toCloudEvent(created(1));
        const record = deadLetterRecord(e, "CloudEventSchemaV1_0", {
            reason: "EventTimeToLiveExpired",
            deliveryAttempts: 3,
            lastStatus: 500,
            lastAttemptAt: T0 + M,
            publishedAt: T0,
        });
        expect(record).toEqual({
            ...e,
            deadletterreason: "EventTimeToLiveExpired",
            deliveryattempts: 3,
            lastdeliveryoutcome: "Busy",
            publishtime: "2026-11-24T09:00:00.0000000Z",
        });
    });

    it("leaves the last-attempt fields out when no attempt was made", () => {
        const record = deadLetterRecord(created(1), "EventGridSchema", {
            reason: "EventTimeToLiveExpired",
            deliveryAttempts: 0,
            publishedAt: T0,
        });
        expect(record).not.toHaveProperty("lastDeliveryOutcome");
        expect(record).not.toHaveProperty("lastDeliveryAttemptTime");
        expect(record).toMatchObject({ deliveryAttempts: 0, deadLetterReason: "EventTimeToLiveExpired" });
    });

    it("stores each blob as a JSON array under a fresh GUID", () => {
        const store = new DeadLetterStore();
        const a = store.write("dl", "gate-x", T0, [created(1), created(2)]);
        const b = store.write("dl", "gate-x", T0, [created(1)]);
        expect(a.path).toMatch(
            /^dl\/GATE-X\/2026\/11\/24\/9\/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.json$/,
        );
        expect(b.path).not.toBe(a.path);
        expect(JSON.parse(store.read(a.path)!)).toEqual([created(1), created(2)]);
        expect(store.read("dl/none.json")).toBeUndefined();
        expect(() => store.write("dl", "gate-x", T0, [])).toThrow(RangeError);
    });
});

describe("planDeliveries: duplicates and order (§4.6)", () => {
    it("without chaos: each delivery once, in order, now", () => {
        expect(planDeliveries(["a", "b", "c"])).toEqual([
            { item: "a", duplicate: false, delayMs: 0 },
            { item: "b", duplicate: false, delayMs: 0 },
            { item: "c", duplicate: false, delayMs: 0 },
        ]);
    });

    it("rate 1: every delivery twice, the duplicate at most maxDuplicateDelayMs late", () => {
        fc.assert(
            fc.property(fc.integer(), fc.integer({ min: 0, max: 10 * M }), (seed, maxDuplicateDelayMs) => {
                const plan = planDeliveries(
                    ["a", "b", "c"],
                    { duplicateRate: 1, maxDuplicateDelayMs },
                    seededRng(seed),
                );
                expect(plan.filter((p) => !p.duplicate).map((p) => p.item)).toEqual(["a", "b", "c"]);
                expect(
                    plan
                        .filter((p) => p.duplicate)
                        .map((p) => p.item)
                        .sort(),
                ).toEqual(["a", "b", "c"]);
                for (const p of plan) expect(p.delayMs).toBeLessThanOrEqual(maxDuplicateDelayMs);
                // Due-now deliveries first, later ones by delay.
                const delays = plan.map((p) => p.delayMs);
                const firstLate = delays.findIndex((d) => d > 0);
                if (firstLate >= 0)
                    expect(delays.slice(firstLate)).toEqual([...delays.slice(firstLate)].sort((x, y) => x - y));
            }),
        );
    });

    it("a rate between 0 and 1 duplicates about that share", () => {
        const items = Array.from({ length: 2000 }, (_, i) => i);
        const dups = planDeliveries(items, { duplicateRate: 0.25 }, seededRng(7)).filter((p) => p.duplicate).length;
        expect(dups).toBeGreaterThan(400);
        expect(dups).toBeLessThan(600);
    });

    it("shuffle permutes the deliveries due now, reproducibly per seed", () => {
        const items = Array.from({ length: 30 }, (_, i) => i);
        const one = planDeliveries(items, { shuffle: true }, seededRng(3)).map((p) => p.item);
        expect(one).not.toEqual(items);
        expect([...one].sort((a, b) => a - b)).toEqual(items);
        expect(planDeliveries(items, { shuffle: true }, seededRng(3)).map((p) => p.item)).toEqual(one);
    });

    it.each([
        [{ duplicateRate: 1.5 }, seededRng(1), /duplicateRate/],
        [{ duplicateRate: -0.1 }, seededRng(1), /duplicateRate/],
        [{ maxDuplicateDelayMs: -1 }, seededRng(1), /maxDuplicateDelayMs/],
        [{ duplicateRate: 0.5 }, undefined, /rng/],
        [{ shuffle: true }, undefined, /rng/],
    ])("rejects %j", (chaos, rng, message) => {
        expect(() => planDeliveries(["a"], chaos, rng)).toThrow(message);
    });
});

/** An endpoint answering from a script per subscription; records every request. */
function scripted(statuses: Record<string, DeliveryStatus[]> = {}) {
    const requests: { sub: string; body: JsonValue; attempt: number; now: number }[] = [];
    const fn: Endpoint = (sub, body, info) => {
        requests.push({ sub: sub.name, body, attempt: info.attempt, now: info.now });
        const script = statuses[sub.name];
        return script && script.length > 0 ? script.shift()! : 202;
    };
    return { fn, requests };
}

const lifecycle: DeliverySubscription = {
    name: "gate-lifecycle",
    filter: compileLifecycleFilter(FLEET),
    deadLetterContainer: "gate-events-deadletter",
};
const rule: DeliverySubscription = {
    name: "gate-sales-check",
    filter: RULE,
    deadLetterContainer: "gate-events-deadletter",
};

describe("EventGridEmulator", () => {
    it("routes each event through each subscription's filter, in its delivery schema", async () => {
        const ce: DeliverySubscription = { ...rule, name: "gate-sales-check-ce", schema: "CloudEventSchemaV1_0" };
        const { fn, requests } = scripted();
        const eg = new EventGridEmulator({
            subscriptions: [rule, ce, lifecycle],
            endpoint: fn,
            clock: new VirtualClock(T0),
        });
        const updated = gateEventFor({ ...spec(2), kind: "updated" }, { schema: "EventGridSchema" });
        const other = gateEventFor(spec(3, { displayName: "prod go" }), { schema: "EventGridSchema" });
        const pub = await eg.publish([created(1), updated, other]);
        expect(pub.routed).toEqual([["gate-sales-check", "gate-sales-check-ce"], ["gate-lifecycle"], []]);
        expect(requests.map((r) => r.sub)).toEqual(["gate-sales-check", "gate-sales-check-ce", "gate-lifecycle"]);
        expect(requests[0]!.body).toEqual([created(1)]);
        expect(requests[1]!.body).toEqual(toCloudEvent(created(1)));
        expect(requests[2]!.body).toEqual([updated]);
        expect(pub.deliveries.every((d) => d.result.delivered && !d.duplicate)).toBe(true);
    });

    it("filters a CloudEvents subscription on the CloudEvents form (CE keys resolve, EG-only keys do not)", async () => {
        const byType: DeliverySubscription = {
            name: "by-type",
            schema: "CloudEventSchemaV1_0",
            filter: {
                advancedFilters: [{ operatorType: "StringEndsWith", key: "type", values: ["FleetGateCreated"] }],
            },
        };
        const byEventType: DeliverySubscription = {
            ...byType,
            name: "by-eventtype",
            filter: {
                advancedFilters: [{ operatorType: "StringEndsWith", key: "eventType", values: ["FleetGateCreated"] }],
            },
        };
        const eg = new EventGridEmulator({
            subscriptions: [byType, byEventType],
            endpoint: scripted().fn,
            clock: new VirtualClock(T0),
        });
        expect((await eg.publish([created(1)])).routed).toEqual([["by-type"]]);
    });

    it("batches per the subscription; the Functions host answers 500 if any invocation fails, so the whole batch comes again", async () => {
        const batched: DeliverySubscription = { ...rule, maxEventsPerBatch: 2 };
        const invoked: string[] = [];
        let failOnce = true;
        const endpoint = azureFunctionEndpoint((event) => {
            const id = (event as JsonObject).id as string;
            invoked.push(id);
            if (id === created(2).id && failOnce) {
                failOnce = false;
                return Promise.reject(new Error("redelivery requested"));
            }
            return Promise.resolve();
        });
        const clock = new VirtualClock(T0);
        const eg = new EventGridEmulator({ subscriptions: [batched], endpoint, clock });
        const pub = await eg.publish([created(1), created(2), created(3)]);
        expect(pub.deliveries.map((d) => d.events.length)).toEqual([2, 1]);
        expect(pub.deliveries.map((d) => d.result.attempts)).toEqual([2, 1]);
        expect(pub.deliveries[0]!.result.history.map((h) => h.status)).toEqual([500, 202]);
        // All-or-none: event 1 succeeded the first time and is invoked again with the batch.
        expect(invoked).toEqual([created(1).id, created(2).id, created(1).id, created(2).id, created(3).id]);
        expect(clock.now()).toBe(T0 + 10 * S);
    });

    it("the Functions host takes a single CloudEvents object as well as an array", async () => {
        const seen: JsonValue[] = [];
        const endpoint = azureFunctionEndpoint((event) => {
            seen.push(event);
            return Promise.resolve();
        });
        const ce: DeliverySubscription = { ...rule, schema: "CloudEventSchemaV1_0" };
        expect(await endpoint(ce, toCloudEvent(created(1)), { attempt: 1, deliveryCount: 0, now: 0 })).toBe(202);
        expect(await endpoint(ce, [created(1), created(2)], { attempt: 1, deliveryCount: 0, now: 0 })).toBe(202);
        expect(seen).toEqual([toCloudEvent(created(1)), created(1), created(2)]);
    });

    it("dead-letters to Azure's blob path and format when the attempts run out", async () => {
        const clock = new VirtualClock(T0);
        const limited: DeliverySubscription = { ...rule, maxDeliveryAttempts: 3 };
        const delivered: Delivery[] = [];
        const eg = new EventGridEmulator({
            subscriptions: [limited],
            endpoint: () => 500,
            clock,
            onDelivery: (d) => delivered.push(d),
        });
        const pub = await eg.publish([created(1)]);
        const d = pub.deliveries[0]!;
        expect(d.result).toMatchObject({
            delivered: false,
            deadLettered: true,
            attempts: 3,
            reason: "MaxDeliveryAttemptsExceeded",
        });
        // Attempts at +0, +10 s, +40 s; the blob is written about 5 minutes after the last one.
        expect(clock.now()).toBe(T0 + 40 * S);
        const blob = d.deadLetter!;
        expect(blob.writtenAt).toBe(T0 + 40 * S + DEAD_LETTER_WRITE_DELAY_MS);
        expect(blob.path).toMatch(/^gate-events-deadletter\/GATE-SALES-CHECK\/2026\/11\/24\/9\/[0-9a-f-]{36}\.json$/);
        expect(JSON.parse(eg.deadLetters.read(blob.path)!)).toEqual([
            {
                ...created(1),
                deadLetterReason: "MaxDeliveryAttemptsExceeded",
                deliveryAttempts: 3,
                lastDeliveryOutcome: "Busy",
                publishTime: "2026-11-24T09:00:00.0000000Z",
                lastDeliveryAttemptTime: "2026-11-24T09:00:40.0000000Z",
            },
        ]);
        expect(eg.deadLetters.blobs).toEqual([blob]);
        expect(delivered).toEqual([d]);
    });

    it("dead-letters a 400 at once, a CloudEvents subscription in its own field names; drops without a destination", async () => {
        const ce: DeliverySubscription = { ...rule, name: "ce", schema: "CloudEventSchemaV1_0" };
        const noDl: DeliverySubscription = { name: "no-dl", filter: RULE };
        const eg = new EventGridEmulator({
            subscriptions: [ce, noDl],
            endpoint: () => 400,
            clock: new VirtualClock(T0),
        });
        const [a, b] = (await eg.publish([created(1)])).deliveries;
        expect(a!.result).toMatchObject({ deadLettered: true, attempts: 1, reason: "BadRequest" });
        expect(a!.deadLetter!.path).toMatch(/^gate-events-deadletter\/CE\/2026\/11\/24\/9\//);
        expect(a!.deadLetter!.records).toEqual([
            {
                ...toCloudEvent(created(1)),
                deadletterreason: "BadRequest",
                deliveryattempts: 1,
                lastdeliveryoutcome: "BadRequest",
                publishtime: "2026-11-24T09:00:00.0000000Z",
            },
        ]);
        expect(b!.result).toMatchObject({ dropped: true, deadLettered: false, reason: "BadRequest" });
        expect(b!.deadLetter).toBeUndefined();
        expect(eg.deadLetters.blobs).toHaveLength(1);
    });

    it("dead-letters with EventTimeToLiveExpired when the TTL runs out first", async () => {
        const clock = new VirtualClock(T0);
        const shortTtl: DeliverySubscription = { ...rule, eventTimeToLiveInMinutes: 1 };
        const eg = new EventGridEmulator({ subscriptions: [shortTtl], endpoint: () => 503, clock });
        const d = (await eg.publish([created(1)])).deliveries[0]!;
        // 503 → 30 s, then max(30 s, 30 s) → the third attempt is due at 60 s = the TTL: not made.
        expect(d.result).toMatchObject({ attempts: 2, reason: "EventTimeToLiveExpired" });
        expect(d.deadLetter!.records[0]).toMatchObject({
            deadLetterReason: "EventTimeToLiveExpired",
            deliveryAttempts: 2,
            lastDeliveryOutcome: "Busy",
            lastDeliveryAttemptTime: "2026-11-24T09:00:30.0000000Z",
        });
    });

    it("delivers duplicates on demand, late ones after the others, and the same publication replays per seed", async () => {
        const run = async (seed: number) => {
            const clock = new VirtualClock(T0);
            const delivered: Delivery[] = [];
            const eg = new EventGridEmulator({
                subscriptions: [rule, lifecycle],
                endpoint: scripted().fn,
                clock,
                rng: seededRng(seed),
                duplicateRate: 1,
                shuffle: true,
                onDelivery: (d) => delivered.push(d),
            });
            const updated = gateEventFor({ ...spec(1), kind: "updated" }, { schema: "EventGridSchema" });
            const pub = await eg.publish([created(1), updated]);
            return { pub, delivered, now: clock.now() };
        };
        const a = await run(11);
        expect(a.delivered).toHaveLength(4);
        expect(a.delivered.filter((d) => d.duplicate)).toHaveLength(2);
        expect(a.delivered.filter((d) => d.subscription === "gate-sales-check")).toHaveLength(2);
        expect(a.pub.deliveries.length).toBeLessThanOrEqual(4);
        expect(a.now - T0).toBeLessThanOrEqual(3 * M);
        const b = await run(11);
        expect(b.delivered.map((d) => [d.subscription, d.duplicate])).toEqual(
            a.delivered.map((d) => [d.subscription, d.duplicate]),
        );
        expect(b.now).toBe(a.now);
    });

    it("hands a late duplicate to `defer` when given (a scheduler runs it alongside other work)", async () => {
        const deferred: number[] = [];
        const eg = new EventGridEmulator({
            subscriptions: [rule],
            endpoint: scripted().fn,
            clock: new VirtualClock(T0),
            rng: () => 0.5,
            duplicateRate: 1,
            defer: (at) => deferred.push(at),
        });
        const pub = await eg.publish([created(1)]);
        expect(pub.deliveries).toHaveLength(1);
        // rng 0.5 → duplicate drawn (0.5 < 1), delay floor(0.5 × (3 min + 1 ms)).
        expect(deferred).toEqual([T0 + Math.floor(0.5 * (3 * M + 1))]);
    });

    it("rejects subscriptions given twice, batching out of range and chaos without an rng", () => {
        const clock = new VirtualClock();
        const endpoint = scripted().fn;
        expect(() => new EventGridEmulator({ subscriptions: [rule, { ...rule }], endpoint, clock })).toThrow(/twice/);
        expect(
            () => new EventGridEmulator({ subscriptions: [{ ...rule, maxEventsPerBatch: 6000 }], endpoint, clock }),
        ).toThrow(RangeError);
        expect(() => new EventGridEmulator({ subscriptions: [rule], endpoint, clock, duplicateRate: 0.5 })).toThrow(
            /rng/,
        );
    });

    it("every variant of a gate event the service could send reaches exactly the subscriptions the filters say", async () => {
        const variants = gateEventVariants({ ...spec(1), kind: "deleted" });
        for (const v of variants.filter((x) => x.schema === "EventGridSchema")) {
            const eg = new EventGridEmulator({
                subscriptions: [rule, lifecycle],
                endpoint: scripted().fn,
                clock: new VirtualClock(),
            });
            expect((await eg.publish([v.event])).routed).toEqual([["gate-lifecycle"]]);
        }
    });
});
