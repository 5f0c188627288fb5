/**
 * `npm run rehearse`: an update run of the dev and prod stacks walked stage by stage, group by group on a
 * virtual clock, each gate's events routed through the plan's subscriptions to the real handler against the
 * loopback ARM emulator; windows, manual and held gates, duplicates, shuffling, dead letters and the CLI.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { evaluateFilter, gateEventFor, type JsonObject } from "../core/event-filter";
import { parseGateEvent } from "../core/gate-event";
import { toCloudEvent } from "../local/emulators/event-grid";
import { parseConfigMap } from "../config";
import { OFFLINE_DEFAULTS } from "../local/plan/mocks";
import { planStack, PROJECT_ROOT } from "../local/plan/plan";
import {
    formatRehearsal,
    nextSweepAt,
    planSubscriptions,
    rehearsalJson,
    rehearsalMermaid,
    rehearse,
    resolveConcurrency,
    type RehearsalResult,
} from "../local/simulate/rehearse";
import { loadStackFile } from "../local/plan/stack-file";

/** Tuesday 10:00 in Berlin: inside the dev rule's window (Mon–Thu 09:00–16:00 Europe/Berlin). */
const IN_WINDOW = new Date("2026-11-24T09:00:00Z");
/** Saturday 10:00 in Berlin: outside it until Monday 09:00. */
const SATURDAY = new Date("2026-11-28T09:00:00Z");
/** Tuesday 09:00 in Berlin / 08:00 in Dublin: prod's windows open within the run's first hour. */
const PROD_START = new Date("2026-11-24T08:00:00Z");

/** A temp dir with the dev stack, its text edited by `edit`. */
function devWith(edit: (text: string) => string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rehearse-"));
    const text = readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8");
    const edited = edit(text);
    expect(edited).not.toBe(text);
    writeFileSync(path.join(dir, "Pulumi.dev.yaml"), edited);
    return dir;
}

/** The dev stack without its rule for "blue healthy": that gate is manual, a person has to approve it. */
function devWithBlueManual(): string {
    return devWith((text) => text.replace(/ {4}- name: blue-healthy\b[^\n]*\n(?: {6}[^\n]*\n)+/, ""));
}

function devModel() {
    const f = loadStackFile("dev", PROJECT_ROOT);
    return parseConfigMap(f.config, f.secretKeys);
}

function outcomes(r: RehearsalResult): string[] {
    return r.gates.map((g) => `${g.displayName}=${g.outcome}`);
}

describe("rehearse", () => {
    it("dev inside its window: every gate approved by its rule, no person, nothing stuck", async () => {
        const r = await rehearse({ stack: "dev", now: IN_WINDOW });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=approved"]);
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
        expect(r.gates[1]).toMatchObject({
            group: "blue",
            timing: "After",
            rule: "blue-healthy",
            subscriptions: ["gate-blue-healthy"],
        });
        // The handler approved on the first delivery; blue (2 members, one at a time, 10 min each) and
        // green (1 member) upgrade in parallel: 20 min, then afterStageWaitInSeconds (300 s).
        expect(r.durationMs).toBe(20 * 60_000 + 300_000);
        const upgrading = r.timeline.filter((e) => e.decision === "upgrading");
        expect(upgrading.map((e) => [e.group, e.at])).toEqual([
            ["blue", "2026-11-24T09:00:00.000Z"],
            ["green", "2026-11-24T09:00:00.000Z"],
        ]);
        const upgraded = r.timeline.filter((e) => e.decision === "upgraded");
        expect(upgraded.map((e) => [e.group, e.at])).toEqual([
            ["green", "2026-11-24T09:10:00.000Z"],
            ["blue", "2026-11-24T09:20:00.000Z"],
        ]);
        const blueGate = r.timeline.find((e) => e.gate === "blue healthy" && e.decision === "created")!;
        expect(blueGate.at).toBe("2026-11-24T09:20:00.000Z");
        expect(r.gateWrites).toBe(2);
        expect(r.deadLetters).toEqual([]);
        expect(Object.keys(rehearsalJson(r)).sort()).toEqual(["durationMs", "gates", "stack", "stuck"]);
        // FleetGateUpdated reaches the handler through the lifecycle subscription.
        expect(r.timeline.filter((e) => e.subscription === "gate-lifecycle")).toHaveLength(2);
        const text = formatRehearsal(r);
        expect(text).toContain("gate-sales-check");
        expect(text).toContain("the run completed: 2 gate(s)");
    });

    it("a manual gate without --approve-manual: stuck there, nothing after it reached", async () => {
        const r = await rehearse({ stack: "dev", dir: devWithBlueManual(), now: IN_WINDOW });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=manual"]);
        expect(r.stuck).toHaveLength(1);
        expect(r.stuck[0]).toMatchObject({ displayName: "blue healthy", stage: "dev", group: "blue" });
        expect(r.stuck[0]!.reason).toMatch(/manual/);
        // green runs in parallel with blue and finishes; the stage never completes: no stage wait.
        expect(r.timeline.some((e) => e.group === "green" && e.decision === "upgraded")).toBe(true);
        expect(r.timeline.some((e) => e.decision === "wait")).toBe(false);
        expect(r.notReached).toEqual([]);
        expect(formatRehearsal(r)).toContain('STUCK at "blue healthy"');
    });

    it("a window closed at the start: the sweep approves the gate when it opens on the virtual clock", async () => {
        const progress: string[] = [];
        const r = await rehearse({
            stack: "dev",
            now: SATURDAY,
            onProgress: (l) => progress.push(l),
        });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=approved"]);
        const approved = r.timeline.find((e) => e.gate === "Check with sales team" && e.decision === "approved")!;
        expect(approved.subscription).toBe("sweep");
        // Monday 09:00 Berlin = 08:00Z, the first 5-minute sweep in the window.
        expect(approved.at).toBe("2026-11-30T08:00:00.000Z");
        expect(progress.length).toBeGreaterThan(0);
        // Sweeps are summarised: one timeline line per change of reason, not one per sweep.
        expect(r.timeline.length).toBeLessThan(20);
    });

    it("--fail holds the group's After gate (its clusterHealth rule) until the horizon: stuck", async () => {
        const r = await rehearse({
            stack: "dev",
            now: IN_WINDOW,
            fail: ["aks-dev-blue-1"],
            horizonHours: 2,
        });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=held"]);
        expect(r.gates[1]).toMatchObject({ rule: "blue-healthy", subscriptions: ["gate-blue-healthy"] });
        expect(r.stuck).toHaveLength(1);
        expect(r.stuck[0]!.reason).toMatch(/horizon/);
        expect(r.stuck[0]!.reason).toMatch(/aks-dev-blue-1/);
        expect(r.durationMs).toBe(2 * 3_600_000);

        // A failing member of another group: blue's gate is approved.
        const green = await rehearse({ stack: "dev", now: IN_WINDOW, fail: ["aks-dev-green-1"], horizonHours: 2 });
        expect(outcomes(green)).toEqual(["Check with sales team=approved", "blue healthy=approved"]);
        expect(green.stuck).toEqual([]);
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
        const r = await rehearse({ stack: "dev", plan: mutated, now: IN_WINDOW });
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
        expect(subs.map((s) => s.name).sort()).toEqual(["gate-blue-healthy", "gate-lifecycle", "gate-sales-check"]);
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
            // One more 503 than the pipeline's own retries (3): the first delivery fails.
            faults: [{ route: "gates.patch", kind: "503", retryAfterSeconds: 0, times: 4 }],
        });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=approved"]);
        const approved = r.timeline.find((e) => e.gate === "Check with sales team" && e.decision === "approved")!;
        expect(approved.subscription).toBe("gate-sales-check");
        expect(approved.reason).toMatch(/after 2 attempts/);
        // The first retry comes 10 s later; then the upgrades (20 min) and the 300 s stage wait.
        expect(r.durationMs).toBe(10_000 + 20 * 60_000 + 300_000);
    });

    it("prod with manual gates approved and a window-compatible start: every gate passes", async () => {
        const r = await rehearse({ stack: "prod", now: PROD_START, approveManual: true });
        expect(r.stuck).toEqual([]);
        // eu-green's Before gate comes while eu-blue is still upgrading (groups run in parallel).
        expect(outcomes(r)).toEqual([
            "canary healthy=approved",
            "canary soak complete=approved",
            "prod go=approved",
            "eu-green window=approved",
            "eu-blue healthy=approved",
            "prod go=approved",
            "rollout complete=manual",
        ]);
        // canary 10 min, wait 3600 s; prod-eu: eu-blue's 2 members one at a time (maxConcurrency "1")
        // 20 min, wait 1800 s; prod-us: us-blue 2 members at 50% = 1 at a time, 20 min.
        expect(r.durationMs).toBe((10 + 60 + 20 + 30 + 20) * 60_000);
        expect(r.gateWrites).toBe(6);
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
        const args = ["rehearse", "--stack", "dev", "--dir", devWithBlueManual(), "--json"];
        const r = await run([...args, "--now", "2026-11-24T09:00:00Z"]);
        expect(r.code).toBe(1);
        const json = JSON.parse(r.out) as {
            stack: string;
            gates: Record<string, unknown>[];
            stuck: unknown[];
            durationMs: number;
            stagedRuns: unknown[];
        };
        expect(Object.keys(json)).toEqual(["stack", "gates", "stuck", "durationMs", "stagedRuns"]);
        // dev's placement "web": ring0 (both blue members, by name), a minute's wait, ring1, approved by its rule.
        expect(json.stagedRuns).toEqual([
            {
                placement: "web",
                run: "web-run-1",
                stages: [
                    {
                        name: "ring0",
                        clusters: ["aks-dev-blue-1", "aks-dev-blue-2"],
                        tasks: [{ type: "TimedWait", timing: "After", rule: null, outcome: "waited" }],
                    },
                    {
                        name: "ring1",
                        clusters: ["aks-dev-green-1"],
                        tasks: [{ type: "Approval", timing: "After", rule: "web-ring1", outcome: "approved" }],
                    },
                ],
            },
        ]);
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
        const args = ["rehearse", "--stack", "dev", "--dir", devWithBlueManual(), "--approve-manual"];
        const r = await run([...args, "--now", "2026-11-24T09:00:00Z"]);
        expect(r.code).toBe(0);
        expect(r.out).toContain("```mermaid\nflowchart");
        expect(r.out).toMatch(/\(diagram written to .*\.rehearsal[\\/]dev\.md\)/);
    });

    it("--delete-run, --duplicates, --shuffle and --seed keep the JSON shape", async () => {
        const args = ["rehearse", "--stack", "dev", "--json", "--now", "2026-11-24T09:00:00Z"];
        const r = await run([...args, "--delete-run", "--duplicates", "0.5", "--shuffle", "--seed", "9"]);
        expect(r.code).toBe(0);
        const json = JSON.parse(r.out) as { gates: { outcome: string }[]; stuck: unknown[] };
        expect(Object.keys(json)).toEqual(["stack", "gates", "stuck", "durationMs", "stagedRuns"]);
        expect(json.gates.map((g) => g.outcome)).toEqual(["approved", "approved"]);
        expect(r.err).toBe("");
    });

    it.each([
        [["--duplicates", "2"], '--duplicates "2" is not a rate from 0 to 1\n'],
        [["--upgrade-minutes", "-5"], '--upgrade-minutes "-5" is not a number of minutes >= 0\n'],
        [["--horizon-hours", "0"], '--horizon-hours "0" is not a number of hours > 0\n'],
        [["--seed", "x"], '--seed "x" is not an integer\n'],
        // Options the stack cannot take: a clear line, not a stack trace.
        [["--fail", "aks-dev-blue-9"], "--fail aks-dev-blue-9: not a member of stack dev\n"],
        [["--new-version", "1.33"], "--new-version 1.33: not a version like 1.33.2\n"],
    ])("exits 1 naming a bad flag: %j", async (flags, message) => {
        const r = await run(["rehearse", "--stack", "dev", ...flags]);
        expect(r.code).toBe(1);
        expect(r.err).toBe(message);
        expect(r.out).toBe("");
    });

    it("shows progress of a long hold on stderr, and keeps stderr quiet with --json", async () => {
        const args = ["rehearse", "--stack", "dev", "--now", "2026-11-28T09:00:00Z"];
        const text = await run(args);
        expect(text.code).toBe(0);
        expect(text.err).toMatch(/Check with sales team: still held at 2026-11-29T09:0\d:00.000Z/);
        const json = await run([...args, "--json"]);
        expect(json.err).toBe("");
        expect(json.code).toBe(0);
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
        const r = await rehearse({ stack: "dev", now: new Date("2026-11-28T09:00:00Z") });
        expect(r.gates[0]).toMatchObject({ displayName: "Check with sales team", outcome: "approved" });
        const escalations = r.notifications.filter((n) => n.kind === "escalation");
        expect(escalations.length).toBeGreaterThan(0);
        const first = escalations[0] as { pendingMinutes?: number };
        expect(first.pendingMinutes).toBeGreaterThanOrEqual(240);
        expect(first.pendingMinutes).toBeLessThan(240 + 10);
    });
});

describe("Fleet's schedule (2026-06-01 semantics)", () => {
    it.each<[string | undefined, number, number]>([
        [undefined, 5, 1],
        ["1", 5, 1],
        ["3", 5, 3],
        ["9", 5, 5],
        ["50%", 2, 1],
        ["50%", 5, 2],
        ["25%", 3, 1],
        ["100%", 7, 7],
        ["1%", 1, 1],
    ])("maxConcurrency %s of %i members: %i at a time", (spec, members, expected) => {
        expect(resolveConcurrency(spec, members)).toBe(expected);
    });

    it.each(["0", "101%", "x", "-1", "1.5"])("rejects maxConcurrency %s", (spec) => {
        expect(() => resolveConcurrency(spec, 3)).toThrow(RangeError);
    });

    it.each<[string, number, string]>([
        ["2026-11-24T09:00:00.000Z", 5, "2026-11-24T09:05:00.000Z"],
        ["2026-11-24T09:02:30.000Z", 5, "2026-11-24T09:05:00.000Z"],
        ["2026-11-24T09:59:59.999Z", 5, "2026-11-24T10:00:00.000Z"],
        ["2026-11-24T09:50:00.000Z", 7, "2026-11-24T09:56:00.000Z"],
        ["2026-11-24T09:56:00.000Z", 7, "2026-11-24T10:00:00.000Z"],
        ["2026-11-24T09:00:00.000Z", 60, "2026-11-24T10:00:00.000Z"],
        ["2026-11-24T09:00:01.000Z", 1, "2026-11-24T09:01:00.000Z"],
    ])("the sweep timer after %s (every %i min) fires at %s", (t, minutes, next) => {
        expect(new Date(nextSweepAt(Date.parse(t), minutes)).toISOString()).toBe(next);
    });

    it("a group's maxConcurrency lets its members upgrade together", async () => {
        const dir = devWith((t) =>
            t.replace("          - name: blue\n", '          - name: blue\n            maxConcurrency: "100%"\n'),
        );
        const r = await rehearse({ stack: "dev", dir, now: IN_WINDOW });
        expect(r.timeline.find((e) => e.group === "blue" && e.decision === "upgrading")!.reason).toMatch(
            /2 member\(s\), 2 at a time/,
        );
        // Both groups take 10 min; then the 300 s wait.
        expect(r.durationMs).toBe(10 * 60_000 + 300_000);
    });

    it("a stage's maxConcurrency caps upgrades across its groups", async () => {
        const dir = devWith((t) =>
            t.replace("      - name: dev\n", '      - name: dev\n        maxConcurrency: "1"\n'),
        );
        const r = await rehearse({ stack: "dev", dir, now: IN_WINDOW });
        expect(r.stuck).toEqual([]);
        // Three members one at a time across blue and green: 30 min, then the 300 s wait.
        expect(r.durationMs).toBe(30 * 60_000 + 300_000);
        const done = r.timeline.filter((e) => e.decision === "upgraded").map((e) => [e.group, e.at]);
        expect(done).toEqual([
            ["green", "2026-11-24T09:20:00.000Z"],
            ["blue", "2026-11-24T09:30:00.000Z"],
        ]);
    });

    it("--upgrade-minutes 0: upgrades take no virtual time", async () => {
        const r = await rehearse({ stack: "dev", now: IN_WINDOW, upgradeMinutes: 0 });
        expect(r.durationMs).toBe(300_000);
    });
});

describe("FleetGateDeleted", () => {
    it("deleting the run at the end publishes FleetGateDeleted for each of its gates, shaped as the service's sample", async () => {
        const published: JsonObject[] = [];
        const r = await rehearse({
            stack: "dev",
            now: IN_WINDOW,
            deleteRun: true,
            onPublish: (events) => published.push(...events),
        });
        expect(r.stuck).toEqual([]);
        const deleted = published.filter((e) => String(e.eventType).endsWith("FleetGateDeleted"));
        expect(deleted).toHaveLength(2);
        const sample = JSON.parse(
            readFileSync(
                path.join(PROJECT_ROOT, "../shared/fixtures/events/resolved/cloudevents-schema-gate-deleted.json"),
                "utf8",
            ),
        ) as JsonObject;
        const keys = (v: unknown, at = ""): string[] =>
            typeof v === "object" && v !== null && !Array.isArray(v)
                ? Object.entries(v).flatMap(([k, x]) => [`${at}${k}`, ...keys(x, `${at}${k}.`)])
                : [];
        for (const e of deleted) {
            expect(e.eventType).toBe("Microsoft.ResourceNotifications.AksResources.FleetGateDeleted");
            const parsed = parseGateEvent(e);
            expect(parsed.ok).toBe(true);
            if (parsed.ok) expect(parsed.event.kind).toBe("deleted");
            // Both gates were Completed when the run was deleted: the event carries the gate's state.
            expect((e.data as { resourceInfo: { properties: { state: string } } }).resourceInfo.properties.state).toBe(
                "Completed",
            );
            const stage = keys(toCloudEvent(e)).filter((k) => !k.endsWith(".group"));
            expect(stage.sort()).toEqual(keys(sample).sort());
        }
        // Delivered to the lifecycle subscription only; the handler records the deletion.
        const lines = r.timeline.filter((e) => e.decision.startsWith("deleted:"));
        expect(lines.map((e) => [e.gate, e.subscription, e.decision])).toEqual([
            ["Check with sales team", "gate-lifecycle", "deleted: ignored"],
            ["blue healthy", "gate-lifecycle", "deleted: ignored"],
        ]);
        expect(r.timeline.find((e) => e.decision === "run deleted")!.reason).toMatch(/2 gate\(s\)/);
        // The run's duration ends with the run, not with its deletion.
        expect(r.durationMs).toBe(20 * 60_000 + 300_000);
    });

    it("a held gate deleted with its run: the event says Pending (like the sample) and the handler clears the hold", async () => {
        const published: JsonObject[] = [];
        const r = await rehearse({
            stack: "dev",
            now: IN_WINDOW,
            fail: ["aks-dev-blue-2"],
            horizonHours: 1,
            deleteRun: true,
            onPublish: (events) => published.push(...events),
        });
        expect(r.stuck.map((s) => s.displayName)).toEqual(["blue healthy"]);
        const deleted = published.filter((e) => String(e.eventType).endsWith("FleetGateDeleted"));
        const states = deleted.map((e) => [
            (e.data as { resourceInfo: { properties: { displayName: string; state: string } } }).resourceInfo.properties
                .displayName,
            (e.data as { resourceInfo: { properties: { state: string } } }).resourceInfo.properties.state,
        ]);
        expect(states).toEqual([
            ["Check with sales team", "Completed"],
            ["blue healthy", "Pending"],
        ]);
        const line = r.timeline.find((e) => e.gate === "blue healthy" && e.decision.startsWith("deleted:"))!;
        expect(line.reason).toMatch(/deleted.*held state cleared/);
    });
});

describe("at-least-once, unordered delivery through the real handler", () => {
    it("with every delivery duplicated and shuffled, each gate is approved by exactly one write", async () => {
        const baseline = await rehearse({ stack: "dev", now: IN_WINDOW });
        expect(outcomes(baseline)).toEqual(["Check with sales team=approved", "blue healthy=approved"]);
        expect(baseline.gateWrites).toBe(2);
        for (const seed of [1, 2, 3]) {
            const r = await rehearse({ stack: "dev", now: IN_WINDOW, duplicates: 1, shuffle: true, seed });
            expect(outcomes(r)).toEqual(outcomes(baseline));
            expect(r.stuck).toEqual([]);
            expect(r.gateWrites).toBe(2);
            expect(r.deliveries).toBe(2 * baseline.deliveries);
            const dups = r.timeline.filter((e) => e.reason?.includes("(duplicate delivery)"));
            expect(dups.length).toBe(baseline.deliveries);
            // A duplicate FleetGateCreated never approves a second time.
            expect(dups.some((e) => e.decision === "approved")).toBe(false);
        }
    });

    it("prod under duplicates and shuffled order: the same gates pass, one write each", async () => {
        const r = await rehearse({
            stack: "prod",
            now: PROD_START,
            approveManual: true,
            duplicates: 1,
            shuffle: true,
            seed: 5,
        });
        expect(r.stuck).toEqual([]);
        expect(r.gates.filter((g) => g.outcome === "approved")).toHaveLength(6);
        expect(r.gateWrites).toBe(6);
    });

    it("retries spent: the event is dead-lettered as an Azure blob, and the sweep stays the guarantee", async () => {
        const plan = await planStack("dev");
        const mutated = {
            ...plan,
            resources: plan.resources.map((res) =>
                res.type === "azure-native:eventgrid:SystemTopicEventSubscription" &&
                res.inputs.eventSubscriptionName === "gate-sales-check"
                    ? {
                          ...res,
                          inputs: {
                              ...res.inputs,
                              retryPolicy: { maxDeliveryAttempts: 2, eventTimeToLiveInMinutes: 60 },
                          },
                      }
                    : res,
            ),
        };
        const r = await rehearse({
            stack: "dev",
            plan: mutated,
            now: IN_WINDOW,
            horizonHours: 1,
            // ARM keeps answering 503: every attempt fails after the handler's own retries.
            faults: [{ route: "*", kind: "503", retryAfterSeconds: 0 }],
        });
        expect(r.deadLetters).toHaveLength(1);
        const blob = r.deadLetters[0]!;
        expect(blob.path).toMatch(/^gate-events-deadletter\/GATE-SALES-CHECK\/2026\/11\/24\/9\/[0-9a-f-]{36}\.json$/);
        expect(blob.records).toHaveLength(1);
        expect(blob.records[0]).toMatchObject({
            eventType: "Microsoft.ResourceNotifications.AksResources.FleetGateCreated",
            deadLetterReason: "MaxDeliveryAttemptsExceeded",
            deliveryAttempts: 2,
            lastDeliveryOutcome: "Busy",
            publishTime: "2026-11-24T09:00:00.0000000Z",
            lastDeliveryAttemptTime: "2026-11-24T09:00:10.0000000Z",
        });
        const line = r.timeline.find((e) => e.decision === "dead-lettered")!;
        expect(line).toMatchObject({ gate: "Check with sales team", subscription: "gate-sales-check" });
        expect(line.reason).toContain(blob.path);
        // The event path is spent; the gate stays Pending and is held until the horizon.
        expect(r.gates[0]).toMatchObject({ outcome: "held", subscriptions: ["gate-sales-check"] });
        expect(r.stuck).toHaveLength(1);
        expect(formatRehearsal(r)).toContain(`dead-lettered: ${blob.path}`);
    });
});
