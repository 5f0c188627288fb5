/**
 * The deployed app runs the hub approval loop: with placements on a hub, the program sets the
 * handler's `HUB_*` app settings from the same hub endpoint the kubernetes provider connects to, the
 * placements as the program names them on the hub and the members' clusters, and the handler's own
 * `readHubSettings` accepts them; the publish waits for the loop's timer. A stack without placements
 * gets none of it. Namespaced placements get a Role per namespace instead of the ClusterRole.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
    HUB_SCHEDULE,
    handlerAppSettings,
    hubMemberClustersSetting,
    hubPlacementsSetting,
} from "../components/handler-settings";
import { handlerHubGrants, handlerPlacements, hubEndpoint } from "../components/hub-placements";
import { AKS_AAD_SERVER_APP, AKS_TOKEN_SCOPE } from "../core/hub-access";
import { HUB_SCHEDULE_SETTING, HUB_SWEEP_FUNCTION } from "../handlers/gate-approval/src/functions/approval-requests";
import { readHubSettings } from "../handlers/gate-approval/src/hub/settings";
import { PROJECT_ROOT, planStack, type Plan } from "../local/plan/plan";
import { evaluatePolicies } from "../local/plan/policy-harness";

const HUB_KEYS = ["HUB_CA_DATA", "HUB_MEMBER_CLUSTERS", "HUB_PLACEMENTS", "HUB_SCHEDULE", "HUB_SERVER"];
const T = {
    settings: "azure-native:web:WebAppApplicationSettings",
    publish: "pulumi-nodejs:dynamic/fleet-gates:HandlerPublish",
    cluster: "azure-native:containerservice:ManagedCluster",
    hub: "fleet-gates:hub:HubPlacements",
    crp: "kubernetes:placement.kubernetes-fleet.io/v1beta1:ClusterResourcePlacement",
    strategy: "kubernetes:placement.kubernetes-fleet.io/v1beta1:ClusterStagedUpdateStrategy",
    rp: "kubernetes:placement.kubernetes-fleet.io/v1beta1:ResourcePlacement",
    nsStrategy: "kubernetes:placement.kubernetes-fleet.io/v1beta1:StagedUpdateStrategy",
    clusterRole: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    clusterRoleBinding: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
    roleBinding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
};

const ofType = (p: Plan, type: string) => p.resources.filter((r) => r.type === type);
const appSettings = (p: Plan) => ofType(p, T.settings)[0]!.inputs.properties as Record<string, string>;
const hubSettings = (p: Plan) =>
    Object.fromEntries(Object.entries(appSettings(p)).filter(([k]) => k.startsWith("HUB_")));
/** Member name → the planned AKS cluster's id. */
const clusterIds = (p: Plan) => Object.fromEntries(ofType(p, T.cluster).map((c) => [c.inputs.resourceName, c.id]));

const dirs: string[] = [];
afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A copy of `Pulumi.dev.yaml` changed by `mutate`, in a temp dir. */
function devVariant(name: string, mutate: (config: Record<string, any>) => void): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-hub-"));
    dirs.push(dir);
    const doc = parse(readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8")) as {
        config: Record<string, any>;
    };
    mutate(doc.config);
    writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), stringify(doc));
    return dir;
}

describe("the dev stack's handler runs the hub approval loop", () => {
    let dev: Plan;
    beforeAll(async () => {
        dev = await planStack("dev");
    });

    it("sets exactly the hub settings, from the endpoint the kubernetes provider uses", () => {
        const hub = hubSettings(dev);
        expect(Object.keys(hub).sort()).toEqual(HUB_KEYS);
        const [component] = ofType(dev, T.hub);
        // The provider's server, registered by the component, is the handler's HUB_SERVER.
        expect(component?.outputs.hubServer).toBe("https://flt-dev-hub.offline.azmk8s.io:443");
        expect(hub.HUB_SERVER).toBe(component?.outputs.hubServer);
        expect(Buffer.from(hub.HUB_CA_DATA!, "base64").toString("utf8")).toBe("offline CA of flt-dev");
        expect(JSON.parse(hub.HUB_PLACEMENTS!)).toEqual([{ name: "web", strategyName: "web" }]);
        expect(JSON.parse(hub.HUB_MEMBER_CLUSTERS!)).toEqual(clusterIds(dev));
        expect(Object.keys(JSON.parse(hub.HUB_MEMBER_CLUSTERS!))).toEqual([
            "aks-dev-blue-1",
            "aks-dev-blue-2",
            "aks-dev-green-1",
        ]);
        expect(hub.HUB_SCHEDULE).toBe(HUB_SCHEDULE);
    });

    it("the handler's own readHubSettings accepts them", () => {
        expect(readHubSettings(appSettings(dev))).toEqual({
            server: "https://flt-dev-hub.offline.azmk8s.io:443",
            caData: appSettings(dev).HUB_CA_DATA,
            placements: [{ name: "web", strategyName: "web" }],
            memberClusterIds: clusterIds(dev),
        });
    });

    it("names the placements and strategies the program creates on the hub", () => {
        const placements = JSON.parse(appSettings(dev).HUB_PLACEMENTS!) as { name: string; strategyName: string }[];
        expect(placements.map((p) => p.name)).toEqual(
            ofType(dev, T.crp).map((r) => (r.inputs.metadata as { name: string }).name),
        );
        expect(placements.map((p) => p.strategyName)).toEqual(
            ofType(dev, T.strategy).map((r) => (r.inputs.metadata as { name: string }).name),
        );
    });

    it("registers the timer the handler reads, and the publish waits for it", () => {
        expect(appSettings(dev)[HUB_SCHEDULE_SETTING]).toBe("*/30 * * * * *");
        // NCRONTAB with seconds: every 30 s.
        expect(HUB_SCHEDULE.split(" ")).toHaveLength(6);
        expect(ofType(dev, T.publish)[0]!.inputs.functionNames).toEqual([
            "gate-event",
            "gate-sweep",
            HUB_SWEEP_FUNCTION,
        ]);
    });

    it("the handler's token audience is the AKS server application the provider's token is for", () => {
        expect(AKS_TOKEN_SCOPE).toBe(`${AKS_AAD_SERVER_APP}/.default`);
        expect(AKS_AAD_SERVER_APP).toBe("6dae42f8-4368-4678-94ff-3960e28e3630");
        // No audience setting: the handler always asks for AKS_TOKEN_SCOPE (handlers/.../approval-requests.ts).
        expect(Object.keys(appSettings(dev)).filter((k) => /AUDIENCE|SCOPE/.test(k))).toEqual([]);
    });
});

describe("a stack without placements", () => {
    it("gets no hub settings, no loop to wait for and nothing on the hub", async () => {
        const prod = await planStack("prod");
        expect(hubSettings(prod)).toEqual({});
        expect(readHubSettings(appSettings(prod))).toBeUndefined();
        expect(ofType(prod, T.publish)[0]!.inputs.functionNames).toEqual(["gate-event", "gate-sweep"]);
        expect(prod.resources.filter((r) => r.type.startsWith("kubernetes:"))).toEqual([]);
    });
});

describe("a stack with a namespaced placement", () => {
    let plan: Plan;
    beforeAll(async () => {
        const dir = devVariant("nsplacement", (c) => {
            const [web] = c["fleet-gates:placements"] as Record<string, unknown>[];
            c["fleet-gates:placements"] = [
                { ...web, scope: "Namespaced", namespace: "apps", strategyName: "web-rollout" },
            ];
        });
        plan = await planStack("nsplacement", { dir });
    });

    it("hands the handler the placement's namespace and strategy name", () => {
        expect(JSON.parse(appSettings(plan).HUB_PLACEMENTS!)).toEqual([
            { name: "web", strategyName: "web-rollout", namespace: "apps" },
        ]);
        expect(readHubSettings(appSettings(plan))?.placements).toEqual([
            { name: "web", strategyName: "web-rollout", namespace: "apps" },
        ]);
        expect(ofType(plan, T.rp).map((r) => r.inputs.metadata)).toEqual([{ name: "web", namespace: "apps" }]);
        expect(ofType(plan, T.nsStrategy).map((r) => r.inputs.metadata)).toEqual([
            { name: "web-rollout", namespace: "apps" },
        ]);
    });

    it("grants the handler a Role in that namespace only: approval-request status, nothing cluster-wide", () => {
        expect(ofType(plan, T.clusterRole)).toEqual([]);
        expect(ofType(plan, T.clusterRoleBinding)).toEqual([]);
        const [role] = ofType(plan, T.role);
        expect(role?.inputs.metadata).toMatchObject({ name: "fleet-gates-approval-handler", namespace: "apps" });
        expect(role?.inputs.rules).toEqual([
            {
                apiGroups: ["placement.kubernetes-fleet.io"],
                resources: ["approvalrequests", "stagedupdateruns", "stagedupdatestrategies", "resourceplacements"],
                verbs: ["get", "list", "watch"],
            },
            {
                apiGroups: ["placement.kubernetes-fleet.io"],
                resources: ["approvalrequests/status"],
                verbs: ["get", "patch"],
            },
        ]);
        const [binding] = ofType(plan, T.roleBinding);
        expect(binding?.inputs).toMatchObject({
            metadata: { name: "fleet-gates-approval-handler", namespace: "apps" },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "fleet-gates-approval-handler" },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: plan.outputs.handlerPrincipalId }],
        });
    });

    it("passes the policy pack", async () => {
        expect(await evaluatePolicies(plan)).toEqual([]);
    });
});

describe("hub settings helpers", () => {
    const placements = [
        {
            name: "web",
            scope: "Cluster" as const,
            resourceSelectors: [{ group: "", version: "v1", kind: "Namespace", name: "web" }],
            stages: [{ name: "s", labelSelector: { matchLabels: { ring: "0" } } }],
        },
        {
            name: "api",
            scope: "Namespaced" as const,
            namespace: "apps",
            strategyName: "api-rollout",
            resourceSelectors: [{ group: "apps", version: "v1", kind: "Deployment", name: "api" }],
            stages: [{ name: "s", labelSelector: { matchLabels: { ring: "0" } } }],
        },
    ];

    it.each<[string, typeof placements, { cluster: boolean; namespaces: string[] }]>([
        ["cluster-scoped only", [placements[0]!], { cluster: true, namespaces: [] }],
        ["namespaced only", [placements[1]!], { cluster: false, namespaces: ["apps"] }],
        [
            "both, a namespace once",
            [...placements, { ...placements[1]!, name: "api2" }],
            { cluster: true, namespaces: ["apps"] },
        ],
    ])("handlerHubGrants: %s", (_, ps, want) => expect(handlerHubGrants(ps)).toEqual(want));

    it("HUB_PLACEMENTS and HUB_MEMBER_CLUSTERS parse with the handler's schema; a missing cluster id is an error", () => {
        const id = (m: string) =>
            `/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/${m}`;
        const settings = {
            HUB_SERVER: "https://hub.example:443",
            HUB_PLACEMENTS: hubPlacementsSetting(handlerPlacements(placements)),
            HUB_MEMBER_CLUSTERS: hubMemberClustersSetting(["m1", "m2"], { m1: id("m1"), m2: id("m2") }),
        };
        expect(readHubSettings(settings)).toEqual({
            server: "https://hub.example:443",
            placements: [
                { name: "web", strategyName: "web" },
                { name: "api", strategyName: "api-rollout", namespace: "apps" },
            ],
            memberClusterIds: { m1: id("m1"), m2: id("m2") },
        });
        expect(() => hubMemberClustersSetting(["m1", "m2"], { m1: id("m1") })).toThrow(
            "HUB_MEMBER_CLUSTERS: no cluster id for member(s) m2",
        );
        expect(() => hubPlacementsSetting([])).toThrow("HUB_PLACEMENTS needs at least one placement");
    });

    it("takes the hub's server only as an https URL, naming what the kubeconfig said", () => {
        const kubeconfig = (server: string) =>
            Buffer.from(
                `clusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: ${server}\n`,
            ).toString("base64");
        expect(hubEndpoint(kubeconfig("https://hub:443"))).toEqual({ server: "https://hub:443", caData: "Q0E=" });
        expect(() => hubEndpoint(kubeconfig("http://hub:80"))).toThrow(
            'the fleet\'s kubeconfig names server "http://hub:80", not an https URL',
        );
    });

    it("handlerAppSettings adds the hub settings only when given", () => {
        const base = {
            storageAccountName: "st",
            clientId: "c",
            appInsightsConnectionString: "i",
            fleetId: "f",
            subscriptionId: "s",
            rulesJson: "[]",
            sweepMinutes: 5,
            escalateAfterMinutes: 60,
        };
        const names = (s: { name: string }[]) => s.map((x) => x.name).filter((n) => n.startsWith("HUB_"));
        expect(names(handlerAppSettings(base))).toEqual([]);
        expect(
            names(
                handlerAppSettings({
                    ...base,
                    hub: { server: "https://hub", placementsJson: "[]", memberClustersJson: "{}" },
                }),
            ),
        ).toEqual(["HUB_SERVER", "HUB_PLACEMENTS", "HUB_MEMBER_CLUSTERS", "HUB_SCHEDULE"]);
    });
});
