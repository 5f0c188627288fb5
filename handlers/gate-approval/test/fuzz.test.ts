/**
 * Generated hostile input: random JSON and mutations of a valid event for a real Pending gate whose
 * rule would approve it. Each mutation makes the event malformed, foreign or not approvable by
 * construction. The handler must never crash, never approve, and never send a request outside the
 * configured fleet (checked on the emulator's request log).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gateEventFor } from "../../../core/event-filter";
import { parseGateEvents } from "../../../core/gate-event";
import { ALWAYS_OPEN, FLEET, FLEET_ID, OTHER_FLEET_ID, RG, SUB, World, guid, startWorld } from "./helpers";
import { decide } from "../src/engine";

let world: World;
let gateId: string;
const G = guid(1);

beforeAll(async () => {
    world = await startWorld({
        rules: [
            { name: "before-stage", match: { displayName: "before-stage", timing: "Before" }, checks: [ALWAYS_OPEN] },
        ],
    });
    gateId = world.gate({ n: 1 });
    world.emu.resetLog();
});
afterAll(() => world.stop());

// Mutations poke at arbitrary paths of untyped JSON.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
type Mutation = (e: Json) => void;

function valid(schema: "EventGridSchema" | "CloudEventSchemaV1_0", spelling: "AKSResources" | "AksResources"): Json {
    return gateEventFor(
        {
            fleetId: FLEET_ID,
            gateName: G,
            updateRunName: "run-1",
            stage: "dev",
            timing: "Before",
            displayName: "before-stage",
        },
        { schema, spelling },
    );
}

function isCe(e: Json): boolean {
    return typeof e === "object" && e !== null && "specversion" in e;
}

function setPath(root: Json, path: readonly string[], value: unknown): void {
    let cur = root;
    for (const seg of path.slice(0, -1)) {
        if (typeof cur !== "object" || cur === null) return;
        cur = cur[seg];
    }
    if (typeof cur === "object" && cur !== null) cur[path[path.length - 1]!] = value;
}

function deletePath(root: Json, path: readonly string[]): void {
    let cur = root;
    for (const seg of path.slice(0, -1)) {
        if (typeof cur !== "object" || cur === null) return;
        cur = cur[seg];
    }
    if (typeof cur === "object" && cur !== null) delete cur[path[path.length - 1]!];
}

/** Sets the gate id everywhere it appears consistently (subject, resourceInfo.id and .name). */
function setGateId(e: Json, id: string): void {
    e.subject = id;
    setPath(e, ["data", "resourceInfo", "id"], id);
    setPath(e, ["data", "resourceInfo", "name"], id.slice(id.lastIndexOf("/") + 1));
}

const P = ["data", "resourceInfo", "properties"];
const REQUIRED: string[][] = [
    ["id"],
    ["subject"],
    ["data"],
    ["data", "resourceInfo"],
    ["data", "resourceInfo", "id"],
    ["data", "resourceInfo", "name"],
    ["data", "resourceInfo", "type"],
    P,
    [...P, "gateType"],
    [...P, "state"],
    [...P, "target"],
    [...P, "target", "id"],
    [...P, "target", "updateRunProperties"],
    [...P, "target", "updateRunProperties", "name"],
    [...P, "target", "updateRunProperties", "timing"],
];
const STRINGS: string[][] = [
    ["id"],
    ["subject"],
    ["data", "resourceInfo", "id"],
    ["data", "resourceInfo", "name"],
    [...P, "displayName"],
    [...P, "state"],
    [...P, "target", "id"],
    [...P, "target", "updateRunProperties", "stage"],
];

const hostileSegment = fc.constantFrom(
    "..",
    ".",
    "%2e%2e",
    "%2F",
    "a\\b",
    "",
    " ",
    "\u0000",
    "\n",
    "{gate-name}",
    "xxxxxxxx",
    "ABCDEF01-0000-4000-8000-00000000000A",
    `${G}?api-version=x`,
    `${G}#frag`,
    `${G} `,
    "not-a-guid",
    "a".repeat(300),
);

const foreignFleets = [
    OTHER_FLEET_ID,
    `/subscriptions/${guid(77)}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/${FLEET}`,
    `/subscriptions/${SUB}/resourceGroups/rg-other/providers/Microsoft.ContainerService/fleets/${FLEET}`,
];

const hostileGateId: fc.Arbitrary<string> = fc.oneof(
    hostileSegment.map((s) => `${FLEET_ID}/gates/${s}`),
    fc.constantFrom(...foreignFleets).map((f) => `${f}/gates/${G}`),
    fc.constantFrom(
        `${FLEET_ID}/gates/../../fleets/evil/gates/${G}`,
        `${FLEET_ID}/gates/${G}/extra/segment`,
        `${FLEET_ID}/gates/${G}/`,
        `${FLEET_ID}//gates/${G}`,
        `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Evil/fleets/${FLEET}/gates/${G}`,
        `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/${FLEET}/providers/Microsoft.ContainerService/fleets/x/gates/${G}`,
        `https://evil.example${FLEET_ID}/gates/${G}`,
        `//evil.example/gates/${G}`,
    ),
    fc.string({ maxLength: 400 }),
    // A well-formed id of another gate of this fleet: allowed to reach ARM (and 404 there).
    fc.uuid().map((u) => `${FLEET_ID}/gates/${u}`),
);

const hostileTarget: fc.Arbitrary<string> = fc.oneof(
    fc.constantFrom(...foreignFleets).map((f) => `${f}/updateRuns/run-1`),
    hostileSegment.map((s) => `${FLEET_ID}/updateRuns/${s}`),
    fc.constantFrom(`${FLEET_ID}/members/run-1`, `${FLEET_ID}/updateRuns/run-1/extra/x`, `${FLEET_ID}`),
    fc.string({ maxLength: 300 }),
);

const nonString = fc.anything().filter((v) => typeof v !== "string");

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    hostileGateId.map((id) => (e: Json) => setGateId(e, id)),
    hostileGateId.map((id) => (e: Json) => void (e.subject = id)),
    hostileGateId.map((id) => (e: Json) => setPath(e, ["data", "resourceInfo", "id"], id)),
    hostileTarget.map((t) => (e: Json) => setPath(e, [...P, "target", "id"], t)),
    fc.constantFrom(...REQUIRED).map((p) => (e: Json) => deletePath(e, p)),
    fc.tuple(fc.constantFrom(...REQUIRED), nonString).map(
        ([p, v]) =>
            (e: Json) =>
                setPath(e, p, v),
    ),
    fc.constantFrom(...STRINGS).map((p) => (e: Json) => setPath(e, p, "x".repeat(70_000))),
    fc
        .oneof(
            fc.constantFrom(`/subscriptions/${guid(77)}`, `/subscriptions/${SUB}/resourceGroups/${RG}`, "/"),
            fc.string(),
        )
        .filter((s) => s.toLowerCase() !== `/subscriptions/${SUB}`)
        .map((s) => (e: Json) => void (isCe(e) ? (e.source = s) : (e.topic = s))),
    fc
        .oneof(
            fc.string(),
            fc.constantFrom("Microsoft.ResourceNotifications.AKSResources.FleetGateCreatedX", "FleetGateCreated", ""),
        )
        .map((t) => (e: Json) => void (isCe(e) ? (e.type = t) : (e.eventType = t))),
    fc
        .constantFrom("Completed", "Skipped", "pending", "PENDING", "Unknown", "")
        .map((s) => (e: Json) => setPath(e, [...P, "state"], s)),
    fc
        .constantFrom("ScheduledStart", "approval2", "", "Approval ")
        .map((s) => (e: Json) => setPath(e, [...P, "gateType"], s)),
    fc
        .constantFrom("{subscription-id}", "xxxxxxxxxx")
        .map(
            (s) => (e: Json) =>
                setGateId(
                    e,
                    `/subscriptions/${s}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/${FLEET}/gates/${G}`,
                ),
        ),
    fc.constantFrom("specVersion", "SpecVersion", "Type").map((k) => (e: Json) => {
        if (isCe(e)) e[k] = "1.0";
        else e.eventType = 7;
    }),
);

const mutatedEvent: fc.Arbitrary<Json> = fc
    .tuple(
        fc.constantFrom("EventGridSchema", "CloudEventSchemaV1_0") as fc.Arbitrary<
            "EventGridSchema" | "CloudEventSchemaV1_0"
        >,
        fc.constantFrom("AKSResources", "AksResources") as fc.Arbitrary<"AKSResources" | "AksResources">,
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
    )
    .map(([schema, spelling, muts, viaJson]) => {
        const e = valid(schema, spelling);
        for (const m of muts) m(e);
        // Through JSON text like a real delivery (turns undefined/NaN into null or drops them; keeps __proto__ keys as data).
        if (!viaJson) return e;
        try {
            return JSON.parse(JSON.stringify(e).replace('"data":', '"__proto__":{"polluted":true},"data":'));
        } catch {
            return e;
        }
    });

const body: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 6, arbitrary: mutatedEvent },
    { weight: 2, arbitrary: fc.anything({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.array(mutatedEvent, { minLength: 1, maxLength: 3 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
);

/** True when the (possibly mutated) body still is the untouched event of gate G (never generated, but checked). */
function isValidForG(e: unknown): boolean {
    const parsed = parseGateEvents(e);
    return parsed.some(
        (p) =>
            p.ok &&
            p.event.gate.gateName === G &&
            p.event.gate.fleetName === FLEET &&
            p.event.state === "Pending" &&
            p.event.gateType === "Approval" &&
            p.event.displayName === "before-stage" &&
            p.event.kind === "created" &&
            p.event.stage === "dev" &&
            p.event.timing === "Before",
    );
}

describe("hostile input", () => {
    it("≥ 10,000 generated events: no crash, no approval, no request outside the fleet", async () => {
        let decided = 0;
        const outcomes: Record<string, number> = {};
        await fc.assert(
            fc.asyncProperty(body, async (b) => {
                expect(isValidForG(b)).toBe(false);
                let parsed;
                try {
                    parsed = parseGateEvents(b);
                } catch (e) {
                    throw new Error(`parser crashed: ${(e as Error).stack}`);
                }
                for (const p of parsed) {
                    const d = await decide(p, world.deps);
                    decided++;
                    outcomes[d.outcome] = (outcomes[d.outcome] ?? 0) + 1;
                    expect(d.outcome).not.toBe("approved");
                    expect(d.reason).toMatch(/\S/);
                }
            }),
            { numRuns: 10_000, seed: 20260601 },
        );
        expect(decided).toBeGreaterThanOrEqual(10_000);
        expect(world.emu.gate(gateId)!.state).toBe("Pending");
        expect(world.emu.patchCount).toBe(0);
        const prefix = `${FLEET_ID}/`.toLowerCase();
        const outside = world.emu.requests.filter(
            (r) => !r.path.toLowerCase().startsWith(prefix) || r.method !== "GET",
        );
        expect(outside).toEqual([]);
        expect(outcomes.rejected).toBeGreaterThan(5000);
        expect(outcomes.ignored).toBeGreaterThan(100);
        expect(outcomes.approved ?? 0).toBe(0);
        // The generator did reach ARM for well-formed ids of other gates of this fleet (and got 404s).
        expect(world.emu.requests.length).toBeGreaterThan(0);
        expect(Object.prototype).not.toHaveProperty("polluted");
    }, 300_000);

    it("the unmutated event does approve (the property above is not vacuous)", async () => {
        const d = await decide(parseGateEvents(valid("CloudEventSchemaV1_0", "AksResources"))[0]!, world.deps);
        expect(d.outcome).toBe("approved");
    });
});
