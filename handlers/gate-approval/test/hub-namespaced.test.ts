/**
 * Namespaced placements: their runs create `ApprovalRequest`s in the placement's namespace. The
 * decision reads and patches them there, never decides a request of another namespace or of a run
 * whose placement is not this stack's in that namespace, and the reconcile loop lists and watches
 * each namespace of the stack (and the cluster scope only when a placement is cluster-scoped).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { APPROVAL_LABELS, approvalRequestName, isApproved } from "../../../core/placement";
import type { ApprovalRule } from "../../../core/rules";
import { HubEmulator, type HubPlural } from "../../../local/emulators/hub/hub-emulator";
import { decideApprovalRequest, type HubDecideDeps } from "../src/hub/decide";
import { HubReconciler } from "../src/hub/reconcile";
import { readHubSettings } from "../src/hub/settings";
import type { Notification } from "../src/notifier";
import { clusterId, startHub, startWorld, type World } from "./helpers";

const TOKEN = "hub-token";
const API = "/apis/placement.kubernetes-fleet.io/v1beta1";
const CLUSTERS = ["aks-blue-1", "aks-blue-2"];
const RULES: ApprovalRule[] = [
    {
        name: "web-canary",
        match: { placement: "web", stage: "canary", timing: "After" },
        checks: [{ type: "clusterHealth" }, { type: "placementAvailable" }],
    },
];

let world: World;
let hub: HubEmulator;
let deps: HubDecideDeps;

beforeEach(async () => {
    world = await startWorld();
    const started = await startHub(TOKEN);
    hub = started.hub;
    deps = {
        hub: started.client,
        placements: [{ name: "web", strategyName: "web", namespace: "apps" }],
        rules: RULES,
        memberClusterIds: Object.fromEntries(CLUSTERS.map((c) => [c, clusterId(c)])),
        services: { arm: world.arm, http: world.deps.services.http },
        clock: () => world.clock.now,
        decisionBudgetMs: 8000,
    };
});

afterEach(async () => {
    await hub.stop();
    await world.stop();
});

interface Seed {
    /** Namespace of the placement, run and request; undefined: the cluster-scoped kinds. */
    readonly namespace: string | undefined;
    readonly run: string;
    readonly placement?: string;
}

/** A placement available on both clusters, a run in stage canary, and the After-stage request it created. */
function seed({ namespace, run, placement = "web" }: Seed): string {
    const kinds: { placement: HubPlural; run: HubPlural; request: HubPlural } = namespace
        ? { placement: "resourceplacements", run: "stagedupdateruns", request: "approvalrequests" }
        : {
              placement: "clusterresourceplacements",
              run: "clusterstagedupdateruns",
              request: "clusterapprovalrequests",
          };
    const ns = namespace ? { namespace } : {};
    const name = approvalRequestName(run, "canary", "After");
    if (!hub.get(kinds.placement, placement, namespace))
        hub.create(kinds.placement, { metadata: { name: placement, ...ns }, spec: { strategy: { type: "External" } } });
    hub.writeStatus(
        kinds.placement,
        placement,
        {
            placementStatuses: CLUSTERS.map((clusterName) => ({
                clusterName,
                conditions: [{ type: "Available", status: "True", reason: "AllWorkloadsAvailable" }],
            })),
        },
        namespace,
    );
    hub.create(kinds.run, {
        metadata: { name: run, ...ns },
        spec: { placementName: placement, resourceSnapshotIndex: "1", stagedRolloutStrategyName: placement },
    });
    hub.writeStatus(
        kinds.run,
        run,
        {
            stagesStatus: [
                {
                    stageName: "canary",
                    clusters: CLUSTERS.map((clusterName) => ({
                        clusterName,
                        conditions: [
                            { type: "Started", status: "True" },
                            { type: "Succeeded", status: "True" },
                        ],
                    })),
                    afterStageTaskStatus: [{ type: "Approval", approvalRequestName: name }],
                },
            ],
        },
        namespace,
    );
    hub.create(kinds.request, {
        metadata: {
            name,
            ...ns,
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

const approvedIn = (namespace: string, name: string) =>
    isApproved(hub.get("approvalrequests", name, namespace)! as Parameters<typeof isApproved>[0]);
const paths = (method: string) => hub.requests.filter((r) => r.method === method).map((r) => r.path.split("?")[0]);

describe("decideApprovalRequest of a namespaced ApprovalRequest", () => {
    it("reads the request, its run and placement in the namespace and patches the status there", async () => {
        const name = seed({ namespace: "apps", run: "web-run-1" });
        const d = await decideApprovalRequest({ name, namespace: "apps" }, deps);
        expect(d).toMatchObject({
            outcome: "approved",
            request: name,
            namespace: "apps",
            run: "web-run-1",
            placement: "web",
            rule: "web-canary",
        });
        expect(d.checks.map((c) => [c.type, c.passed, c.observed])).toEqual([
            ["placementAvailable", true, "placement web available on 2/2 clusters of stage canary"],
            ["clusterHealth", true, "2/2 members healthy in stage canary"],
        ]);
        expect(approvedIn("apps", name)).toBe(true);
        expect(paths("GET")).toEqual([
            `${API}/namespaces/apps/approvalrequests/${name}`,
            `${API}/namespaces/apps/stagedupdateruns/web-run-1`,
            `${API}/namespaces/apps/resourceplacements/web`,
        ]);
        expect(paths("PATCH")).toEqual([`${API}/namespaces/apps/approvalrequests/${name}/status`]);
    });

    it("never reads or approves a request of a namespace where the stack has no placement", async () => {
        // A complete, well-formed run of a placement also named web, in another namespace.
        const name = seed({ namespace: "other", run: "web-run-1" });
        const d = await decideApprovalRequest({ name, namespace: "other" }, deps);
        expect(d).toMatchObject({
            outcome: "ignored",
            namespace: "other",
            reason: 'request in namespace "other", where this stack has no placement',
        });
        expect(approvedIn("other", name)).toBe(false);
        expect(hub.requests).toEqual([]);
    });

    it("never approves a request of a run of another placement in the stack's namespace", async () => {
        const name = seed({ namespace: "apps", run: "api-run-1", placement: "api" });
        const d = await decideApprovalRequest({ name, namespace: "apps" }, deps);
        expect(d).toMatchObject({
            outcome: "ignored",
            reason: 'run api-run-1 is of placement "apps/api", not one of this stack\'s (apps/web)',
        });
        expect(approvedIn("apps", name)).toBe(false);
        expect(paths("PATCH")).toEqual([]);
    });

    it("tells a namespaced placement from a cluster-scoped one of the same name", async () => {
        // The stack's "web" is namespaced: a ClusterStagedUpdateRun of a ClusterResourcePlacement "web" is not its.
        const name = seed({ namespace: undefined, run: "web-run-1" });
        const d = await decideApprovalRequest(name, deps);
        expect(d).toMatchObject({
            outcome: "ignored",
            reason: "a cluster-scoped request, and every placement of this stack is namespaced",
        });
        expect(hub.requests).toEqual([]);

        const both = { ...deps, placements: [{ name: "api", strategyName: "api" }, ...deps.placements] };
        const d2 = await decideApprovalRequest(name, both);
        expect(d2).toMatchObject({
            outcome: "ignored",
            reason: 'run web-run-1 is of placement "web", not one of this stack\'s (api, apps/web)',
        });
        expect(paths("PATCH")).toEqual([]);
    });
});

describe("HubReconciler over namespaces", () => {
    it("lists and watches the cluster scope and each namespace of the stack, and nothing else", async () => {
        deps = { ...deps, placements: [{ name: "api", strategyName: "api" }, ...deps.placements] };
        const rules: ApprovalRule[] = [
            ...RULES,
            { name: "api-canary", match: { placement: "api", stage: "canary", timing: "After" }, checks: [] },
        ];
        const clusterRequest = seed({ namespace: undefined, run: "api-run-1", placement: "api" });
        const appsRequest = seed({ namespace: "apps", run: "web-run-1" });
        const otherRequest = seed({ namespace: "other", run: "web-run-2" });
        const r = new HubReconciler({ ...deps, rules });
        const t1 = await r.tick();
        expect(t1.scopes.map((s) => [s.namespace ?? "(cluster)", s.source])).toEqual([
            ["(cluster)", "list"],
            ["apps", "list"],
        ]);
        expect(t1.decisions.map((d) => [d.namespace ?? "(cluster)", d.request, d.outcome])).toEqual([
            // In key order: a cluster-scoped request by its name, a namespaced one as namespace/name.
            ["(cluster)", clusterRequest, "approved"],
            ["apps", appsRequest, "approved"],
        ]);

        const later = seed({ namespace: "apps", run: "web-run-3" });
        seed({ namespace: "other", run: "web-run-4" });
        const t2 = await r.tick();
        expect(t2.scopes.map((s) => s.source)).toEqual(["watch", "watch"]);
        expect(t2.decisions.map((d) => [d.namespace, d.request, d.outcome])).toEqual([["apps", later, "approved"]]);

        const collections = hub.requests.map((q) => q.path.split("?")[0]!).filter((p) => !/\/[^/]+-canary/.test(p));
        expect(new Set(collections)).toEqual(
            new Set([
                `${API}/clusterapprovalrequests`,
                `${API}/namespaces/apps/approvalrequests`,
                `${API}/namespaces/apps/stagedupdateruns/web-run-1`,
                `${API}/namespaces/apps/stagedupdateruns/web-run-3`,
                `${API}/namespaces/apps/resourceplacements/web`,
                `${API}/clusterstagedupdateruns/api-run-1`,
            ]),
        );
        expect(hub.requests.some((q) => q.path.includes("/namespaces/other/"))).toBe(false);
        expect(approvedIn("other", otherRequest)).toBe(false);
    });

    it("relists a namespace whose watch history is compacted (410 Gone)", async () => {
        const r = new HubReconciler(deps);
        expect((await r.tick()).decisions).toEqual([]);
        const name = seed({ namespace: "apps", run: "web-run-1" });
        hub.compact();
        const t = await r.tick();
        expect(t.scopes).toEqual([
            { namespace: "apps", source: "relist-after-gone", resourceVersion: expect.any(String) },
        ]);
        expect(t.decisions.map((d) => [d.namespace, d.request, d.outcome])).toEqual([["apps", name, "approved"]]);
    });

    it("names a held namespaced request by namespace in its notification", async () => {
        const notes: Notification[] = [];
        const r = new HubReconciler({ ...deps, rules: [] }, { notifier: { notify: async (n) => void notes.push(n) } });
        const name = seed({ namespace: "apps", run: "web-run-1" });
        expect((await r.tick()).decisions.map((d) => d.outcome)).toEqual(["manual"]);
        expect(notes.map((n) => [n.kind, n.gateId])).toEqual([["manual", `approvalrequests/apps/${name}`]]);
    });
});

describe("HUB_PLACEMENTS with namespaces", () => {
    it("reads a namespaced placement and rejects an empty namespace, naming the setting", () => {
        const base = {
            HUB_SERVER: "https://hub.example:443",
            HUB_MEMBER_CLUSTERS: JSON.stringify({ "aks-blue-1": clusterId("aks-blue-1") }),
        };
        expect(
            readHubSettings({
                ...base,
                HUB_PLACEMENTS: JSON.stringify([{ name: "web", strategyName: "web", namespace: "apps" }]),
            })?.placements,
        ).toEqual([{ name: "web", strategyName: "web", namespace: "apps" }]);
        expect(() =>
            readHubSettings({
                ...base,
                HUB_PLACEMENTS: JSON.stringify([{ name: "web", strategyName: "web", namespace: "" }]),
            }),
        ).toThrow("app setting HUB_PLACEMENTS: 0.namespace Too small: expected string to have >=1 characters");
    });
});
