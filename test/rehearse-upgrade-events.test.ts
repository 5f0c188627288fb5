/**
 * The rehearsal from a new Kubernetes version: AKS's NewKubernetesVersionAvailable from every member
 * through the plan's cluster subscriptions to the real handler, which creates and starts the run in
 * the emulator; the run's gates as usual; `--fail` publishing NodePoolRollingFailed so the After gate
 * of the failing member's group is held with the node pool reason.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../local/plan/plan";
import { rehearse, rehearsalJson, type RehearsalResult } from "../local/simulate/rehearse";
import { versionBefore } from "../local/simulate/rehearse/world";

const IN_WINDOW = new Date("2026-11-24T09:00:00Z");

/** The dev stack plus a clusterHealth rule for "blue healthy" (manual in dev). */
function devWithBlueRule(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rehearse-upgrade-"));
    const text = readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8");
    const rule = `    - name: blue-healthy
      match: { displayName: "blue healthy", stage: dev, group: blue, timing: After }
      checks:
        - type: clusterHealth
`;
    const edited = text.replace("  fleet-gates:handler:", `${rule}  fleet-gates:handler:`);
    expect(edited).not.toBe(text);
    writeFileSync(path.join(dir, "Pulumi.dev.yaml"), edited);
    return dir;
}

const outcomes = (r: RehearsalResult) => r.gates.map((g) => `${g.displayName}=${g.outcome}`);

describe("rehearse --new-version", () => {
    it("the handler starts k8s-1-33-2 from the members' events, and the run's gates pass as usual", async () => {
        const r = await rehearse({ stack: "dev", now: IN_WINDOW, approveManual: true, newVersion: "1.33.2" });
        expect(r.runName).toBe("k8s-1-33-2");
        const aks = r.timeline.filter((e) => e.gate === "NewKubernetesVersionAvailable");
        expect(aks.map((e) => [e.stage, e.subscription, e.decision])).toEqual([
            ["aks-dev-blue-1", "aks-upgrade-events", "run-started"],
            ["aks-dev-blue-2", "aks-upgrade-events", "ignored"],
            ["aks-dev-green-1", "aks-upgrade-events", "ignored"],
        ]);
        expect(outcomes(r)).toEqual(["Check with sales team=approved", "blue healthy=manual"]);
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
            dir: devWithBlueRule(),
            now: IN_WINDOW,
            approveManual: true,
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
