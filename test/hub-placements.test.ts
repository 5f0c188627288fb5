/**
 * Placements on the fleet hub: the strategy and placement objects a placement config gives, the hub
 * kubeconfig, and the tutorial stack under Pulumi's mocks (member labels, one hub provider whose kubeconfig
 * stays secret, the handler's approval-status role), which passes the policy pack.
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { hubEndpoint, hubKubeconfig, placementObjects } from "../components/hub-placements";
import { evaluatePolicies } from "../local/plan/policy-harness";
import { planStack, type Plan } from "../local/plan/plan";

const TUTORIAL_DIR = path.resolve(__dirname, "../examples/staged-rollout");

describe("placementObjects", () => {
    const base = {
        name: "web",
        scope: "Cluster" as const,
        resourceSelectors: [{ group: "", version: "v1", kind: "Namespace", name: "web" }],
        stages: [
            {
                name: "s1",
                labelSelector: { matchLabels: { ring: "0" } },
                afterStageTasks: [{ type: "Approval" as const }],
            },
        ],
    };
    it.each<[string, Record<string, unknown>, string, string, string | undefined]>([
        ["cluster-scoped", {}, "ClusterStagedUpdateStrategy", "ClusterResourcePlacement", undefined],
        ["namespaced", { scope: "Namespaced", namespace: "apps" }, "StagedUpdateStrategy", "ResourcePlacement", "apps"],
    ])("%s placement", (_, over, strategyKind, placementKind, ns) => {
        const o = placementObjects({ ...base, ...over } as never);
        expect(o.strategy.kind).toBe(strategyKind);
        expect(o.placement.kind).toBe(placementKind);
        expect(o.placement.metadata.namespace).toBe(ns);
        expect(o.placement.spec.strategy).toEqual({ type: "External" });
    });

    it("names the strategy after strategyName, else the placement", () => {
        expect(placementObjects(base as never).strategy.metadata.name).toBe("web");
        expect(placementObjects({ ...base, strategyName: "rollout" } as never).strategy.metadata.name).toBe("rollout");
    });

    it("reads server and CA from a listCredentials kubeconfig and writes a token kubeconfig", () => {
        const b64 = Buffer.from(
            "clusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: https://hub:443\n",
        ).toString("base64");
        expect(hubEndpoint(b64)).toEqual({ server: "https://hub:443", caData: "Q0E=" });
        expect(JSON.parse(hubKubeconfig("https://hub:443", "Q0E=", "tok")).users).toEqual([
            { name: "fleet-gates", user: { token: "tok" } },
        ]);
    });
});

describe("the tutorial stack under mocks", () => {
    let plan: Plan;
    beforeAll(async () => {
        plan = await planStack("tutorial", { dir: TUTORIAL_DIR });
    });
    const of = (type: string) => plan.resources.filter((r) => r.type === type);

    it("creates the strategy and an External placement on the hub, after the members joined", () => {
        const [strategy] = of("kubernetes:placement.kubernetes-fleet.io/v1beta1:ClusterStagedUpdateStrategy");
        expect(strategy?.inputs).toEqual({
            apiVersion: "placement.kubernetes-fleet.io/v1beta1",
            kind: "ClusterStagedUpdateStrategy",
            metadata: { name: "example-strategy" },
            spec: {
                stages: [
                    {
                        name: "staging",
                        labelSelector: { matchLabels: { environment: "staging" } },
                        afterStageTasks: [{ type: "TimedWait", waitTime: "1m" }],
                    },
                    {
                        name: "canary",
                        labelSelector: { matchLabels: { environment: "canary" } },
                        sortingLabelKey: "order",
                        afterStageTasks: [{ type: "Approval" }],
                    },
                ],
            },
        });
        // The fleet members (whatever resource type carries them) are dependencies of the strategy.
        const members = plan.resources.filter((r) => /^fleet-member[123]-member$/.test(r.name));
        expect(members).toHaveLength(3);
        for (const m of members) expect(strategy?.dependencies).toContain(m.urn);
        const [placement] = of("kubernetes:placement.kubernetes-fleet.io/v1beta1:ClusterResourcePlacement");
        expect(placement?.inputs.spec).toEqual({
            resourceSelectors: [{ group: "", version: "v1", kind: "Namespace", name: "test-namespace" }],
            policy: { placementType: "PickAll" },
            strategy: { type: "External" },
        });
        expect(placement?.dependencies).toContain(strategy?.urn);
    });

    it("labels the members as the tutorial does; the clusters keep the stack's environment tag", () => {
        const members = plan.resources.filter((r) => /^fleet-member[123]-member$/.test(r.name));
        expect(
            Object.fromEntries(
                members.map((m) => [
                    m.inputs.resourceName,
                    (m.inputs.properties as { labels: Record<string, string> }).labels,
                ]),
            ),
        ).toEqual({
            member1: { environment: "canary", order: "2" },
            member2: { environment: "staging" },
            member3: { environment: "canary", order: "1" },
        });
        for (const c of of("azure-native:containerservice:ManagedCluster"))
            expect((c.inputs.tags as Record<string, string>).environment, c.name).toBe("tutorial");
    });

    it("talks to the hub through one provider whose kubeconfig (with its token) stays a secret", () => {
        const providers = of("pulumi:providers:kubernetes");
        expect(providers.map((p) => p.inputs)).toEqual([{ kubeconfig: "[secret]" }]);
    });

    it("binds the handler's identity to the approval-status ClusterRole only", () => {
        const [role] = of("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole");
        expect((role?.inputs as { rules: unknown }).rules).toEqual([
            {
                apiGroups: ["placement.kubernetes-fleet.io"],
                resources: [
                    "clusterapprovalrequests",
                    "clusterstagedupdateruns",
                    "clusterstagedupdatestrategies",
                    "clusterresourceplacements",
                ],
                verbs: ["get", "list", "watch"],
            },
            {
                apiGroups: ["placement.kubernetes-fleet.io"],
                resources: ["clusterapprovalrequests/status"],
                verbs: ["get", "patch"],
            },
        ]);
        const [binding] = of("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding");
        expect((binding?.inputs as { subjects: unknown }).subjects).toEqual([
            { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: plan.outputs.handlerPrincipalId },
        ]);
    });

    it("passes the policy pack", async () => {
        expect(await evaluatePolicies(plan)).toEqual([]);
    });
});
