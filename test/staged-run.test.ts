/**
 * Staged runs on the fleet hub: the tutorial topology and a namespaced placement rehearsed on a virtual
 * clock against the loopback hub emulator, approval requests decided by the real handler, rollback to a
 * snapshot, and `stage-run` creating a run through `@kubernetes/client-node`.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parseConfigMap } from "../config";
import { HubEmulator } from "../local/emulators/hub/hub-emulator";
import { main } from "../local/cli";
import { OFFLINE_DEFAULTS } from "../local/plan/mocks";
import { rehearseStagedRuns, stagedRunJson } from "../local/simulate/staged-run";
import { createStagedUpdateRun, hubKubeConfig, stagedUpdateRunObject } from "../local/stage-run";
import { loadStackFile } from "../local/plan/stack-file";
import { loopbackCertificate } from "../local/emulators/tls";

const DIR = path.resolve(__dirname, "../examples/staged-rollout");
const NOW = new Date("2026-12-01T09:00:00Z");
const tutorial = () => {
    const f = loadStackFile("tutorial", DIR);
    return parseConfigMap(f.config, f.secretKeys);
};
const sub = OFFLINE_DEFAULTS.subscriptionId;

describe("staged run rehearsal of the tutorial topology", () => {
    it("updates staging [member2], waits 60 s, then canary [member3, member1]; the rule approves the request", async () => {
        const [run] = await rehearseStagedRuns({ config: tutorial(), subscriptionId: sub, now: NOW });
        expect(stagedRunJson(run!)).toEqual({
            placement: "example-placement",
            run: "example-placement-run-1",
            stages: [
                {
                    name: "staging",
                    clusters: ["member2"],
                    tasks: [{ type: "TimedWait", timing: "After", rule: null, outcome: "waited" }],
                },
                {
                    name: "canary",
                    clusters: ["member3", "member1"],
                    tasks: [{ type: "Approval", timing: "After", rule: "canary-approval", outcome: "approved" }],
                },
            ],
        });
        expect(run!.stuck).toEqual([]);
        // 2 minutes per cluster, the 60 s wait; the handler decided at its first tick.
        expect(run!.durationMs).toBe(3 * 2 * 60_000 + 60_000);
        expect(run!.timeline.some((l) => l.includes("TimedWait 60 s"))).toBe(true);
        expect(run!.timeline.some((l) => l.includes("handler: approved by rule canary-approval"))).toBe(true);
    });

    it("rolls back at snapshot 0 with the same strategy", async () => {
        const [run] = await rehearseStagedRuns({
            config: tutorial(),
            subscriptionId: sub,
            now: NOW,
            placement: "example-placement",
            snapshot: "0",
        });
        expect(run).toMatchObject({ run: "example-placement-run-0", snapshot: "0", stuck: [] });
        expect(run!.stages.map((s) => [s.name, s.clusters])).toEqual([
            ["staging", ["member2"]],
            ["canary", ["member3", "member1"]],
        ]);
        expect(run!.timeline[0]).toContain("(resource snapshot 0, strategy example-strategy)");
    });

    it("without a rule the request is manual: stuck, or approved by a person with approveManual", async () => {
        const config = { ...tutorial(), approvals: [] };
        const [stuck] = await rehearseStagedRuns({ config, subscriptionId: sub, now: NOW });
        expect(stuck!.stuck).toEqual(["example-placement-run-1-after-canary"]);
        expect(stagedRunJson(stuck!).stages[1]?.tasks).toEqual([
            { type: "Approval", timing: "After", rule: null, outcome: "manual" },
        ]);
        const [person] = await rehearseStagedRuns({ config, subscriptionId: sub, now: NOW, approveManual: true });
        expect(person!.stuck).toEqual([]);
        expect(stagedRunJson(person!).stages[1]?.tasks[0]?.outcome).toBe("manual");
    });

    it("holds the request while the placement is not available on a canary member, until the horizon", async () => {
        const [run] = await rehearseStagedRuns({
            config: tutorial(),
            subscriptionId: sub,
            now: NOW,
            unavailable: ["member1"],
            horizonHours: 0.1,
            tickSeconds: 60,
        });
        expect(run!.stuck).toEqual(["example-placement-run-1-after-canary"]);
        expect(stagedRunJson(run!).stages[1]?.tasks).toEqual([
            { type: "Approval", timing: "After", rule: "canary-approval", outcome: "held" },
        ]);
        expect(run!.timeline.find((l) => l.includes("handler: held"))).toContain(
            "member1: Available False (NotAllWorkloadsAvailable)",
        );
    });
});

describe("staged run rehearsal of a namespaced placement", () => {
    it("runs a StagedUpdateRun in the placement's namespace; the handler approves its ApprovalRequest there", async () => {
        const config = tutorial();
        const namespaced = {
            ...config,
            placements: config.placements.map((p) => ({ ...p, scope: "Namespaced" as const, namespace: "apps" })),
        };
        const [run] = await rehearseStagedRuns({ config: namespaced, subscriptionId: sub, now: NOW });
        expect(run!.stuck).toEqual([]);
        expect(stagedRunJson(run!).stages.map((s) => [s.name, s.clusters, s.tasks.map((t) => t.outcome)])).toEqual([
            ["staging", ["member2"], ["waited"]],
            ["canary", ["member3", "member1"], ["approved"]],
        ]);
        expect(run!.timeline.some((l) => l.includes("handler: approved by rule canary-approval"))).toBe(true);
    });
});

describe("stage-run", () => {
    const placement = tutorial().placements[0]!;

    it("builds the run object of a placement at a snapshot", () => {
        expect(stagedUpdateRunObject({ placement, snapshot: "0", now: new Date("2026-12-01T09:05:00Z") })).toEqual({
            plural: "clusterstagedupdateruns",
            body: {
                apiVersion: "placement.kubernetes-fleet.io/v1beta1",
                kind: "ClusterStagedUpdateRun",
                metadata: { name: "example-placement-run-0-202612010905" },
                spec: {
                    placementName: "example-placement",
                    resourceSnapshotIndex: "0",
                    stagedRolloutStrategyName: "example-strategy",
                },
            },
        });
    });

    it("creates the run on the hub through @kubernetes/client-node", async () => {
        const cert = await loopbackCertificate();
        const hub = new HubEmulator({ token: "t", tls: cert });
        const url = await hub.start();
        try {
            const kc = hubKubeConfig(url, Buffer.from(cert.cert).toString("base64"), "t");
            expect(await createStagedUpdateRun(kc, { placement, snapshot: "2", run: "web-rollout" })).toBe(
                "web-rollout",
            );
            expect(hub.get("clusterstagedupdateruns", "web-rollout")?.spec).toEqual({
                placementName: "example-placement",
                resourceSnapshotIndex: "2",
                stagedRolloutStrategyName: "example-strategy",
            });
            await expect(createStagedUpdateRun(kc, { placement, snapshot: "2", run: "web-rollout" })).rejects.toThrow(
                /HTTP 409/,
            );
        } finally {
            await hub.stop();
        }
    });

    describe("CLI exit codes", () => {
        const dir = mkdtempSync(path.join(tmpdir(), "fleet-gates-stage-run-"));
        copyFileSync(path.join(DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        // The tutorial without its approval rule: the canary request is manual.
        const text = readFileSync(path.join(DIR, "Pulumi.tutorial.yaml"), "utf8").replace(
            / {2}fleet-gates:approvals:[\s\S]*?(?= {2}fleet-gates:placements:)/,
            "",
        );
        writeFileSync(path.join(dir, "Pulumi.norule.yaml"), text);
        afterAll(() => rmSync(dir, { recursive: true, force: true }));

        it("exits 1 on a stuck approval request and 0 when a person approves it", async () => {
            const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
            try {
                const args = [
                    "stage-run",
                    "--stack",
                    "norule",
                    "--dir",
                    dir,
                    "--placement",
                    "example-placement",
                    "--offline",
                    "--json",
                ];
                expect(await main(args)).toBe(1);
                expect(await main([...args, "--approve-manual"])).toBe(0);
                expect(
                    await main(["stage-run", "--stack", "norule", "--dir", dir, "--placement", "nope", "--offline"]),
                ).toBe(1);
            } finally {
                out.mockRestore();
            }
        });
    });
});
