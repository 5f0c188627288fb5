/**
 * The handler's decision engine against the loopback ARM emulator: every outcome (approved, held,
 * manual, ignored, rejected, retry) for a gate event, 412 conflicts, the published fixtures, and duplicate,
 * reordered and concurrent deliveries, with the gate requests and tokens each decision spends.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { gateEventFor } from "../../../core/event-filter";
import { parseGateEvent, parseGateEvents } from "../../../core/gate-event";
import { OUTCOMES } from "../src/audit";
import { decide, type Decision, type EngineDeps } from "../src/engine";
import { FIXTURES, FLEET_ID, OTHER_FLEET_ID, SUB, World, gateIdOf, gateRequests, guid, startWorld } from "./helpers";

let world: World | undefined;
afterEach(async () => {
    await world?.stop();
    world = undefined;
});

const decideRaw = (raw: unknown, deps: EngineDeps) => decide(parseGateEvent(raw), deps);

function expectReason(d: Decision): void {
    if (d.outcome !== "approved") expect(d.reason, `${d.outcome} needs a reason`).toMatch(/\S/);
}

describe("outcomes", () => {
    it("approved: rule matches, checks pass, GET + PATCH with If-Match (2 gate requests)", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.resetLog();
        const d = await decideRaw(world.event({ n: 1 }), world.deps);
        expect(d).toMatchObject({
            outcome: "approved",
            rule: "before-stage",
            gateId: id,
            stage: "dev",
            timing: "Before",
            attempt: 1,
        });
        expect(d.reason).toBeUndefined();
        expect(d.checks).toEqual([expect.objectContaining({ type: "window", passed: true })]);
        expect(world.emu.gate(id)!.state).toBe("Completed");
        expect(world.emu.requests.map((r) => `${r.method} ${r.route}`)).toEqual(["GET gates.get", "PATCH gates.patch"]);
        expect(world.audits).toHaveLength(1);
        expect(world.audits[0]).toMatchObject({
            msg: "gate decision",
            outcome: "approved",
            gateId: id,
            updateRunId: `${FLEET_ID}/updateRuns/run-1`,
        });
        expect(world.state.all()).toEqual([
            expect.objectContaining({ status: "closed", closed: expect.objectContaining({ why: "approved" }) }),
        ]);
    });

    it("approved through the LRO (202 + Location)", async () => {
        world = await startWorld({ emulator: { patchMode: "async" } });
        const id = world.gate({ n: 1 });
        const d = await decideRaw(world.event({ n: 1 }), world.deps);
        expect(d.outcome).toBe("approved");
        expect(world.emu.gate(id)!.state).toBe("Completed");
        expect(gateRequests(world.emu)).toBe(2);
    });

    it("already-completed: the gate was approved by someone else", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.setGateState(id, "Completed");
        const d = await decideRaw(world.event({ n: 1 }), world.deps);
        expect(d).toMatchObject({ outcome: "already-completed", reason: "gate is already Completed" });
        expect(world.emu.patchCount).toBe(0);
    });

    it("ignored (gone): the gate no longer exists", async () => {
        world = await startWorld();
        const d = await decideRaw(world.event({ n: 1 }), world.deps);
        expect(d.outcome).toBe("ignored");
        expect(d.reason).toMatch(/gate not found \(gone/);
    });

    it("held: a check fails, the reason carries the observed value, one notification", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1, displayName: "weekend only" });
        world.clock.now = Date.parse("2026-03-25T12:00:00Z"); // a Wednesday
        const d = await decideRaw(world.event({ n: 1, displayName: "weekend only" }), world.deps);
        expect(d.outcome).toBe("held");
        expect(d.rule).toBe("closed-window");
        expect(d.reason).toBe("window check failed: Wed 2026-03-25 12:00 UTC: outside 00:00-01:00");
        expect(world.emu.requests).toHaveLength(0);
        expect(world.emu.gate(id)!.state).toBe("Pending");
        expect(world.notifications).toEqual([
            expect.objectContaining({ kind: "held", gateId: id, rule: "closed-window" }),
        ]);
        await decideRaw(world.event({ n: 1, displayName: "weekend only" }), world.deps);
        expect(world.notifications).toHaveLength(1);
    });

    it("held: a cluster is stopped (After gate of group blue)", async () => {
        world = await startWorld();
        world.gate({ n: 1, group: "blue", timing: "After", displayName: "blue healthy" });
        world.emu.setMember("aks-blue-2", { powerState: "Stopped" });
        const d = await decideRaw(
            world.event({ n: 1, group: "blue", timing: "After", displayName: "blue healthy" }),
            world.deps,
        );
        expect(d).toMatchObject({ outcome: "held", rule: "blue-healthy" });
        expect(d.reason).toContain("aks-blue-2: powerState Stopped");
        expect(world.emu.patchCount).toBe(0);
    });

    it("manual: no rule matches; notified once across deliveries", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1, displayName: "prod go" });
        const d = await decideRaw(world.event({ n: 1, displayName: "prod go" }), world.deps);
        expect(d.outcome).toBe("manual");
        expect(d.reason).toBe(
            'no approval rule matches the gate (displayName="prod go", stage=dev, group=(none), timing=Before)',
        );
        await decideRaw(world.event({ n: 1, displayName: "prod go" }), world.deps);
        expect(world.notifications.filter((n) => n.kind === "manual")).toEqual([
            expect.objectContaining({ gateId: id }),
        ]);
        expect(world.emu.requests).toHaveLength(0);
    });

    it("held (ambiguous): two rules match the same gate", async () => {
        world = await startWorld({
            rules: [
                { name: "a", match: { stage: "dev" }, checks: [{ type: "clusterHealth" }] },
                { name: "b", match: { timing: "Before" }, checks: [{ type: "clusterHealth" }] },
            ],
        });
        world.gate({ n: 1 });
        const d = await decideRaw(world.event({ n: 1 }), world.deps);
        expect(d).toMatchObject({ outcome: "held", rule: "a, b" });
        expect(d.reason).toMatch(/^ambiguous: rules a, b/);
        expect(world.emu.requests).toHaveLength(0);
    });

    it("ignored: another fleet, another subscription, not Approval, not Pending", async () => {
        world = await startWorld();
        const other = gateEventFor({
            fleetId: OTHER_FLEET_ID,
            gateName: guid(1),
            updateRunName: "run-1",
            stage: "dev",
            timing: "Before",
            displayName: "before-stage",
        });
        const otherSub = gateEventFor({
            fleetId: FLEET_ID.replace(SUB, guid(77)),
            gateName: guid(1),
            updateRunName: "run-1",
            stage: "dev",
            timing: "Before",
        });
        const scheduled = world.event({ n: 1 }, { gateType: "ScheduledStart" });
        const completed = world.event({ n: 1 }, { state: "Completed" });
        const results = await Promise.all(
            [other, otherSub, scheduled, completed].map((e) => decideRaw(e, world!.deps)),
        );
        expect(results.map((r) => r.outcome)).toEqual(["ignored", "ignored", "ignored", "ignored"]);
        expect(results[0]!.reason).toMatch(/gate of fleet .*flt-other; this handler serves .*flt-dev/);
        expect(results[1]!.reason).toMatch(/subscription .* is not this handler's/);
        expect(results[2]!.reason).toBe("gate type ScheduledStart is not decided by this handler");
        expect(results[3]!.reason).toBe("gate is Completed in the event, not Pending");
        expect(world.emu.requests).toHaveLength(0);
    });

    it("rejected: malformed events make no request and keep the parser's reason", async () => {
        world = await startWorld();
        const d = await decide(parseGateEvent({ id: "x", eventType: 5 }), world.deps);
        expect(d.outcome).toBe("rejected");
        expect(d.reason).toMatch(/eventType/);
        expect(world.emu.requests).toHaveLength(0);
        expect(world.state.all()).toEqual([]);
    });

    it("ignored: an unknown event type", async () => {
        world = await startWorld();
        const e = world.event({ n: 1 }) as Record<string, unknown>;
        e.eventType = "Microsoft.ResourceNotifications.AKSResources.SomethingElse";
        expect(await decideRaw(e, world.deps)).toMatchObject({
            outcome: "ignored",
            reason: expect.stringMatching(/not a Fleet gate event/),
        });
    });

    it("retry: ARM keeps failing after the pipeline's retries", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.inject({ route: "gates.get", kind: "503", retryAfterSeconds: 0 });
        const d = await decideRaw(world.event({ n: 1 }), world.deps);
        expect(d.outcome).toBe("retry");
        expect(d.reason).toMatch(/transient failure while approving: GET gate .* HTTP 503/);
        expect(world.emu.gate(id)!.state).toBe("Pending");
        world.emu.clearFaults();
        expect((await decideRaw(world.event({ n: 1 }), world.deps)).outcome).toBe("approved");
    });

    it("retry: a stalled ARM ends within the decision budget", async () => {
        world = await startWorld({ decisionBudgetMs: 1500, tuning: { perTryTimeoutMs: 400 } });
        world.gate({ n: 1 });
        world.emu.inject({ route: "gates.get", kind: "stall", stallMs: 30_000 });
        const t0 = Date.now();
        const d = await decideRaw(world.event({ n: 1 }), world.deps);
        expect(d.outcome).toBe("retry");
        expect(Date.now() - t0).toBeLessThan(2500);
    });

    it("retry: a clusterHealth check failing only on throttling", async () => {
        world = await startWorld();
        world.gate({ n: 1, group: "blue", timing: "After", displayName: "x" });
        world.emu.inject({ route: "clusters.get", kind: "429", retryAfterSeconds: 0 });
        const d = await decideRaw(world.event({ n: 1, group: "blue", timing: "After", displayName: "x" }), world.deps);
        expect(d.outcome).toBe("retry");
        expect(d.reason).toMatch(/^transient failure in the clusterHealth check: error: .*HTTP 429/);
        expect(world.emu.patchCount).toBe(0);
    });

    it("retry, not held: clusterHealth running out of time while ARM throttles", async () => {
        world = await startWorld({
            rules: [
                {
                    name: "blue-healthy",
                    match: { group: "blue", timing: "After" },
                    checks: [{ type: "clusterHealth", timeoutSeconds: 1 }],
                },
            ],
        });
        world.gate({ n: 1, group: "blue", timing: "After", displayName: "x" });
        // Throttled past the check's own timeout: the pipeline is still waiting out Retry-After.
        world.emu.inject({ route: "updateRuns.get", kind: "429", retryAfterSeconds: 1, times: 3 });
        const d = await decideRaw(world.event({ n: 1, group: "blue", timing: "After", displayName: "x" }), world.deps);
        expect(d.outcome).toBe("retry");
        expect(d.reason).toMatch(/clusterHealth.*no answer within 1000 ms/);
        expect(world.notifications.filter((n) => n.kind === "held")).toEqual([]);
        expect(world.emu.patchCount).toBe(0);
    });

    it("412 then re-GET once: Completed meanwhile → already-completed", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        // Someone else completes the gate between our GET and our PATCH.
        const arm = world.deps.arm;
        const racing: EngineDeps = {
            ...world.deps,
            arm: {
                ...arm,
                getGate: arm.getGate.bind(arm),
                listGates: arm.listGates.bind(arm),
                getUpdateRun: arm.getUpdateRun.bind(arm),
                getManagedCluster: arm.getManagedCluster.bind(arm),
                async patchGateState(gid, s, etag, o) {
                    world!.emu.setGateState(id, "Completed");
                    return arm.patchGateState(gid, s, etag, o);
                },
            },
        };
        const d = await decideRaw(world.event({ n: 1 }), racing);
        expect(d).toMatchObject({
            outcome: "already-completed",
            reason: "gate was completed concurrently (ETag conflict, then Completed)",
        });
        expect(world.emu.requests.map((r) => `${r.route} ${r.status}`)).toEqual([
            "gates.get 200",
            "gates.patch 412",
            "gates.get 200",
        ]);
    });

    it("412 then re-GET still Pending → retry", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        const arm = world.deps.arm;
        const d = await decideRaw(world.event({ n: 1 }), {
            ...world.deps,
            arm: {
                ...arm,
                getGate: arm.getGate.bind(arm),
                listGates: arm.listGates.bind(arm),
                getUpdateRun: arm.getUpdateRun.bind(arm),
                getManagedCluster: arm.getManagedCluster.bind(arm),
                async patchGateState(gid, s, etag, o) {
                    world!.emu.setGateState(id, "Pending"); // a write that changes the eTag only
                    return arm.patchGateState(gid, s, etag, o);
                },
            },
        });
        expect(d.outcome).toBe("retry");
        expect(d.reason).toMatch(/ETag conflict and the gate is still Pending/);
    });

    it("ignored: an event whose coordinates disagree with the gate resource is not approved", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1, displayName: "prod go" }); // the real gate matches no rule
        const d = await decideRaw(world.event({ n: 1, displayName: "before-stage" }), world.deps);
        expect(d.outcome).toBe("ignored");
        expect(d.reason).toMatch(
            /event disagrees with the gate resource \(displayName: event "before-stage", gate "prod go"\)/,
        );
        expect(world.emu.gate(id)!.state).toBe("Pending");
        expect(world.emu.patchCount).toBe(0);
    });

    it("Updated and Deleted clear the held state and tombstone the gate", async () => {
        world = await startWorld();
        world.gate({ n: 1, displayName: "weekend only" });
        world.clock.now = Date.parse("2026-03-25T12:00:00Z");
        expect((await decideRaw(world.event({ n: 1, displayName: "weekend only" }), world.deps)).outcome).toBe("held");
        expect(world.state.all()[0]).toMatchObject({ status: "held" });
        const u = await decideRaw(world.event({ n: 1, displayName: "weekend only" }, { kind: "updated" }), world.deps);
        expect(u).toMatchObject({ outcome: "ignored", reason: "gate Completed: held state cleared" });
        expect(world.state.all()[0]).toMatchObject({
            status: "closed",
            closed: expect.objectContaining({ why: "completed" }),
        });
        const late = await decideRaw(world.event({ n: 1, displayName: "weekend only" }), world.deps);
        expect(late.outcome).toBe("already-completed");
        const del = await decideRaw(world.event({ n: 2 }, { kind: "deleted" }), world.deps);
        expect(del).toMatchObject({
            outcome: "ignored",
            reason: "gate deleted (its update run was deleted): held state cleared",
        });
        expect((await decideRaw(world.event({ n: 2 }), world.deps)).reason).toMatch(/^gate was deleted at/);
    });

    it("every outcome but approved has a reason (all outcomes seen above exist)", () => {
        // notified and run-started are the AKS upgrade events' outcomes (test/upgrade-events.test.ts).
        expect(OUTCOMES).toEqual([
            "approved",
            "already-completed",
            "held",
            "manual",
            "ignored",
            "rejected",
            "retry",
            "notified",
            "run-started",
        ]);
    });
});

describe("fixtures through the engine", () => {
    const read = (kind: string, name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, kind, name), "utf8"));

    it("raw samples are rejected, with no request", async () => {
        world = await startWorld();
        for (const name of fs.readdirSync(path.join(FIXTURES, "raw"))) {
            for (const p of parseGateEvents(read("raw", name))) {
                const d = await decide(p, world.deps);
                expect(d.outcome).toBe("rejected");
                expect(d.reason).toMatch(/documentation placeholder/);
            }
        }
        expect(world.emu.requests).toHaveLength(0);
    });

    it("resolved samples are handled: Created approved, Updated/Deleted ignored, other fleet ignored", async () => {
        world = await startWorld();
        world.emu.addGate({
            fleetId: FLEET_ID,
            name: "cc0ec874-911f-5828-843f-e902faa93d85",
            displayName: "before-stage",
            gateType: "Approval",
            state: "Pending",
            target: {
                id: `${FLEET_ID}/updateRuns/run-1`,
                updateRunProperties: { name: "run-1", stage: "stage-1", timing: "Before" },
            },
        });
        const outcomes: Record<string, string[]> = {};
        for (const name of fs.readdirSync(path.join(FIXTURES, "resolved")).sort()) {
            outcomes[name] = [];
            for (const p of parseGateEvents(read("resolved", name))) {
                const d = await decide(p, world.deps);
                expectReason(d);
                outcomes[name]!.push(d.outcome);
            }
        }
        expect(outcomes).toEqual({
            "cloudevents-schema-gate-created.json": ["approved"],
            "cloudevents-schema-gate-deleted.json": ["ignored"],
            "cloudevents-schema-gate-updated.json": ["ignored"],
            "eventgrid-schema-gate-created.json": ["ignored"],
        });
        expect(world.emu.gate(gateIdOf("cc0ec874-911f-5828-843f-e902faa93d85"))!.state).toBe("Completed");
    });
});

describe("duplicates, reordering, request and token budgets", () => {
    it("N concurrent deliveries of one event: one state change, no error", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        const event = world.event({ n: 1 });
        const decisions = await Promise.all(Array.from({ length: 12 }, () => decideRaw(event, world!.deps)));
        expect(world.emu.patchCount).toBe(1);
        expect(world.emu.gate(id)!.state).toBe("Completed");
        const outcomes = decisions.map((d) => d.outcome);
        expect(outcomes.filter((o) => o === "approved").length).toBeGreaterThanOrEqual(1);
        expect(outcomes.every((o) => o === "approved" || o === "already-completed")).toBe(true);
        // A redelivery after the fact does not even reach ARM.
        world.emu.resetLog();
        expect((await decideRaw(event, world.deps)).outcome).toBe("already-completed");
        expect(world.emu.requests).toHaveLength(0);
    });

    it("reordered: Updated before Created, Deleted before Created — nothing approved twice, nothing re-opened", async () => {
        world = await startWorld();
        const a = world.gate({ n: 1 });
        world.emu.setGateState(a, "Completed");
        const seq = [
            world.event({ n: 1 }, { kind: "updated" }),
            world.event({ n: 1 }),
            world.event({ n: 2 }, { kind: "deleted" }),
            world.event({ n: 2 }),
        ];
        const out = [];
        for (const e of seq) out.push((await decideRaw(e, world.deps)).outcome);
        expect(out).toEqual(["ignored", "already-completed", "ignored", "ignored"]);
        expect(world.emu.patchCount).toBe(0);
        expect(world.emu.requests).toHaveLength(0);
    });

    it("1,000 gates approved: 2 gate requests each and one token for all of them", async () => {
        world = await startWorld();
        const n = 1000;
        for (let i = 1; i <= n; i++) world.gate({ n: i });
        world.emu.resetLog();
        const events = Array.from({ length: n }, (_, i) => world!.event({ n: i + 1 }));
        const decisions: Decision[] = [];
        for (let i = 0; i < n; i += 25)
            decisions.push(...(await Promise.all(events.slice(i, i + 25).map((e) => decideRaw(e, world!.deps)))));
        expect(decisions.every((d) => d.outcome === "approved")).toBe(true);
        expect(world.emu.patchCount).toBe(n);
        expect(gateRequests(world.emu)).toBe(2 * n);
        expect(world.credential.calls).toBe(1);
    });

    it("attempts count per gate across decisions", async () => {
        world = await startWorld();
        world.gate({ n: 1, displayName: "weekend only" });
        world.clock.now = Date.parse("2026-03-25T12:00:00Z");
        const e = world.event({ n: 1, displayName: "weekend only" });
        const attempts = [];
        for (let i = 0; i < 3; i++) attempts.push((await decideRaw(e, world.deps)).attempt);
        expect(attempts).toEqual([1, 2, 3]);
        expect((await decide(parseGateEvent(e), world.deps, { attempt: 7 })).attempt).toBe(7);
    });
});
