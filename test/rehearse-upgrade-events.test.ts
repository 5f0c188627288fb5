/**
 * The rehearsal from a new Kubernetes version: AKS's NewKubernetesVersionAvailable from every member
 * through the plan's cluster subscriptions to the real handler, which creates and starts the run in
 * the emulator; the run's gates as usual; `--fail` publishing NodePoolRollingFailed so the After gate
 * of the failing member's group is held with the node pool reason. Issue 13's done-when command runs
 * here as typed, on the dev stack as shipped.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { main } from "../local/cli";
import { PROJECT_ROOT } from "../local/plan/plan";
import { rehearse, rehearsalJson, type RehearsalResult } from "../local/simulate/rehearse";
import { versionBefore } from "../local/simulate/rehearse/world";

const IN_WINDOW = new Date("2026-11-24T09:00:00Z");

/** `npm run rehearse -- …args` in this process: exit code, stdout, stderr. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const so = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    const se = vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
    try {
        return { code: await main(["rehearse", ...args]), out: out.join(""), err: err.join("") };
    } finally {
        so.mockRestore();
        se.mockRestore();
    }
}

/** The summary row of a gate: `stage group timing "gate" rule routed-by outcome`, split on runs of spaces. */
function summaryRow(text: string, gate: string): string[] | undefined {
    const summary = text.slice(text.indexOf("\nsummary\n"));
    const line = summary.split("\n").find((l) => l.includes(`"${gate}"`));
    return line?.trim().split(/\s{2,}/);
}

/** The summary row of dev's "blue healthy" gate, decided by its rule, routed by its subscription. */
const blueHealthyRow = (outcome: string) => [
    "dev",
    "blue",
    "After",
    '"blue healthy"',
    "blue-healthy",
    "gate-blue-healthy",
    outcome,
];

const outcomes = (r: RehearsalResult) => r.gates.map((g) => `${g.displayName}=${g.outcome}`);

describe("rehearse --new-version", () => {
    it("the handler starts k8s-1-33-2 from the members' events, and the run's gates pass as usual", async () => {
        const r = await rehearse({ stack: "dev", now: IN_WINDOW, newVersion: "1.33.2" });
        expect(r.runName).toBe("k8s-1-33-2");
        const aks = r.timeline.filter((e) => e.gate === "NewKubernetesVersionAvailable");
        expect(aks.map((e) => [e.stage, e.subscription, e.decision])).toEqual([
            ["aks-dev-blue-1", "aks-upgrade-events", "run-started"],
            ["aks-dev-blue-2", "aks-upgrade-events", "ignored"],
            ["aks-dev-green-1", "aks-upgrade-events", "ignored"],
        ]);
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=approved"]);
        expect(r.stuck).toEqual([]);
        // The --json contract is unchanged by the option.
        expect(Object.keys(rehearsalJson(r))).toEqual(["stack", "gates", "stuck", "durationMs"]);
    });

    it("a version members already run starts nothing: stuck before the run, saying why", async () => {
        const r = await rehearse({
            stack: "dev",
            now: IN_WINDOW,
            approveManual: true,
            newVersion: "1.33.2",
            plan: undefined,
            fail: [],
            dir: (() => {
                const dir = mkdtempSync(path.join(os.tmpdir(), "rehearse-upgrade-"));
                const text = readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8").replace(
                    "      group: green\n",
                    '      group: green\n      kubernetesVersion: "1.34"\n',
                );
                writeFileSync(path.join(dir, "Pulumi.dev.yaml"), text);
                return dir;
            })(),
        });
        expect(r.gates).toEqual([]);
        expect(r.stuck).toEqual([
            {
                stage: "k8s-1-33-2",
                group: null,
                displayName: "NewKubernetesVersionAvailable",
                reason: "announced 1.33.2; no run started: aks-dev-green-1 runs 1.34.0, newer than 1.33.2; a run would downgrade",
            },
        ]);
    });

    it("--fail publishes NodePoolRollingFailed: the After gate of the member's group is held with the node pool reason", async () => {
        const r = await rehearse({
            stack: "dev",
            now: IN_WINDOW,
            newVersion: "1.33.2",
            fail: ["aks-dev-blue-1"],
            horizonHours: 1,
        });
        const pool = r.timeline.find((e) => e.gate === "NodePoolRollingFailed")!;
        expect(pool).toMatchObject({ stage: "aks-dev-blue-1", decision: "notified" });
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=held"]);
        expect(r.stuck).toHaveLength(1);
        expect(r.stuck[0]!.reason).toMatch(
            /aks-dev-blue-1: update Failed \(expected Completed\), node pool nodepool1 failed to roll \(NodePoolRollingFailed at 2026-11-24T09:\d\d:00/,
        );
    });

    // Generous timeouts: a week of virtual sweeps and the staged runs, on a machine that may be busy.
    it("done when: `npm run rehearse -- --stack dev --new-version 1.33.2 --fail aks-dev-blue-1` as typed", async () => {
        // No --now: the run starts at the real time. Whatever the day, dev's sales window opens within
        // the default horizon (168 h), so the run reaches blue's After gate, which its rule then holds.
        const r = await cli(["--stack", "dev", "--new-version", "1.33.2", "--fail", "aks-dev-blue-1"]);
        // A gate held until the horizon is stuck: the rehearsal exits 1 (README, "Exit codes").
        expect(r.code).toBe(1);
        expect(r.out).toMatch(/^rehearsal of stack dev \(fleet \S+\/fleets\/flt-dev, update run k8s-1-33-2\)\n/);
        expect(r.out).toMatch(
            /aks-dev-blue-1 +"NewKubernetesVersionAvailable" +aks-upgrade-events +run-started +started update run k8s-1-33-2 \(strategy gated-rollout, Full upgrade to 1\.33\.2,/,
        );
        expect(r.out).toMatch(
            /aks-dev-blue-1 +"NodePoolRollingFailed" +aks-upgrade-events +notified +node pool nodepool1 of aks-dev-blue-1 failed to roll/,
        );
        expect(summaryRow(r.out, "Check with sales team")).toEqual([
            "dev",
            "-",
            "Before",
            '"Check with sales team"',
            "sales-check",
            "gate-sales-check",
            "approved",
        ]);
        expect(summaryRow(r.out, "blue healthy")).toEqual(blueHealthyRow("held"));
        const stuck = r.out.split("\n").filter((l) => l.startsWith("STUCK"));
        expect(stuck).toHaveLength(1);
        expect(stuck[0]).toMatch(
            /^STUCK at "blue healthy" \(stage dev, group blue\) after \d+d \d\d:\d\d:\d\d: held until the horizon \(168 h, \d+ sweep\(s\)\): clusterHealth check failed: 1\/2 unhealthy in group blue of stage dev: aks-dev-blue-1: update Failed \(expected Completed\), node pool nodepool1 failed to roll \(NodePoolRollingFailed at \S+\)$/,
        );
        expect(r.out).toContain('{{"blue healthy<br/>After · held"}}:::held');
    }, 180_000);

    it("--fail with a member of green: its node pool is reported, and blue's After gate is approved", async () => {
        const r = await cli(["--stack", "dev", "--new-version", "1.33.2", "--fail", "aks-dev-green-1"]);
        expect(r.code).toBe(0);
        const pools = r.out.split("\n").filter((l) => l.includes('"NodePoolRollingFailed"'));
        expect(pools).toHaveLength(1);
        expect(pools[0]).toMatch(/aks-dev-green-1 +"NodePoolRollingFailed" +aks-upgrade-events +notified +/);
        expect(summaryRow(r.out, "blue healthy")).toEqual(blueHealthyRow("approved"));
        expect(r.out).not.toContain("STUCK");
        expect(r.out).toMatch(/\nthe run completed: 2 gate\(s\) passed in /);
    }, 180_000);

    it("refuses a stack that does not start runs, and a version that is not one", async () => {
        await expect(rehearse({ stack: "prod", newVersion: "1.33.2" })).rejects.toThrow(
            "--new-version 1.33.2: stack prod does not start runs from AKS upgrade events (set fleet-gates:upgradeEvents.startRun)",
        );
        await expect(rehearse({ stack: "dev", newVersion: "1.33" })).rejects.toThrow(
            "--new-version 1.33: not a version like 1.33.2",
        );
    });

    it.each([
        [undefined, "1.33.2", "1.32.0"],
        ["1.31", "1.33.2", "1.31.0"],
        ["1.33.1", "1.33.2", "1.33.1"],
        ["1.34", "1.33.2", "1.34.0"],
    ])("a member configured with %s, AKS announcing %s: it runs %s", (configured, next, expected) => {
        expect(versionBefore(configured, next)).toBe(expected);
    });
});
