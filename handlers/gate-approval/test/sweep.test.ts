/**
 * The timer sweep against the loopback ARM emulator: it recovers gates whose events were dropped,
 * re-checks held gates, notifies and escalates pending ones, and races events on the same gates without
 * changing a gate twice.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseGateEvent } from "../../../core/gate-event";
import { decide, sweep } from "../src/engine";
import { FLEET_ID, World, gateRequests, guid, startWorld } from "./helpers";

let world: World | undefined;
afterEach(async () => {
    await world?.stop();
    world = undefined;
});

const MIN = 60_000;

describe("sweep", () => {
    it("recovers gates whose events were dropped (paged listing, 1 PATCH per gate, no GET)", async () => {
        world = await startWorld({ emulator: { pageSize: 3 } });
        const ids = [1, 2, 3, 4, 5, 6, 7].map((n) => world!.gate({ n }));
        world.emu.setGateState(ids[6]!, "Completed"); // not Pending: not a candidate
        world.emu.resetLog();
        const decisions = await sweep(world.deps);
        expect(decisions.map((d) => [d.gateId, d.outcome, d.trigger])).toEqual(
            ids.slice(0, 6).map((id) => [id, "approved", "sweep"]),
        );
        expect(world.emu.requests.filter((r) => r.route === "gates.list")).toHaveLength(3);
        expect(world.emu.requests.filter((r) => r.route === "gates.get")).toHaveLength(0);
        expect(world.emu.patchCount).toBe(6);
        expect(world.audits.filter((a) => a.trigger === "sweep")).toHaveLength(6);
        // Nothing Pending is left: a second sweep decides nothing.
        expect(await sweep(world.deps)).toEqual([]);
    });

    it("re-checks held gates and approves them once the check passes", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1, group: "blue", timing: "After", displayName: "blue healthy" });
        world.emu.setMember("aks-blue-1", { provisioningState: "Updating" });
        const first = await decide(
            parseGateEvent(world.event({ n: 1, group: "blue", timing: "After", displayName: "blue healthy" })),
            world.deps,
        );
        expect(first.outcome).toBe("held");
        expect((await sweep(world.deps)).map((d) => d.outcome)).toEqual(["held"]);
        world.emu.setMember("aks-blue-1", { provisioningState: "Succeeded" });
        const later = await sweep(world.deps);
        expect(later).toEqual([expect.objectContaining({ gateId: id, outcome: "approved", attempt: 3 })]);
        expect(world.notifications.filter((n) => n.kind === "held")).toHaveLength(1);
    });

    it("notifies manual gates once and escalates once per threshold", async () => {
        world = await startWorld({ escalateAfterMinutes: 30 });
        const id = world.gate({ n: 1, displayName: "prod go" });
        const start = world.clock.now;
        // The gate's creation time (emulator systemData) is the pending-since time.
        const d1 = await sweep(world.deps);
        expect(d1.map((d) => d.outcome)).toEqual(["manual"]);
        expect(world.notifications.map((n) => n.kind)).toEqual(["manual"]);
        for (const minutes of [5, 29]) {
            world.clock.now = start + minutes * MIN;
            await sweep(world.deps);
        }
        expect(world.notifications.map((n) => n.kind)).toEqual(["manual"]);
        world.clock.now = start + 31 * MIN;
        await sweep(world.deps);
        world.clock.now = start + 300 * MIN;
        await sweep(world.deps);
        expect(world.notifications.map((n) => n.kind)).toEqual(["manual", "escalation"]);
        expect(world.notifications[1]).toMatchObject({ gateId: id, pendingMinutes: 31 });
        expect(world.emu.patchCount).toBe(0);
        // A new threshold (the setting changed) escalates again, once.
        const deps = { ...world.deps, settings: { ...world.deps.settings, escalateAfterMinutes: 240 } };
        await sweep(deps);
        await sweep(deps);
        expect(world.notifications.map((n) => n.kind)).toEqual(["manual", "escalation", "escalation"]);
    });

    it("escalates held gates too, counting from the event's time", async () => {
        world = await startWorld({ escalateAfterMinutes: 60 });
        world.gate({ n: 1, displayName: "weekend only" });
        world.clock.now = Date.parse("2026-03-25T12:00:00Z");
        const event = world.event({ n: 1, displayName: "weekend only" });
        world.clock.now += 61 * MIN;
        const d = await decide(parseGateEvent(event), world.deps);
        expect(d.outcome).toBe("held");
        expect(world.notifications.map((n) => n.kind)).toEqual(["held", "escalation"]);
        await decide(parseGateEvent(event), world.deps);
        await sweep(world.deps);
        expect(world.notifications.map((n) => n.kind)).toEqual(["held", "escalation"]);
    });

    it("a failed notification is sent again by the next decision", async () => {
        let fail = true;
        const sent: string[] = [];
        world = await startWorld({
            notifier: {
                async notify(n) {
                    if (fail) throw new Error("webhook down");
                    sent.push(n.kind);
                },
            },
        });
        world.gate({ n: 1, displayName: "prod go" });
        await sweep(world.deps);
        expect(sent).toEqual([]);
        fail = false;
        await sweep(world.deps);
        await sweep(world.deps);
        expect(sent).toEqual(["manual"]);
    });

    it("a failed listing is one retry decision; transient per-gate failures are retried next sweep", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.inject({ route: "gates.list", kind: "500" });
        const failed = await sweep(world.deps);
        expect(failed).toEqual([expect.objectContaining({ outcome: "retry", trigger: "sweep" })]);
        expect(failed[0]!.reason).toMatch(/listing the gates of .*flt-dev failed/);
        expect(failed[0]!.gateId).toBeUndefined();
        world.emu.clearFaults();
        world.emu.inject({ route: "gates.patch", kind: "503", retryAfterSeconds: 0 });
        expect((await sweep(world.deps)).map((d) => d.outcome)).toEqual(["retry"]);
        world.emu.clearFaults();
        expect((await sweep(world.deps)).map((d) => [d.gateId, d.outcome])).toEqual([[id, "approved"]]);
    });

    it("sweep and events racing on the same gates change each gate once", async () => {
        world = await startWorld();
        const n = 20;
        for (let i = 1; i <= n; i++) world.gate({ n: i });
        const events = Array.from({ length: n }, (_, i) => parseGateEvent(world!.event({ n: i + 1 })));
        const [fromSweep, ...fromEvents] = await Promise.all([
            sweep(world.deps),
            ...events.map((e) => decide(e, world!.deps)),
        ]);
        expect(world.emu.patchCount).toBe(n);
        const all = [...fromSweep!, ...fromEvents.map((d) => d)];
        expect(all.every((d) => d.outcome === "approved" || d.outcome === "already-completed")).toBe(true);
        expect(world.emu.gates().every((g) => g.state === "Completed")).toBe(true);
        expect(gateRequests(world.emu)).toBeLessThanOrEqual(1 + 2 * n + 2 * n);
        expect(guid(1)).toBe(world.emu.gates()[0]!.name);
        expect(world.emu.gates()[0]!.id.startsWith(FLEET_ID)).toBe(true);
    });
});

describe("sweep with an injected FleetApi", () => {
    it("reads the gate for an eTag when the listing has none, and PATCHes with If-Match", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        const real = world.deps.arm;
        const patched: (string | undefined)[] = [];
        const decisions = await sweep({
            ...world.deps,
            arm: {
                getGate: real.getGate.bind(real),
                getUpdateRun: real.getUpdateRun.bind(real),
                getManagedCluster: real.getManagedCluster.bind(real),
                async listGates(fleet, o) {
                    const r = await real.listGates(fleet, o);
                    return { ...r, gates: r.gates.map(({ eTag: _e, ...g }) => g) };
                },
                async patchGateState(gid, s, etag, o) {
                    patched.push(etag);
                    return real.patchGateState(gid, s, etag, o);
                },
            },
        });
        expect(decisions.map((d) => d.outcome)).toEqual(["approved"]);
        expect(patched).toEqual([expect.stringMatching(/^"/)]);
        expect(world.emu.requests.filter((r) => r.route === "gates.get")).toHaveLength(1);
        expect(world.emu.gate(id)!.state).toBe("Completed");
    });
});
