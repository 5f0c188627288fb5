/**
 * `npm run replay`: recorded gate events (the published samples among them) pushed through the real
 * handler against the loopback ARM emulator seeded from the dev stack, in process and on a worker thread,
 * and the CLI's output and exit codes.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { gateEventFor, type GateEventSpec } from "../core/event-filter";
import { main } from "../local/cli";
import { OFFLINE_DEFAULTS } from "../local/plan/mocks";
import { parseEventsText, replay, ReplayInputError } from "../local/simulate/replay";

const FLEET_ID = `/subscriptions/${OFFLINE_DEFAULTS.subscriptionId}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`;
const RESOLVED = path.resolve(__dirname, "../../shared/fixtures/events/resolved");

/** Tuesday 10:00 in Berlin: inside the dev rule's window (Mon–Thu 09:00–16:00 Europe/Berlin). */
const IN_WINDOW = new Date("2026-11-24T09:00:00Z");
/** Saturday: outside it. */
const OUT_OF_WINDOW = new Date("2026-11-28T09:00:00Z");

const salesGate: GateEventSpec = {
    fleetId: FLEET_ID,
    gateName: "6f1c2a4e-8d3b-4c5a-9e7f-1a2b3c4d5e6f",
    updateRunName: "run-7",
    stage: "dev",
    timing: "Before",
    displayName: "Check with sales team",
};
const blueGate: GateEventSpec = {
    fleetId: FLEET_ID,
    gateName: "7a2d3b5f-9e4c-4d6b-8f8a-2b3c4d5e6f70",
    updateRunName: "run-7",
    stage: "dev",
    group: "blue",
    timing: "After",
    displayName: "blue healthy",
};
/** A gate of the run that no rule of dev covers (one added to the strategy in Azure by hand): manual. */
const strayGate: GateEventSpec = {
    ...blueGate,
    gateName: "8b3e4c6a-0f5d-4e7c-9a9b-3c4d5e6f7081",
    displayName: "blue signed off",
};

function fixtures(): unknown[] {
    return readdirSync(RESOLVED)
        .sort()
        .flatMap((f) => {
            const doc = JSON.parse(readFileSync(path.join(RESOLVED, f), "utf8")) as unknown;
            return Array.isArray(doc) ? doc : [doc];
        });
}

describe("replay", () => {
    it("decides the published sample events against the dev stack", async () => {
        const r = await replay({ stack: "dev", events: fixtures(), now: IN_WINDOW });
        expect(r.decisions.map((d) => [d.outcome, d.reason])).toEqual([
            [
                "manual",
                'no approval rule matches the gate (displayName="before-stage", stage=stage-1, group=(none), timing=Before)',
            ],
            ["ignored", "gate deleted (its update run was deleted): held state cleared"],
            ["ignored", "gate Completed: held state cleared"],
            [
                "ignored",
                `gate of fleet ${OFFLINE_DEFAULTS.subscriptionId}/sw-ms-demo-01/flt-mgr-approvals-01; this handler serves ${OFFLINE_DEFAULTS.subscriptionId}/rg-fleet-dev/flt-dev`,
            ],
        ]);
        expect(r.patches).toBe(0);
        // The sample gate has been pending since 2025: a manual notice, then an escalation (240 min).
        expect(r.notifications.map((n) => n.kind)).toEqual(["manual", "escalation"]);
    });

    it("approves a ruled gate whose checks pass, in both schemas, and holds it outside its window", async () => {
        for (const schema of ["EventGridSchema", "CloudEventSchemaV1_0"] as const) {
            const events = [gateEventFor(salesGate, { schema })];
            const approved = await replay({ stack: "dev", events, now: IN_WINDOW });
            expect(approved.decisions).toEqual([
                {
                    eventId: expect.any(String),
                    gateId: `${FLEET_ID}/gates/${salesGate.gateName}`,
                    outcome: "approved",
                    rule: "sales-check",
                    reason: null,
                },
            ]);
            expect(approved.patches).toBe(1);

            const held = await replay({ stack: "dev", events, now: OUT_OF_WINDOW });
            expect(held.decisions[0]).toMatchObject({ outcome: "held", rule: "sales-check" });
            expect(held.decisions[0]!.reason).toMatch(/^window check failed: .*Sat/);
            expect(held.patches).toBe(0);
        }
    });

    it("treats a gate no rule covers as manual, duplicates as one approval, and rejects malformed input", async () => {
        const created = gateEventFor(salesGate);
        const broken = { ...gateEventFor(blueGate), subject: "/subscriptions/x/../../etc" };
        const r = await replay({
            stack: "dev",
            events: [created, gateEventFor(strayGate), created, broken, gateEventFor(blueGate)],
            now: IN_WINDOW,
        });
        expect(r.decisions.map((d) => d.outcome)).toEqual([
            "approved",
            "manual",
            "already-completed",
            "rejected",
            "approved",
        ]);
        expect(r.decisions[1]).toMatchObject({
            rule: null,
            reason: expect.stringMatching(/^no approval rule matches/),
        });
        expect(r.decisions[3]!.reason).toBeTruthy();
        // "blue healthy": its clusterHealth rule passes on the seeded run (blue's members have updated).
        expect(r.decisions[4]).toMatchObject({ rule: "blue-healthy", reason: null });
        expect(r.patches).toBe(2);
        // Every outcome but approved says why.
        for (const d of r.decisions) if (d.outcome !== "approved") expect(d.reason).toBeTruthy();
        // One token for the whole replay, and the approval took one GET and one PATCH of the gate.
        expect(r.tokenAcquisitions).toBe(1);
    });

    it("decides the same with the emulator on its own thread (as the CLI runs it), every gate seeded at once", async () => {
        const events = [gateEventFor(salesGate), gateEventFor(blueGate), gateEventFor(salesGate)];
        const here = await replay({ stack: "dev", events, now: IN_WINDOW, concurrency: 1 });
        const there = await replay({ stack: "dev", events, now: IN_WINDOW, concurrency: 1, emulator: "worker" });
        expect(there.decisions).toEqual(here.decisions);
        expect(there.decisions.map((d) => d.outcome)).toEqual([
            here.decisions[0]!.outcome,
            here.decisions[1]!.outcome,
            "already-completed",
        ]);
        expect(there.patches).toBe(here.patches);
        // Both seeded gates exist in the worker's emulator: the second event of the sales gate found it Completed.
        expect(there.requestLog.filter((q) => q.route === "gates.get" && q.status === 404)).toEqual([]);
    });

    it("reads arrays, single events, batches and JSON lines", () => {
        const a = gateEventFor(salesGate);
        const b = gateEventFor(blueGate, { schema: "CloudEventSchemaV1_0" });
        expect(parseEventsText(JSON.stringify([a, b]))).toEqual([a, b]);
        expect(parseEventsText(JSON.stringify(a))).toEqual([a]);
        expect(parseEventsText(JSON.stringify([[a, b]]))).toEqual([a, b]);
        expect(parseEventsText(`${JSON.stringify(a)}\n\n${JSON.stringify(b)}\n`)).toEqual([a, b]);
        expect(() => parseEventsText(`${JSON.stringify(a)}\n{oops`, "events.jsonl")).toThrow(ReplayInputError);
        expect(() => parseEventsText(`${JSON.stringify(a)}\n{oops`, "events.jsonl")).toThrow(
            /^events\.jsonl:2: not JSON: /,
        );
        expect(() => parseEventsText("  ", "empty.json")).toThrow("empty.json: no events");
    });
});

describe("npm run replay (CLI)", () => {
    function capture() {
        const out: string[] = [];
        const err: string[] = [];
        const so = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
        const se = vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
        return { out, err, restore: () => (so.mockRestore(), se.mockRestore()) };
    }

    it("prints one DESIGN.md decision object per event with --json", async () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-replay-"));
        const file = path.join(dir, "events.jsonl");
        writeFileSync(
            file,
            [gateEventFor(salesGate), gateEventFor(strayGate)].map((e) => JSON.stringify(e)).join("\n"),
        );
        const io = capture();
        try {
            expect(await main(["replay", file, "--stack", "dev", "--json", "--now", IN_WINDOW.toISOString()])).toBe(0);
        } finally {
            io.restore();
        }
        const decisions = JSON.parse(io.out.join("")) as Record<string, unknown>[];
        expect(decisions.map((d) => Object.keys(d))).toEqual([
            ["eventId", "gateId", "outcome", "rule", "reason"],
            ["eventId", "gateId", "outcome", "rule", "reason"],
        ]);
        expect(decisions.map((d) => d.outcome)).toEqual(["approved", "manual"]);
    });

    it("handles 16 events at once by default and still prints the decisions in input order; --stack defaults to dev", async () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-replay-"));
        const file = path.join(dir, "events.jsonl");
        // 40 gates: sales gates (approved in the window) and gates no rule covers (manual), interleaved.
        const events = Array.from({ length: 40 }, (_, i) =>
            gateEventFor({
                ...(i % 2 === 0 ? salesGate : strayGate),
                gateName: `0c0e0000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
            }),
        );
        writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n"));
        const run = async (extra: string[]) => {
            const io = capture();
            try {
                expect(await main(["replay", file, "--json", "--now", IN_WINDOW.toISOString(), ...extra])).toBe(0);
            } finally {
                io.restore();
            }
            return JSON.parse(io.out.join("")) as { eventId: string; outcome: string }[];
        };
        const concurrent = await run([]);
        expect(concurrent.map((d) => d.eventId)).toEqual(events.map((e) => e.id));
        expect(concurrent.map((d) => d.outcome)).toEqual(events.map((_, i) => (i % 2 === 0 ? "approved" : "manual")));
        expect(await run(["--concurrency", "1", "--stack", "dev"])).toEqual(concurrent);
    });

    it.each(["0", "1.5", "many"])("exits 2 on --concurrency %s, naming the flag", async (value) => {
        const io = capture();
        try {
            expect(await main(["replay", "events.json", "--concurrency", value])).toBe(2);
        } finally {
            io.restore();
        }
        expect(io.err.join("")).toContain(`--concurrency "${value}" is not a whole number ≥ 1`);
    });

    it("exits 1 naming a bad --now or a missing file", async () => {
        const io = capture();
        try {
            expect(await main(["replay", "/nonexistent/events.json", "--stack", "dev"])).toBe(1);
            expect(await main(["replay", "/nonexistent/events.json", "--stack", "dev", "--now", "tomorrow"])).toBe(1);
        } finally {
            io.restore();
        }
        expect(io.err[0]).toMatch(/^\/nonexistent\/events\.json: ENOENT/);
        expect(io.err[1]).toBe('--now "tomorrow" is not an ISO 8601 date-time\n');
    });
});
