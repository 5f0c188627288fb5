import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { evaluateFilter, gateEventFor } from "../core/event-filter";
import { parseConfigMap } from "../config";
import { OFFLINE_DEFAULTS } from "../local/mocks";
import { planStack, PROJECT_ROOT } from "../local/plan";
import {
    formatRehearsal,
    planSubscriptions,
    rehearsalJson,
    rehearsalMermaid,
    rehearse,
    type RehearsalResult,
} from "../local/rehearse";
import { loadStackFile } from "../local/stack-file";

/** Tuesday 10:00 in Berlin: inside the dev rule's window (Mon–Thu 09:00–16:00 Europe/Berlin). */
const IN_WINDOW = new Date("2026-11-24T09:00:00Z");
/** Saturday 10:00 in Berlin: outside it until Monday 09:00. */
const SATURDAY = new Date("2026-11-28T09:00:00Z");
/** Tuesday 09:00 in Berlin / 08:00 in Dublin: prod's windows open within the run's first hour. */
const PROD_START = new Date("2026-11-24T08:00:00Z");

const BLUE_RULE = `    - name: blue-healthy
      match: { displayName: "blue healthy", stage: dev, group: blue, timing: After }
      checks:
        - type: clusterHealth
`;

/** A temp dir with the dev stack plus a rule for "blue healthy" (in dev that gate is manual). */
function devWithBlueRule(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rehearse-"));
    const text = readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8");
    const marker = "  fleet-gates:handler:";
    expect(text).toContain(marker);
    writeFileSync(path.join(dir, "Pulumi.dev.yaml"), text.replace(marker, `${BLUE_RULE}${marker}`));
    return dir;
}

function devModel() {
    const f = loadStackFile("dev", PROJECT_ROOT);
    return parseConfigMap(f.config, f.secretKeys);
}

function outcomes(r: RehearsalResult): string[] {
    return r.gates.map((g) => `${g.displayName}=${g.outcome}`);
}

describe("rehearse", () => {
    it("dev inside its window, manual gates approved: every gate passes, nothing stuck", async () => {
        const r = await rehearse({ stack: "dev", now: IN_WINDOW, approveManual: true });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=manual"]);
        expect(r.stuck).toEqual([]);
        expect(r.notReached).toEqual([]);
        expect(r.gates[0]).toEqual({
            stage: "dev",
            group: null,
            timing: "Before",
            displayName: "Check with sales team",
            rule: "sales-check",
            subscriptions: ["gate-sales-check"],
            outcome: "approved",
        });
        expect(r.gates[1]).toMatchObject({ group: "blue", timing: "After", rule: null, subscriptions: [] });
        // Only afterStageWaitInSeconds (300 s) passes: the handler approved on the first delivery.
        expect(r.durationMs).toBe(300_000);
        expect(Object.keys(rehearsalJson(r)).sort()).toEqual(["durationMs", "gates", "stack", "stuck"]);
        // FleetGateUpdated reaches the handler through the lifecycle subscription.
        expect(r.timeline.filter((e) => e.subscription === "gate-lifecycle")).toHaveLength(2);
        const text = formatRehearsal(r);
        expect(text).toContain("gate-sales-check");
        expect(text).toContain("the run completed: 2 gate(s)");
    });

    it("dev without --approve-manual: stuck at the manual gate, nothing after it reached", async () => {
        const r = await rehearse({ stack: "dev", now: IN_WINDOW });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=manual"]);
        expect(r.stuck).toHaveLength(1);
        expect(r.stuck[0]).toMatchObject({ displayName: "blue healthy", stage: "dev", group: "blue" });
        expect(r.stuck[0]!.reason).toMatch(/manual/);
        // green (no gates) is never upgraded: the run waits at blue's After gate.
        expect(r.timeline.some((e) => e.group === "green")).toBe(false);
        expect(formatRehearsal(r)).toContain('STUCK at "blue healthy"');
    });

    it("a window closed at the start: the sweep approves the gate when it opens on the virtual clock", async () => {
        const progress: string[] = [];
        const r = await rehearse({
            stack: "dev",
            now: SATURDAY,
            approveManual: true,
            onProgress: (l) => progress.push(l),
        });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=manual"]);
        const approved = r.timeline.find((e) => e.gate === "Check with sales team" && e.decision === "approved")!;
        expect(approved.subscription).toBe("sweep");
        // Monday 09:00 Berlin = 08:00Z, the first 5-minute sweep in the window.
        expect(approved.at).toBe("2026-11-30T08:00:00.000Z");
        expect(progress.length).toBeGreaterThan(0);
        // Sweeps are summarised: one timeline line per change of reason, not one per sweep.
        expect(r.timeline.length).toBeLessThan(20);
    });

    it("--fail holds the group's After gate (with a clusterHealth rule) until the horizon: stuck", async () => {
        const dir = devWithBlueRule();
        const r = await rehearse({
            stack: "dev",
            dir,
            now: IN_WINDOW,
            approveManual: true,
            fail: ["aks-dev-blue-1"],
            horizonHours: 2,
        });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=held"]);
        expect(r.gates[1]).toMatchObject({ rule: "blue-healthy", subscriptions: ["gate-blue-healthy"] });
        expect(r.stuck).toHaveLength(1);
        expect(r.stuck[0]!.reason).toMatch(/horizon/);
        expect(r.stuck[0]!.reason).toMatch(/aks-dev-blue-1/);
        expect(r.durationMs).toBe(2 * 3_600_000);

        // The same stack without the failure: the rule approves it.
        const ok = await rehearse({ stack: "dev", dir, now: IN_WINDOW });
        expect(outcomes(ok)).toEqual(["Check with sales team=approved", "blue healthy=approved"]);
        expect(ok.stuck).toEqual([]);
    });

    it("a misrouted rule subscription: the gate is unrouted and stuck, with the failing filter clause", async () => {
        const plan = await planStack("dev");
        const mutated = {
            ...plan,
            resources: plan.resources.map((res) => {
                if (res.type !== "azure-native:eventgrid:SystemTopicEventSubscription") return res;
                if (res.inputs.eventSubscriptionName !== "gate-sales-check") return res;
                // The filter as compiled for a mistyped display name.
                const text = JSON.stringify(res.inputs.filter).replace(
                    "Check with sales team",
                    "Check with sales-team",
                );
                return { ...res, inputs: { ...res.inputs, filter: JSON.parse(text) as unknown } };
            }),
        };
        const r = await rehearse({ stack: "dev", plan: mutated, now: IN_WINDOW, approveManual: true });
        expect(r.gates).toEqual([
            {
                stage: "dev",
                group: null,
                timing: "Before",
                displayName: "Check with sales team",
                rule: "sales-check",
                subscriptions: [],
                outcome: "unrouted",
            },
        ]);
        expect(r.stuck).toHaveLength(1);
        expect(r.stuck[0]!.reason).toMatch(/gate-sales-check: advancedFilters/);
        expect(r.notReached.map((g) => g.displayName)).toEqual(["blue healthy"]);
        expect(rehearsalMermaid(r, devModel())).toMatch(/Check with sales team.*unrouted/);
    });

    it("the plan's subscriptions route the gate's events in either delivery schema", async () => {
        const plan = await planStack("dev");
        const subs = planSubscriptions(plan);
        expect(subs.map((s) => s.name).sort()).toEqual(["gate-lifecycle", "gate-sales-check"]);
        expect(subs.every((s) => s.schema === "EventGridSchema")).toBe(true);
        const lifecycle = subs.find((s) => s.name === "gate-lifecycle")!;
        const rule = subs.find((s) => s.name === "gate-sales-check")!;
        expect(lifecycle.lifecycle).toBe(true);
        expect(rule.maxDeliveryAttempts).toBeGreaterThan(0);
        const fleetId = `/subscriptions/${String(plan.stackFile.config["azure-native:subscriptionId"] ?? OFFLINE_DEFAULTS.subscriptionId)}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`;
        const spec = {
            fleetId,
            gateName: "6f1c2a4e-8d3b-4c5a-9e7f-1a2b3c4d5e6f",
            updateRunName: "rehearsal-1",
            stage: "dev",
            timing: "Before" as const,
            displayName: "Check with sales team",
        };
        for (const schema of ["EventGridSchema", "CloudEventSchemaV1_0"] as const) {
            const created = gateEventFor(spec, { schema, spelling: "AksResources" });
            const updated = gateEventFor({ ...spec, kind: "updated" }, { schema, spelling: "AksResources" });
            expect(evaluateFilter(rule.filter, created, schema)).toBe(true);
            expect(evaluateFilter(lifecycle.filter, created, schema)).toBe(false);
            expect(evaluateFilter(rule.filter, updated, schema)).toBe(false);
            expect(evaluateFilter(lifecycle.filter, updated, schema)).toBe(true);
        }
    });

    it("a transient ARM failure makes the handler ask for redelivery: retried on Event Grid's schedule", async () => {
        const r = await rehearse({
            stack: "dev",
            now: IN_WINDOW,
            approveManual: true,
            // One more 503 than the pipeline's own retries (3): the first delivery fails.
            faults: [{ route: "gates.patch", kind: "503", retryAfterSeconds: 0, times: 4 }],
        });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=manual"]);
        const approved = r.timeline.find((e) => e.gate === "Check with sales team" && e.decision === "approved")!;
        expect(approved.subscription).toBe("gate-sales-check");
        expect(approved.reason).toMatch(/after 2 attempts/);
        // The first retry comes 10 s later; then the 300 s stage wait.
        expect(r.durationMs).toBe(310_000);
    });

    it("prod with manual gates approved and a window-compatible start: every gate passes", async () => {
        const r = await rehearse({ stack: "prod", now: PROD_START, approveManual: true });
        expect(r.stuck).toEqual([]);
        expect(outcomes(r)).toEqual([
            "canary healthy=approved",
            "canary soak complete=approved",
            "prod go=approved",
            "eu-blue healthy=approved",
            "eu-green window=approved",
            "prod go=approved",
            "rollout complete=manual",
        ]);
        // The two stage waits: 3600 s after canary, 1800 s after prod-eu.
        expect(r.durationMs).toBe(5_400_000);
        const f = loadStackFile("prod", PROJECT_ROOT);
        const mermaid = rehearsalMermaid(r, parseConfigMap(f.config, f.secretKeys));
        expect(mermaid.startsWith("flowchart LR")).toBe(true);
        for (const g of r.gates) expect(mermaid).toContain(g.displayName);
        expect(mermaid).toContain("group eu-blue<br/>2 member(s)");
        expect(mermaid).toContain("approved by rule (canary-healthy)");
        expect(mermaid.match(/:::manual/g)).toHaveLength(1);
    });
});

describe("npm run rehearse (CLI)", () => {
    async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
        const { main } = await import("../local/cli");
        const out: string[] = [];
        const err: string[] = [];
        const so = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
        const se = vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
        try {
            return { code: await main(args), out: out.join(""), err: err.join("") };
        } finally {
            so.mockRestore();
            se.mockRestore();
        }
    }

    it("prints the DESIGN.md JSON shape and exits 1 when the run waits at a manual gate", async () => {
        const r = await run(["rehearse", "--stack", "dev", "--json", "--now", "2026-11-24T09:00:00Z"]);
        expect(r.code).toBe(1);
        const json = JSON.parse(r.out) as {
            stack: string;
            gates: Record<string, unknown>[];
            stuck: unknown[];
            durationMs: number;
        };
        expect(Object.keys(json)).toEqual(["stack", "gates", "stuck", "durationMs"]);
        expect(json.gates.map((g) => Object.keys(g))).toEqual([
            ["stage", "group", "timing", "displayName", "rule", "subscriptions", "outcome"],
            ["stage", "group", "timing", "displayName", "rule", "subscriptions", "outcome"],
        ]);
        expect(json.gates.map((g) => [g.displayName, g.outcome])).toEqual([
            ["Check with sales team", "approved"],
            ["blue healthy", "manual"],
        ]);
        expect(json.stuck).toHaveLength(1);
    });

    it("exits 0 with --approve-manual and writes the rollout diagram", async () => {
        const r = await run(["rehearse", "--stack", "dev", "--approve-manual", "--now", "2026-11-24T09:00:00Z"]);
        expect(r.code).toBe(0);
        expect(r.out).toContain("```mermaid\nflowchart");
        expect(r.out).toMatch(/\(diagram written to .*\.rehearsal[\\/]dev\.md\)/);
    });

    it("exits 1 naming a bad --now", async () => {
        const r = await run(["rehearse", "--stack", "dev", "--now", "monday"]);
        expect(r.code).toBe(1);
        expect(r.err).toBe('--now "monday" is not an ISO 8601 date-time\n');
    });
});

describe("rehearsal clock", () => {
    it("ages gates on the virtual clock: the first escalation comes after escalateAfterMinutes, not at once", async () => {
        // Saturday, days after the real clock: the dev gate is held until Monday 09:00 in Berlin.
        const r = await rehearse({ stack: "dev", now: new Date("2026-11-28T09:00:00Z"), approveManual: true });
        expect(r.gates[0]).toMatchObject({ displayName: "Check with sales team", outcome: "approved" });
        const escalations = r.notifications.filter((n) => n.kind === "escalation");
        expect(escalations.length).toBeGreaterThan(0);
        const first = escalations[0] as { pendingMinutes?: number };
        expect(first.pendingMinutes).toBeGreaterThanOrEqual(240);
        expect(first.pendingMinutes).toBeLessThan(240 + 10);
    });
});
