/**
 * `npm run replay` with AKS upgrade events: the dev stack (startRun) gets one message listing its
 * three members and one started update run from three members' NewKubernetesVersionAvailable; the
 * same events again start nothing; a node pool failure is recorded and announced.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { aksEventFor } from "../core/aks-event";
import { PROJECT_ROOT } from "../local/plan/plan";
import { readEventsFile, replay } from "../local/simulate/replay";

const FILE = path.join(PROJECT_ROOT, "test", "fixtures", "aks-events", "dev-new-version.json");
const SUB = "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e";
const cluster = (n: string) =>
    `/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/managedClusters/${n}`;

describe("replay of AKS upgrade events (dev stack)", () => {
    it("three members announcing 1.33.2: one message listing the three, one run started; again: nothing", async () => {
        const events = readEventsFile(FILE);
        expect(events).toHaveLength(3);
        const r = await replay({ stack: "dev", events: [...events, ...events] });
        expect(r.decisions.map((d) => d.outcome)).toEqual([
            "run-started",
            "ignored",
            "ignored",
            "ignored",
            "ignored",
            "ignored",
        ]);
        for (const d of r.decisions) {
            expect(d.gateId).toBeNull();
            expect(d.rule).toBeNull();
            expect(d.reason).not.toBeNull();
        }
        expect(r.decisions[0]!.reason).toBe(
            "started update run k8s-1-33-2 (strategy gated-rollout, Full upgrade to 1.33.2, node images Latest); its gates go through the approval rules; announced",
        );
        expect(r.decisions[3]!.reason).toMatch(
            /^already announced \(by event 5f1e0c7a9b2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f; reported by aks-dev-blue-1, aks-dev-blue-2, aks-dev-green-1\); no run started: update run k8s-1-33-2 for 1\.33\.2 exists already \(Running\)$/,
        );
        expect(r.announcements).toHaveLength(1);
        expect(r.announcements[0]!.lines).toContain(
            "3 members: 3 on 1.33.x (aks-dev-blue-1, aks-dev-blue-2, aks-dev-green-1).",
        );
        const starts = r.requestLog.filter((q) => q.route === "updateRuns.start");
        expect(starts).toEqual([{ route: "updateRuns.start", status: 202 }]);
        expect(r.requestLog.filter((q) => q.route === "updateRuns.put")).toEqual([
            { route: "updateRuns.put", status: 201 },
        ]);
    });

    it("records and announces a failed node pool roll, and rejects a malformed one with its reason", async () => {
        const failed = aksEventFor({
            kind: "nodePoolRollingFailed",
            clusterId: cluster("aks-dev-blue-1"),
            id: "np-1",
            time: "2026-12-01T10:00:00Z",
            data: { nodePoolName: "nodepool1" },
        });
        const bad = { ...failed, id: "np-2", data: { nodePoolName: "Node Pool" } };
        const r = await replay({ stack: "dev", events: [failed, bad] });
        expect(r.decisions.map((d) => [d.outcome, d.reason])).toEqual([
            [
                "notified",
                "node pool nodepool1 of aks-dev-blue-1 failed to roll: recorded, gates with aks-dev-blue-1 in scope are held",
            ],
            [
                "rejected",
                expect.stringMatching(/^data\.nodePoolName: expected an AKS node pool name .*\(got "Node Pool"\)$/),
            ],
        ]);
        expect(r.announcements.map((a) => a.title)).toEqual(["Node pool nodepool1 of aks-dev-blue-1 failed to roll"]);
    });
});
