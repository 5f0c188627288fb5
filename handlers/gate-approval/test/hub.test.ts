/**
 * The handler on the fleet hub: approval requests decided against the loopback hub emulator (with
 * clusterHealth answered by the ARM emulator), conflicts and outages, the reconcile loop's list and watch,
 * the hub credentials, and the approval-requests timer trigger.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { APPROVAL_LABELS, approvalRequestName, isApproved } from "../../../core/placement";
import type { ApprovalRule } from "../../../core/rules";
import type { HubEmulator } from "../../../local/emulators/hub/hub-emulator";
import { hubEndpointFromKubeconfig } from "../src/hub/client";
import { decideApprovalRequest, type HubDecideDeps, type HubDecision } from "../src/hub/decide";
import { HubReconciler } from "../src/hub/reconcile";
import { readHubSettings } from "../src/hub/settings";
import { createHubSweepHandler } from "../src/functions/approval-requests";
import { createRuntime } from "../src/runtime";
import { readSettings } from "../src/settings";
import { MemoryStateStore } from "../src/state";
import { InvocationContext, type Timer } from "@azure/functions";
import type { Notification } from "../src/notifier";
import { clusterId, startHub, startWorld, type World } from "./helpers";

const TOKEN = "hub-token";
const RULES: ApprovalRule[] = [
    {
        name: "canary-ok",
        match: { placement: "web", stage: "canary", timing: "After" },
        checks: [{ type: "clusterHealth" }, { type: "placementAvailable" }],
    },
];

let world: World;
let hub: HubEmulator;
let hubCaData: string;
let deps: HubDecideDeps;
let audits: HubDecision[];

beforeEach(async () => {
    world = await startWorld();
    const started = await startHub(TOKEN);
    hub = started.hub;
    hubCaData = started.caData;
    audits = [];
    deps = {
        hub: started.client,
        placements: [{ name: "web", strategyName: "web" }],
        rules: RULES,
        memberClusterIds: { "aks-blue-1": clusterId("aks-blue-1"), "aks-blue-2": clusterId("aks-blue-2") },
        services: { arm: world.arm, http: world.deps.services.http },
        clock: () => world.clock.now,
        decisionBudgetMs: 8000,
    };
    seedPlacement(true);
});

afterEach(async () => {
    await hub.stop();
    await world.stop();
});

function seedPlacement(available: boolean): void {
    const statuses = ["aks-blue-1", "aks-blue-2"].map((c) => ({
        clusterName: c,
        conditions: [
            {
                type: "Available",
                status: available || c === "aks-blue-1" ? "True" : "False",
                reason: available ? "AllWorkloadsAvailable" : "NotAllWorkloadsAvailable",
            },
        ],
    }));
    if (!hub.get("clusterresourceplacements", "web"))
        hub.create("clusterresourceplacements", {
            metadata: { name: "web" },
            spec: { strategy: { type: "External" } },
        });
    hub.writeStatus("clusterresourceplacements", "web", { placementStatuses: statuses });
}

/** A run in stage canary with both clusters updated, and the After-stage approval request it created. */
function seedRun(run: string, opts: { placement?: string; strategy?: string; listRequest?: boolean } = {}): string {
    const name = approvalRequestName(run, "canary", "After");
    hub.create("clusterstagedupdateruns", {
        metadata: { name: run },
        spec: {
            placementName: opts.placement ?? "web",
            resourceSnapshotIndex: "1",
            stagedRolloutStrategyName: opts.strategy ?? "web",
        },
    });
    hub.writeStatus("clusterstagedupdateruns", run, {
        stagesStatus: [
            {
                stageName: "canary",
                clusters: ["aks-blue-1", "aks-blue-2"].map((clusterName) => ({
                    clusterName,
                    conditions: [
                        { type: "Started", status: "True" },
                        { type: "Succeeded", status: "True" },
                    ],
                })),
                afterStageTaskStatus:
                    opts.listRequest === false ? [] : [{ type: "Approval", approvalRequestName: name }],
            },
        ],
    });
    hub.create("clusterapprovalrequests", {
        metadata: {
            name,
            labels: {
                [APPROVAL_LABELS.run]: run,
                [APPROVAL_LABELS.stage]: "canary",
                [APPROVAL_LABELS.taskType]: "afterStage",
                [APPROVAL_LABELS.latest]: "true",
            },
        },
        spec: { parentStageRollout: run, targetStage: "canary" },
    });
    return name;
}

const approvedOnHub = (name: string) =>
    isApproved(hub.get("clusterapprovalrequests", name)! as Parameters<typeof isApproved>[0]);

describe("decideApprovalRequest against the hub emulator", () => {
    it("approves a request of this stack's run when every check passes, with observedGeneration", async () => {
        const name = seedRun("web-run-1");
        const d = await decideApprovalRequest(name, deps);
        expect(d).toMatchObject({
            outcome: "approved",
            run: "web-run-1",
            placement: "web",
            stage: "canary",
            timing: "After",
            rule: "canary-ok",
            conflicts: 0,
        });
        expect(d.checks.map((c) => [c.type, c.passed, c.observed])).toEqual([
            ["placementAvailable", true, "placement web available on 2/2 clusters of stage canary"],
            ["clusterHealth", true, "2/2 members healthy in stage canary"],
        ]);
        const obj = hub.get("clusterapprovalrequests", name)!;
        expect(obj.status?.conditions).toEqual([
            expect.objectContaining({
                type: "Approved",
                status: "True",
                observedGeneration: 1,
                reason: "ApprovedByRule",
            }),
        ]);
        const patch = hub.requests.find((r) => r.method === "PATCH");
        expect(patch?.contentType).toBe("application/merge-patch+json");
        expect((await decideApprovalRequest(name, deps)).outcome).toBe("already-approved");
    });

    it("holds when the placement is not available on a stage cluster, naming it", async () => {
        seedPlacement(false);
        const name = seedRun("web-run-1");
        const d = await decideApprovalRequest(name, deps);
        expect(d.outcome).toBe("held");
        expect(d.reason).toBe(
            "placementAvailable: 1/2 clusters of stage canary lack placement web: aks-blue-2: Available False (NotAllWorkloadsAvailable)",
        );
        expect(approvedOnHub(name)).toBe(false);
    });

    it("leaves a request no rule matches to a person (manual)", async () => {
        const name = seedRun("web-run-1");
        const d = await decideApprovalRequest(name, { ...deps, rules: [] });
        expect(d).toMatchObject({ outcome: "manual", reason: "no rule matches this approval request" });
        expect(approvedOnHub(name)).toBe(false);
    });

    it.each<[string, () => string, string, string]>([
        [
            "a run of another placement",
            () => seedRun("api-run-1", { placement: "api" }),
            "ignored",
            'run api-run-1 is of placement "api", not one of this stack\'s (web)',
        ],
        [
            "a run of another strategy",
            () => seedRun("web-run-2", { strategy: "other" }),
            "ignored",
            'run web-run-2 uses strategy "other", not this stack\'s "web"',
        ],
        [
            "a request its run does not list",
            () => seedRun("web-run-3", { listRequest: false }),
            "rejected",
            "run web-run-3 lists no afterStage approval web-run-3-after-canary in stage canary",
        ],
        [
            "a forged request pointing at a real run",
            () => {
                seedRun("web-run-4");
                hub.create("clusterapprovalrequests", {
                    metadata: {
                        name: "forged",
                        labels: {
                            [APPROVAL_LABELS.run]: "web-run-4",
                            [APPROVAL_LABELS.stage]: "canary",
                            [APPROVAL_LABELS.taskType]: "afterStage",
                        },
                    },
                    spec: { parentStageRollout: "web-run-4", targetStage: "canary" },
                });
                return "forged";
            },
            "rejected",
            "request forged is not named web-run-4-after-canary as its run's requests are",
        ],
        [
            "a request whose labels disagree with its spec",
            () => {
                seedRun("web-run-5");
                hub.create("clusterapprovalrequests", {
                    metadata: {
                        name: "web-run-6-after-canary",
                        labels: {
                            [APPROVAL_LABELS.run]: "web-run-6",
                            [APPROVAL_LABELS.stage]: "canary",
                            [APPROVAL_LABELS.taskType]: "afterStage",
                        },
                    },
                    spec: { parentStageRollout: "web-run-5", targetStage: "canary" },
                });
                return "web-run-6-after-canary";
            },
            "rejected",
            'request web-run-6-after-canary: label kubernetes-fleet.io/targetUpdateRun does not name run "web-run-5"',
        ],
        [
            "a request of a run that does not exist",
            () => {
                hub.create("clusterapprovalrequests", {
                    metadata: {
                        name: "ghost-after-canary",
                        labels: {
                            [APPROVAL_LABELS.run]: "ghost",
                            [APPROVAL_LABELS.stage]: "canary",
                            [APPROVAL_LABELS.taskType]: "afterStage",
                        },
                    },
                    spec: { parentStageRollout: "ghost", targetStage: "canary" },
                });
                return "ghost-after-canary";
            },
            "held",
            "run ghost not found on the hub",
        ],
    ])("never approves %s", async (_, seed, outcome, reason) => {
        const name = seed();
        const d = await decideApprovalRequest(name, deps);
        expect(d.outcome).toBe(outcome);
        expect(d.reason).toBe(reason);
        expect(approvedOnHub(name)).toBe(false);
        expect(hub.requests.filter((r) => r.method === "PATCH")).toEqual([]);
    });

    it("reads again and decides again after a 409 conflict", async () => {
        const name = seedRun("web-run-1");
        hub.inject({ method: "PATCH", path: name, status: 409 });
        const d = await decideApprovalRequest(name, deps);
        expect(d).toMatchObject({ outcome: "approved", conflicts: 1 });
        expect(approvedOnHub(name)).toBe(true);
        expect(hub.requests.filter((r) => r.method === "PATCH").map((r) => r.status)).toEqual([409, 200]);
    });

    it("gives up with retry after repeated conflicts and writes nothing", async () => {
        const name = seedRun("web-run-1");
        hub.inject({ method: "PATCH", path: name, status: 409, times: 3 });
        const d = await decideApprovalRequest(name, deps);
        expect(d.outcome).toBe("retry");
        expect(approvedOnHub(name)).toBe(false);
    });

    it("answers retry to a hub outage, without approving", async () => {
        const name = seedRun("web-run-1");
        hub.inject({ method: "GET", path: "clusterstagedupdateruns", status: 503 });
        const d = await decideApprovalRequest(name, deps);
        expect(d).toMatchObject({ outcome: "retry", reason: "get clusterstagedupdaterun web-run-1: HTTP 503" });
        expect(approvedOnHub(name)).toBe(false);
    });
});

describe("HubReconciler", () => {
    it("lists first, then picks new requests up from the watch", async () => {
        const first = seedRun("web-run-1");
        const r = new HubReconciler(deps, { audit: (d) => audits.push(d) });
        const t1 = await r.tick();
        expect(t1.source).toBe("list");
        expect(t1.decisions.map((d) => [d.request, d.outcome])).toEqual([[first, "approved"]]);
        const second = seedRun("web-run-2");
        const t2 = await r.tick();
        expect(t2.source).toBe("watch");
        // The watch also sees the first request's own approval (MODIFIED, approved: not decided again).
        expect(t2.decisions.map((d) => [d.request, d.outcome])).toEqual([[second, "approved"]]);
        expect(Number(r.cursor)).toBeGreaterThanOrEqual(Number(hub.resourceVersion) - 1);
        expect(audits.map((a) => a.outcome)).toEqual(["approved", "approved"]);
    });

    it("relists after 410 Gone, so a request created during the gap is decided", async () => {
        const r = new HubReconciler(deps);
        expect((await r.tick()).decisions).toEqual([]);
        const name = seedRun("web-run-1");
        hub.compact();
        const t = await r.tick();
        expect(t.source).toBe("relist-after-gone");
        expect(t.decisions.map((d) => [d.request, d.outcome])).toEqual([[name, "approved"]]);
    });

    it("relists after a broken watch stream", async () => {
        const r = new HubReconciler(deps);
        await r.tick();
        const name = seedRun("web-run-1");
        hub.inject({ method: "GET", path: "watch=true", status: "reset" });
        const t = await r.tick();
        expect(t.source).toBe("relist-after-error");
        expect(t.decisions.map((d) => [d.request, d.outcome])).toEqual([[name, "approved"]]);
    });

    it("decides a held request again each tick and approves it once the placement is available", async () => {
        seedPlacement(false);
        const notes: Notification[] = [];
        const r = new HubReconciler(deps, {
            notifier: { notify: async (n) => void notes.push(n) },
            escalateAfterMinutes: 30,
        });
        const name = seedRun("web-run-1");
        expect((await r.tick()).decisions.map((d) => d.outcome)).toEqual(["held"]);
        world.clock.now += 31 * 60_000;
        expect((await r.tick()).decisions.map((d) => d.outcome)).toEqual(["held"]);
        expect(notes.map((n) => n.kind)).toEqual(["held", "escalation"]);
        seedPlacement(true);
        const t = await r.tick();
        expect(t.decisions.map((d) => [d.request, d.outcome])).toEqual([[name, "approved"]]);
        expect((await r.tick()).decisions).toEqual([]);
    });
});

describe("hub credentials", () => {
    it("takes the server and CA from a listCredentials kubeconfig and ignores its exec user", () => {
        const kubeconfig = [
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: hub",
            "  cluster:",
            "    server: https://flt-dev-hub.example.azmk8s.io:443",
            "    certificate-authority-data: Q0EtREFUQQ==",
            "users:",
            "- name: clusterUser_rg_flt-dev",
            "  user:",
            "    exec:",
            "      apiVersion: client.authentication.k8s.io/v1beta1",
            "      command: kubelogin",
            "      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]",
            "contexts:",
            "- name: hub",
            "  context: { cluster: hub, user: clusterUser_rg_flt-dev }",
            "current-context: hub",
        ].join("\n");
        expect(hubEndpointFromKubeconfig(Buffer.from(kubeconfig).toString("base64"))).toEqual({
            server: "https://flt-dev-hub.example.azmk8s.io:443",
            caData: "Q0EtREFUQQ==",
        });
    });
});

describe("approval-requests timer trigger", () => {
    const timer: Timer = {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: { last: "a", lastUpdated: "b", next: "c" },
    };

    it("reads its hub settings, naming a bad one", () => {
        expect(readHubSettings({})).toBeUndefined();
        expect(() => readHubSettings({ HUB_SERVER: "http://hub" })).toThrow(
            'app setting HUB_SERVER "http://hub" is not an https URL',
        );
        expect(() =>
            readHubSettings({ HUB_SERVER: "https://hub", HUB_PLACEMENTS: "[]", HUB_MEMBER_CLUSTERS: "{}" }),
        ).toThrow("app setting HUB_PLACEMENTS: (value) Too small: expected array to have >=1 items");
    });

    it("signs in with a token for the AKS server application and approves through the default hub client", async () => {
        const name = seedRun("web-run-1");
        const scopes: string[] = [];
        const settings = readSettings({
            FLEET_ID:
                "/subscriptions/8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev",
            SUBSCRIPTION_ID: "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e",
            APPROVAL_RULES: JSON.stringify(RULES),
            ESCALATE_AFTER_MINUTES: "60",
            ARM_ENDPOINT: world.emu.url,
        });
        const runtime = createRuntime(settings, {
            credential: world.credential,
            tuning: { tlsCa: world.emu.ca! },
            state: new MemoryStateStore(),
            notifier: { notify: async () => undefined },
        });
        const handler = createHubSweepHandler({
            runtime: () => runtime,
            hub: () =>
                readHubSettings({
                    HUB_SERVER: hub.url,
                    HUB_CA_DATA: hubCaData,
                    HUB_PLACEMENTS: JSON.stringify([{ name: "web", strategyName: "web" }]),
                    HUB_MEMBER_CLUSTERS: JSON.stringify(deps.memberClusterIds),
                }),
            credential: {
                getToken: async (scope) => {
                    scopes.push(String(scope));
                    return { token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 };
                },
            },
        });
        const lines: string[] = [];
        const ctx = new InvocationContext({
            invocationId: "i",
            functionName: "approval-requests",
            logHandler: (_l, ...a) => lines.push(a.map(String).join(" ")),
        });
        const first = await handler(timer, ctx);
        expect(first?.source).toBe("list");
        expect(first?.decisions.map((d) => [d.request, d.outcome])).toEqual([[name, "approved"]]);
        expect(scopes).toEqual(["6dae42f8-4368-4678-94ff-3960e28e3630/.default"]);
        expect(lines.map((l) => JSON.parse(l) as { msg: string }).map((l) => l.msg)).toEqual([
            "approval request decision",
            "approval requests tick",
        ]);
        // The same instance resumes its watch on the next tick.
        expect((await handler(timer, ctx))?.source).toBe("watch");
        expect(approvedOnHub(name)).toBe(true);
    });
});
