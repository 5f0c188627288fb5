/**
 * The handler on AKS upgrade events, against the loopback ARM emulator over real HTTP (TLS): one
 * message per version and fleet however many members and redeliveries, concurrent deliveries, a
 * webhook that fails (not lost), a claim left by a dead delivery (taken over after its lease), the
 * support escalations, and node pool rolling state feeding `clusterHealth`.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { aksEventFor, parseAksEvent } from "../../../core/aks-event";
import type { UpgradeEventsSetting } from "../../../core/upgrade-events";
import { decide } from "../src/engine";
import type { Announcement, Announcer } from "../src/upgrade/announcer";
import { decideUpgradeEvent, type UpgradeDeps } from "../src/upgrade/decide";
import { CLAIM_LEASE_MS, claimAnnouncement, nodePoolReader, type UpgradeRecord } from "../src/upgrade/records";
import { UpdateRunsClient } from "../src/upgrade/update-runs";
import { readSettings } from "../src/settings";
import { MemoryStateStore } from "../src/state";
import { FLEET_ID, FLEET_REF, SUB, clusterId, startWorld, type World } from "./helpers";

const MEMBERS = ["aks-blue-1", "aks-blue-2", "aks-green-1"];
const SETTING: UpgradeEventsSetting = {
    startRun: false,
    channel: "Stable",
    nodeImageSelection: "Latest",
    strategyId: `${FLEET_ID}/updateStrategies/gated-rollout`,
    members: MEMBERS.map((m) => ({
        name: m,
        clusterId: clusterId(m),
        group: m.startsWith("aks-blue") ? "blue" : "green",
    })),
};
const AVAILABLE = {
    latestSupportedKubernetesVersion: "1.34.1",
    latestStableKubernetesVersion: "1.33.2",
    lowestMinorKubernetesVersion: "1.31.9",
    latestPreviewKubernetesVersion: "1.35.0",
};

let world: World;
let store: MemoryStateStore<UpgradeRecord>;
let sent: Announcement[];
let deps: UpgradeDeps;

function event(
    kind: Parameters<typeof aksEventFor>[0]["kind"],
    member: string,
    id: string,
    data: Record<string, string>,
    time?: string,
) {
    return aksEventFor({
        kind,
        clusterId: clusterId(member),
        id,
        time: time ?? new Date(world.clock.now).toISOString(),
        data,
    });
}
const decideRaw = (raw: unknown, d: UpgradeDeps = deps) => decideUpgradeEvent(parseAksEvent(raw), d);

beforeEach(async () => {
    world = await startWorld({
        members: [
            {
                name: "aks-blue-1",
                clusterResourceId: clusterId("aks-blue-1"),
                group: "blue",
                updateState: "Completed",
                kubernetesVersion: "1.31.9",
            },
            {
                name: "aks-blue-2",
                clusterResourceId: clusterId("aks-blue-2"),
                group: "blue",
                updateState: "Completed",
                kubernetesVersion: "1.32.4",
            },
            {
                name: "aks-green-1",
                clusterResourceId: clusterId("aks-green-1"),
                group: "green",
                updateState: "NotStarted",
                kubernetesVersion: "1.32.4",
            },
        ],
    });
    store = new MemoryStateStore<UpgradeRecord>();
    sent = [];
    const announcer: Announcer = {
        async announce(a) {
            sent.push(a);
        },
    };
    deps = {
        settings: { fleet: FLEET_REF, subscriptionId: SUB, upgradeEvents: SETTING, decisionBudgetMs: 8000 },
        runs: new UpdateRunsClient({
            credential: world.credential,
            baseUrl: world.emu.url,
            tlsCa: world.emu.ca!,
            perTryTimeoutMs: 1500,
            maxRetries: 2,
            retryDelayMs: 10,
            maxRetryDelayMs: 50,
        }),
        store,
        announcer,
        clock: () => world.clock.now,
    };
});
afterEach(() => world.stop());

describe("NewKubernetesVersionAvailable: one message per version and fleet", () => {
    it("three members announcing the same versions make one message listing every member and its version", async () => {
        const ds = [];
        for (const [i, m] of MEMBERS.entries())
            ds.push(await decideRaw(event("newKubernetesVersionAvailable", m, `nv-${i}`, AVAILABLE)));
        expect(ds.map((d) => d.outcome)).toEqual(["notified", "ignored", "ignored"]);
        expect(ds[0]!.reason).toBe("announced 1.33.2; no run started: upgradeEvents.startRun is off");
        expect(ds[1]!.reason).toBe(
            "already announced (by event nv-0; reported by aks-blue-1, aks-blue-2); no run started: upgradeEvents.startRun is off",
        );
        expect(ds.map((d) => d.member)).toEqual(MEMBERS);
        expect(sent).toHaveLength(1);
        const a = sent[0]!;
        expect(a.title).toBe("Kubernetes 1.33.2 is available (channel Stable)");
        expect(a.lines).toContain("3 members: 1 on 1.31.x (aks-blue-1); 2 on 1.32.x (aks-blue-2, aks-green-1).");
        expect(a.lines).toContain(
            "aks-blue-1 run the oldest supported minor, the next to lose support; the event gives no date: see https://learn.microsoft.com/azure/aks/supported-kubernetes-versions.",
        );
        expect(a.escalation).toBe(false);
        // The record keeps who reported it.
        const rec = store.all().find((r) => r.type === "announcement")!;
        expect(rec).toMatchObject({ reporters: MEMBERS, firstEventId: "nv-0", sentBy: "nv-0" });
    });

    it("escalates when a member runs a minor below the lowest supported one", async () => {
        world.emu.setMember("aks-green-1", { kubernetesVersion: "1.30.14" });
        const d = await decideRaw(event("newKubernetesVersionAvailable", "aks-green-1", "nv-x", AVAILABLE));
        expect(d.outcome).toBe("notified");
        expect(sent[0]!.escalation).toBe(true);
        expect(sent[0]!.lines).toContain("Out of support: aks-green-1 (1.30.14) run a minor below 1.31.");
    });

    it("a redelivery of the same event sends nothing again", async () => {
        const raw = event("newKubernetesVersionAvailable", "aks-blue-1", "nv-0", AVAILABLE);
        await decideRaw(raw);
        const again = await decideRaw(raw);
        expect(again.outcome).toBe("ignored");
        expect(sent).toHaveLength(1);
    });

    it("a different version tuple is a new message", async () => {
        await decideRaw(event("newKubernetesVersionAvailable", "aks-blue-1", "nv-0", AVAILABLE));
        const d = await decideRaw(
            event("newKubernetesVersionAvailable", "aks-blue-1", "nv-1", {
                ...AVAILABLE,
                latestStableKubernetesVersion: "1.33.3",
            }),
        );
        expect(d.outcome).toBe("notified");
        expect(sent.map((a) => a.title)).toEqual([
            "Kubernetes 1.33.2 is available (channel Stable)",
            "Kubernetes 1.33.3 is available (channel Stable)",
        ]);
    });

    it("thirty concurrent deliveries (three members, ten deliveries each) send exactly one message", async () => {
        const raws = MEMBERS.flatMap((m, i) =>
            Array.from({ length: 10 }, () => event("newKubernetesVersionAvailable", m, `nv-${i}`, AVAILABLE)),
        );
        const ds = await Promise.all(raws.map((r) => decideRaw(r)));
        expect(sent).toHaveLength(1);
        // Deliveries that found the claim taken and not yet sent ask for a retry; none is lost.
        expect(ds.filter((d) => d.outcome === "notified")).toHaveLength(1);
        expect(ds.every((d) => ["notified", "ignored", "retry"].includes(d.outcome))).toBe(true);
        for (const d of ds.filter((x) => x.outcome === "retry"))
            expect(d.reason).toMatch(/^transient failure: announcement being sent by the delivery of event nv-\d$/);
    });

    it("a failing webhook asks for a retry and the redelivery sends: not lost, not sent twice", async () => {
        let fail = true;
        const flaky: Announcer = {
            async announce(a) {
                if (fail) throw new Error("webhook answered HTTP 503");
                sent.push(a);
            },
        };
        const raw = event("newKubernetesVersionAvailable", "aks-blue-1", "nv-0", AVAILABLE);
        const first = await decideRaw(raw, { ...deps, announcer: flaky });
        expect(first.outcome).toBe("retry");
        expect(first.reason).toBe("transient failure: sending the announcement failed: webhook answered HTTP 503");
        // Another member's event right after: the claim was released, so it sends.
        fail = false;
        const second = await decideRaw(event("newKubernetesVersionAvailable", "aks-blue-2", "nv-1", AVAILABLE), {
            ...deps,
            announcer: flaky,
        });
        expect(second.outcome).toBe("notified");
        const third = await decideRaw(raw, { ...deps, announcer: flaky });
        expect(third.outcome).toBe("ignored");
        expect(sent).toHaveLength(1);
    });

    it("a claim left by a delivery that died is taken over once its lease ran out", async () => {
        const key = "announce" + FLEET_ID.toLowerCase() + "/new-version/1.34.1_1.33.2_1.31.9_1.35.0";
        await claimAnnouncement(store, key, "aks-blue-1", "nv-dead", world.clock.now);
        const early = await decideRaw(event("newKubernetesVersionAvailable", "aks-blue-2", "nv-1", AVAILABLE));
        expect(early.outcome).toBe("retry");
        expect(sent).toHaveLength(0);
        world.clock.now += CLAIM_LEASE_MS + 1;
        const later = await decideRaw(event("newKubernetesVersionAvailable", "aks-blue-2", "nv-1", AVAILABLE));
        expect(later.outcome).toBe("notified");
        expect(sent).toHaveLength(1);
    });
});

describe("ClusterSupportEnding / Ended: escalations", () => {
    it("one escalation per minor, naming the members on it and saying that no date is known", async () => {
        const a = await decideRaw(event("clusterSupportEnding", "aks-blue-2", "se-1", { kubernetesVersion: "1.32.4" }));
        const b = await decideRaw(
            event("clusterSupportEnding", "aks-green-1", "se-2", { kubernetesVersion: "1.32.4" }),
        );
        expect([a.outcome, b.outcome]).toEqual(["notified", "ignored"]);
        expect(a.reason).toBe("escalated: support for 1.32 ending");
        expect(sent).toHaveLength(1);
        expect(sent[0]).toMatchObject({
            kind: "support-ending",
            escalation: true,
            title: "AKS support for Kubernetes 1.32 is ending soon",
        });
        expect(sent[0]!.lines).toEqual([
            "aks-blue-2 runs 1.32.4 (ClusterSupportEnding). The event gives no date: see the AKS release calendar, https://learn.microsoft.com/azure/aks/supported-kubernetes-versions.",
            "Members on 1.32: aks-blue-2 (1.32.4), aks-green-1 (1.32.4).",
            "Plan an upgrade before support ends.",
        ]);
        const ended = await decideRaw(
            event("clusterSupportEnded", "aks-blue-2", "se-3", { kubernetesVersion: "1.32.4" }),
        );
        expect(ended.outcome).toBe("notified");
        expect(sent[1]!.title).toBe("AKS support for Kubernetes 1.32 has ended");
    });
});

describe("events that are not for this stack", () => {
    it("ignores a cluster that is not a member, and rejects a malformed event with its reason", async () => {
        const other = aksEventFor({
            kind: "nodePoolRollingFailed",
            clusterId: clusterId("aks-stranger"),
            id: "x1",
            time: new Date(world.clock.now).toISOString(),
            data: { nodePoolName: "np1" },
        });
        expect(await decideRaw(other)).toMatchObject({
            outcome: "ignored",
            reason: `cluster ${clusterId("aks-stranger")} is not a member of this stack`,
        });
        const bad = { ...event("nodePoolRollingFailed", "aks-blue-1", "x2", { nodePoolName: "NP!" }) };
        const d = await decideRaw(bad);
        expect(d.outcome).toBe("rejected");
        expect(d.reason).toMatch(/^data.nodePoolName: expected an AKS node pool name/);
        expect(store.all()).toEqual([]);
    });
});

describe("node pool rolling feeds clusterHealth", () => {
    const T0 = "2026-12-01T10:00:00Z";
    const T1 = "2026-12-01T10:20:00Z";

    async function blueGate() {
        world.gate({ n: 7, displayName: "blue healthy", group: "blue", timing: "After" });
        const ev = world.event({ n: 7, displayName: "blue healthy", group: "blue", timing: "After" });
        const engineDeps = {
            ...world.deps,
            services: { ...world.deps.services, nodePools: nodePoolReader(store) },
        };
        const { parseGateEvent } = await import("../../../core/gate-event");
        return () => decide(parseGateEvent(ev), engineDeps);
    }

    it("a failed roll holds the After gate with the node pool reason until a later success", async () => {
        const failed = await decideRaw(
            event("nodePoolRollingFailed", "aks-blue-1", "np-f", { nodePoolName: "nodepool1" }, T0),
        );
        expect(failed).toMatchObject({
            outcome: "notified",
            reason: "node pool nodepool1 of aks-blue-1 failed to roll: recorded, gates with aks-blue-1 in scope are held",
        });
        expect(sent[0]!.title).toBe("Node pool nodepool1 of aks-blue-1 failed to roll");
        const gate = await blueGate();
        const held = await gate();
        expect(held.outcome).toBe("held");
        expect(held.reason).toBe(
            `clusterHealth check failed: 1/2 unhealthy in group blue of stage dev: aks-blue-1: node pool nodepool1 failed to roll (NodePoolRollingFailed at ${T0})`,
        );
        // A success older than the failure (delivered late) changes nothing.
        const stale = await decideRaw(
            event(
                "nodePoolRollingSucceeded",
                "aks-blue-1",
                "np-old",
                { nodePoolName: "nodepool1" },
                "2026-12-01T09:00:00Z",
            ),
        );
        expect(stale.outcome).toBe("ignored");
        expect(stale.reason).toBe(
            "node pool nodepool1 of aks-blue-1: a later or the same event is recorded already (pool failed)",
        );
        expect((await gate()).outcome).toBe("held");
        const ok = await decideRaw(
            event("nodePoolRollingSucceeded", "aks-blue-1", "np-s", { nodePoolName: "nodepool1" }, T1),
        );
        expect(ok).toMatchObject({
            outcome: "ignored",
            reason: "node pool nodepool1 of aks-blue-1: rolling succeeded (recorded; gates no longer held for it)",
        });
        expect((await gate()).outcome).toBe("approved");
    });

    it("a failure on a member outside the gate's scope does not hold it", async () => {
        await decideRaw(event("nodePoolRollingFailed", "aks-green-1", "np-g", { nodePoolName: "nodepool1" }, T0));
        const gate = await blueGate();
        expect((await gate()).outcome).toBe("approved");
    });

    it("a redelivered failure notifies once", async () => {
        const raw = event("nodePoolRollingFailed", "aks-blue-1", "np-f", { nodePoolName: "nodepool1" }, T0);
        await decideRaw(raw);
        const again = await decideRaw(raw);
        expect(again.outcome).toBe("ignored");
        expect(sent).toHaveLength(1);
    });
});

describe("UPGRADE_EVENTS app setting", () => {
    const env = (value: string) => ({
        FLEET_ID,
        SUBSCRIPTION_ID: SUB,
        APPROVAL_RULES: "[]",
        ESCALATE_AFTER_MINUTES: "60",
        UPGRADE_EVENTS: value,
    });
    it("reads the setting the program writes", () => {
        expect(readSettings(env(JSON.stringify(SETTING))).upgradeEvents).toEqual(SETTING);
    });
    it.each([
        ["{", /^invalid app settings: UPGRADE_EVENTS: not JSON/],
        [JSON.stringify({ ...SETTING, startRun: "yes" }), /^invalid app settings: UPGRADE_EVENTS: startRun: /],
        [
            JSON.stringify({
                ...SETTING,
                strategyId:
                    "/subscriptions/x/resourceGroups/r/providers/Microsoft.ContainerService/fleets/other/updateStrategies/s",
            }),
            /UPGRADE_EVENTS: strategyId .* is not an update strategy of FLEET_ID$/,
        ],
    ])("names the setting for %s", (value, message) => {
        expect(() => readSettings(env(value))).toThrow(message);
    });
});

describe("startRun: a gated run from NewKubernetesVersionAvailable", () => {
    const RUN = "k8s-1-33-2";
    const RUN_ID = `${FLEET_ID}/updateRuns/${RUN}`;
    let startDeps: UpgradeDeps;
    beforeEach(() => {
        // The world's run-1 is half done (Running): these tests start from a fleet at rest.
        world.emu.deleteUpdateRun(FLEET_ID, "run-1");
        world.emu.putUpdateStrategy(FLEET_ID, "gated-rollout", [
            {
                name: "dev",
                groups: [
                    {
                        name: "blue",
                        members: ["aks-blue-1", "aks-blue-2"],
                        afterGates: [{ displayName: "blue healthy", type: "Approval" }],
                    },
                    { name: "green", members: ["aks-green-1"] },
                ],
                beforeGates: [{ displayName: "before-stage", type: "Approval" }],
            },
        ]);
        startDeps = { ...deps, settings: { ...deps.settings, upgradeEvents: { ...SETTING, startRun: true } } };
    });
    const routes = (r: string) => world.emu.requests.filter((x) => x.route === r);
    const runState = async () =>
        (
            await new UpdateRunsClient({
                credential: world.credential,
                baseUrl: world.emu.url,
                tlsCa: world.emu.ca!,
            }).getUpdateRunSummary(RUN_ID)
        )?.state;

    it("creates the run from the stack's strategy and starts it once; other members and a second replay start nothing", async () => {
        const raws = MEMBERS.map((m, i) => event("newKubernetesVersionAvailable", m, `nv-${i}`, AVAILABLE));
        const first = [];
        for (const r of raws) first.push(await decideRaw(r, startDeps));
        expect(first.map((d) => d.outcome)).toEqual(["run-started", "ignored", "ignored"]);
        expect(first[0]!.reason).toBe(
            "started update run k8s-1-33-2 (strategy gated-rollout, Full upgrade to 1.33.2, node images Latest); its gates go through the approval rules; announced",
        );
        expect(first[0]).toMatchObject({ updateRunId: RUN_ID, kubernetesVersion: "1.33.2", member: "aks-blue-1" });
        expect(first[1]!.reason).toBe(
            "already announced (by event nv-0; reported by aks-blue-1, aks-blue-2); no run started: update run k8s-1-33-2 for 1.33.2 exists already (Running)",
        );
        expect(await runState()).toBe("Running");
        const put = routes("updateRuns.put");
        expect(put).toHaveLength(1);
        expect(routes("updateRuns.start")).toHaveLength(1);
        expect(world.emu.startedRuns()).toEqual([[FLEET_ID, RUN]]);
        expect(sent).toHaveLength(1);
        expect(sent[0]!.lines).toContain(
            "Started update run k8s-1-33-2 (strategy gated-rollout, Full upgrade to 1.33.2, node images Latest); its gates go through the approval rules.",
        );
        // The same events again (a second replay): nothing starts, nothing is sent.
        const again = [];
        for (const r of raws) again.push(await decideRaw(r, startDeps));
        expect(again.map((d) => d.outcome)).toEqual(["ignored", "ignored", "ignored"]);
        expect(routes("updateRuns.start")).toHaveLength(1);
        expect(sent).toHaveLength(1);
    });

    it("concurrent deliveries from three members create and start exactly one run", async () => {
        const ds = await Promise.all(
            MEMBERS.map((m, i) =>
                decideRaw(event("newKubernetesVersionAvailable", m, `nv-${i}`, AVAILABLE), startDeps),
            ),
        );
        expect(ds.filter((d) => d.outcome === "run-started")).toHaveLength(1);
        expect(routes("updateRuns.start")).toHaveLength(1);
        // Each PUT carried If-None-Match: * ; the losers were answered 412.
        expect(routes("updateRuns.put").every((r) => r.status === 201 || r.status === 412)).toBe(true);
        expect(await runState()).toBe("Running");
    });

    it.each([
        [
            "another run is in progress",
            () =>
                world.emu.putUpdateRun({
                    fleetId: FLEET_ID,
                    name: "manual-1",
                    state: "Running",
                    stages: [{ name: "dev", groups: [{ name: "blue", members: ["aks-blue-1"] }] }],
                }),
            AVAILABLE,
            "no run started: update run manual-1 is Running; never two runs at once",
        ],
        [
            "a member runs a newer version (a downgrade)",
            () => world.emu.setMember("aks-green-1", { kubernetesVersion: "1.34.0" }),
            AVAILABLE,
            "no run started: aks-green-1 runs 1.34.0, newer than 1.33.2; a run would downgrade",
        ],
        [
            "the channel's version is the preview",
            () => undefined,
            { ...AVAILABLE, latestStableKubernetesVersion: "1.35.0" },
            "no run started: 1.35.0 is the preview version; a run never targets a preview",
        ],
    ])("starts nothing when %s, and says why in the message", async (_what, arrange, data, line) => {
        arrange();
        const d = await decideRaw(event("newKubernetesVersionAvailable", "aks-blue-1", "nv-0", data), startDeps);
        expect(d.outcome).toBe("notified");
        expect(d.reason).toMatch(new RegExp(`; ${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
        expect(routes("updateRuns.put")).toHaveLength(0);
        expect(routes("updateRuns.start")).toHaveLength(0);
        expect(sent[0]!.lines).toContain(`${line.charAt(0).toUpperCase()}${line.slice(1)}.`);
    });

    it("a run Fleet refuses is reported, not retried forever", async () => {
        world.emu.putUpdateStrategy(FLEET_ID, "gated-rollout", []);
        const bad = {
            ...startDeps,
            settings: {
                ...startDeps.settings,
                upgradeEvents: { ...SETTING, startRun: true, strategyId: `${FLEET_ID}/updateStrategies/missing` },
            },
        };
        const d = await decideRaw(event("newKubernetesVersionAvailable", "aks-blue-1", "nv-0", AVAILABLE), bad);
        expect(d.outcome).toBe("notified");
        expect(d.reason).toMatch(/could not start update run k8s-1-33-2: .*HTTP 404 ResourceNotFound/);
    });
});
