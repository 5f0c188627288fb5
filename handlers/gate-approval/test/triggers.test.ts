/**
 * The Azure Functions triggers around the engine, against the loopback ARM emulator: the gate-event
 * trigger (retry throws so Event Grid redelivers; rejected and ignored events are acknowledged) and the
 * gate-sweep timer, on a runtime built from app settings.
 */
import { InvocationContext, type Timer } from "@azure/functions";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RedeliveryRequested, createGateEventHandler } from "../src/event-handler";
import { createGateSweepHandler } from "../src/sweep-handler";
import { createRuntime, type Runtime } from "../src/runtime";
import { SettingsError, readSettings } from "../src/settings";
import { FAST, FIXTURES, FLEET_ID, RULES, SUB, World, countingCredential, startWorld } from "./helpers";

let world: World | undefined;
afterEach(async () => {
    await world?.stop();
    world = undefined;
});

function context(functionName: string) {
    const lines: { level: string; text: string }[] = [];
    const ctx = new InvocationContext({
        invocationId: "inv-1",
        functionName,
        logHandler: (level, ...args) => lines.push({ level, text: args.map(String).join(" ") }),
    });
    const audits = () =>
        lines
            .map((l) => {
                try {
                    return JSON.parse(l.text) as Record<string, unknown>;
                } catch {
                    return undefined;
                }
            })
            .filter((r): r is Record<string, unknown> => r?.msg === "gate decision");
    return { ctx, lines, audits };
}

function runtimeOf(w: World): Runtime {
    const { audit: _audit, ...deps } = w.deps;
    return { settings: readSettings(env(w)), deps, warnings: [] };
}

function env(w: World): Record<string, string> {
    return {
        FLEET_ID,
        SUBSCRIPTION_ID: SUB,
        APPROVAL_RULES: JSON.stringify(RULES),
        ESCALATE_AFTER_MINUTES: "60",
        SWEEP_SCHEDULE: "0 */5 * * * *",
        ARM_ENDPOINT: w.emu.url,
        METRICS_ENDPOINT: w.emu.url,
    };
}

const timer: Timer = {
    isPastDue: false,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: "a", lastUpdated: "b", next: "c" },
};

describe("gate-event trigger", () => {
    it("decides the delivered event and logs one audit line", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        const handler = createGateEventHandler(() => runtimeOf(world!));
        const { ctx, lines, audits } = context("gate-event");
        const decisions = await handler(world.event({ n: 1 }), ctx);
        expect(decisions.map((d) => d.outcome)).toEqual(["approved"]);
        expect(world.emu.gate(id)!.state).toBe("Completed");
        expect(JSON.parse(lines[0]!.text)).toMatchObject({
            msg: "gate event received",
            function: "gate-event",
            invocationId: "inv-1",
        });
        expect(audits()).toEqual([
            expect.objectContaining({ outcome: "approved", gateId: id, rule: "before-stage", trigger: "event" }),
        ]);
    });

    it("throws on retry so the host answers 500 and Event Grid redelivers", async () => {
        world = await startWorld();
        world.gate({ n: 1 });
        world.emu.inject({ route: "gates.patch", kind: "500" });
        const handler = createGateEventHandler(() => runtimeOf(world!));
        const { ctx, audits } = context("gate-event");
        const err = await handler(world.event({ n: 1 }), ctx).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RedeliveryRequested);
        expect((err as RedeliveryRequested).decisions.map((d) => d.outcome)).toEqual(["retry"]);
        expect(audits()).toEqual([expect.objectContaining({ outcome: "retry" })]);
        // The redelivery succeeds once ARM recovers.
        world.emu.clearFaults();
        expect((await handler(world.event({ n: 1 }), context("gate-event").ctx)).map((d) => d.outcome)).toEqual([
            "approved",
        ]);
    });

    it("acknowledges rejected and ignored events (raw fixtures, an Event Grid batch of another fleet)", async () => {
        world = await startWorld();
        const handler = createGateEventHandler(() => runtimeOf(world!));
        for (const name of fs.readdirSync(path.join(FIXTURES, "raw"))) {
            const body = JSON.parse(fs.readFileSync(path.join(FIXTURES, "raw", name), "utf8"));
            const d = await handler(body, context("gate-event").ctx);
            expect(d.map((x) => x.outcome)).toEqual(["rejected"]);
        }
        const batch = JSON.parse(
            fs.readFileSync(path.join(FIXTURES, "resolved", "eventgrid-schema-gate-created.json"), "utf8"),
        );
        expect((await handler(batch, context("gate-event").ctx)).map((x) => x.outcome)).toEqual(["ignored"]);
        expect(world.emu.requests).toHaveLength(0);
    });

    it("bad settings fail the invocation (so events are redelivered once fixed), naming the setting", async () => {
        const handler = createGateEventHandler(() => {
            throw new SettingsError(["APPROVAL_RULES: is required (a JSON array of rules)"]);
        });
        await expect(handler({}, context("gate-event").ctx)).rejects.toThrow(/APPROVAL_RULES/);
    });

    it("runs on a runtime built from app settings (createRuntime wiring)", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1, group: "blue", timing: "After", displayName: "blue healthy" });
        const credential = countingCredential();
        const rt = createRuntime(readSettings(env(world)), { credential, tuning: { ...FAST, tlsCa: world.emu.ca! } });
        expect(rt.warnings[0]).toMatch(/no state storage configured/);
        const handler = createGateEventHandler(() => rt);
        const d = await handler(
            world.event({ n: 1, group: "blue", timing: "After", displayName: "blue healthy" }),
            context("gate-event").ctx,
        );
        expect(d.map((x) => x.outcome)).toEqual(["approved"]);
        expect(world.emu.gate(id)!.state).toBe("Completed");
        expect(credential.calls).toBe(1);
    });
});

describe("gate-sweep trigger", () => {
    it("sweeps and logs a summary", async () => {
        world = await startWorld();
        const a = world.gate({ n: 1 });
        world.gate({ n: 2, displayName: "prod go" });
        const handler = createGateSweepHandler(() => runtimeOf(world!));
        const { ctx, lines, audits } = context("gate-sweep");
        const decisions = await handler(timer, ctx);
        expect(decisions.map((d) => d.outcome).sort()).toEqual(["approved", "manual"]);
        expect(world.emu.gate(a)!.state).toBe("Completed");
        expect(audits()).toHaveLength(2);
        const summary = lines.map((l) => l.text).find((t) => t.includes("gate sweep done"));
        expect(JSON.parse(summary!)).toMatchObject({ gates: 2, outcomes: { approved: 1, manual: 1 } });
        expect(JSON.parse(lines[0]!.text)).toMatchObject({ msg: "gate sweep tick", scheduleNext: "c" });
    });

    it("fails the invocation when the fleet's gates cannot be listed", async () => {
        world = await startWorld();
        world.emu.inject({ route: "gates.list", kind: "503", retryAfterSeconds: 0 });
        const handler = createGateSweepHandler(() => runtimeOf(world!));
        await expect(handler(timer, context("gate-sweep").ctx)).rejects.toThrow(/gate sweep: listing the gates/);
    });
});
