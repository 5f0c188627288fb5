/**
 * The Fleet component under Pulumi's mocks: the resource group, the fleet (with or without a hub), one
 * locked-down member cluster and one 2026-06-01 fleet member per spec, member labels kept apart from
 * Azure tags, and stable names when members are reordered.
 */
import { describe, expect, it } from "vitest";
import {
    FLEET_API_VERSION,
    Fleet,
    type FleetArgs,
    type FleetMemberSpec,
    fleetMemberProperties,
    fleetProblems,
    fleetTags,
    hubProfile,
} from "../components/fleet";
import { OFFLINE_DEFAULTS, type PlannedResource, resolveOutputs, runUnderMocks } from "../local/plan/mocks";

const env = { ...OFFLINE_DEFAULTS, project: "fleet-gates", stack: "test", config: {}, secretKeys: [] };
const SUB = `/subscriptions/${OFFLINE_DEFAULTS.subscriptionId}`;
const COMPONENT_URN = "urn:pulumi:test::fleet-gates::fleet-gates:fleet:Fleet::dev";

const blue: FleetMemberSpec = {
    name: "aks-dev-blue",
    group: "blue",
    labels: { environment: "dev", ring: "0" },
    nodeCount: 1,
    vmSize: "Standard_D2s_v3",
};
const green: FleetMemberSpec = {
    name: "aks-dev-green",
    group: "green",
    labels: { "fleet.azure.com/ring": "1" },
    nodeCount: 3,
    vmSize: "Standard_D4s_v5",
    kubernetesVersion: "1.33.2",
    location: "northeurope",
};

function args(overrides: Partial<FleetArgs> = {}): FleetArgs {
    return {
        environment: "dev",
        subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
        location: "westeurope",
        resourceGroupName: "rg-fleet-dev",
        fleetName: "flt-dev",
        hubCluster: false,
        members: [blue, green],
        tags: { owner: "platform" },
        ...overrides,
    };
}

async function plan(a: FleetArgs) {
    const run = await runUnderMocks(() => {
        const fleet = new Fleet("dev", a);
        return {
            resourceGroupName: fleet.resourceGroupName,
            fleetId: fleet.fleetId,
            fleetName: fleet.fleetName,
            clusterIds: fleet.clusterIds,
            memberIds: fleet.memberIds,
            clusterNames: Object.keys(fleet.clusters),
            memberNames: Object.keys(fleet.members),
        };
    }, env);
    const outputs = (await resolveOutputs(run.result)) as Record<string, unknown>;
    const byName = (name: string): PlannedResource => {
        const r = run.resources.find((x) => x.name === name);
        if (!r) throw new Error(`no resource named ${name}; have ${run.resources.map((x) => x.name).join(", ")}`);
        return r;
    };
    return { resources: run.resources, outputs, byName };
}

describe("Fleet component under mocks", () => {
    it("registers the resource group, fleet, one cluster and one member per spec, all parented to the component", async () => {
        const { resources } = await plan(args());
        // Registration order follows completion; compare as a sorted list.
        expect(resources.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
            "azure-native:containerservice:Fleet dev-fleet",
            "azure-native:containerservice:ManagedCluster dev-aks-dev-blue",
            "azure-native:containerservice:ManagedCluster dev-aks-dev-green",
            "azure-native:resources:ResourceGroup dev-rg",
            "fleet-gates:fleet:Fleet dev",
            "pulumi-nodejs:dynamic/fleet-gates:ArmResource dev-aks-dev-blue-member",
            "pulumi-nodejs:dynamic/fleet-gates:ArmResource dev-aks-dev-green-member",
        ]);
        for (const r of resources.filter((x) => x.custom)) expect(r.parent, r.name).toBe(COMPONENT_URN);
    });

    it("creates the resource group with its explicit name and the environment tag", async () => {
        const { byName } = await plan(args());
        expect(byName("dev-rg").inputs).toEqual({
            resourceGroupName: "rg-fleet-dev",
            location: "westeurope",
            tags: { owner: "platform", environment: "dev" },
        });
    });

    it("creates a hubless fleet with a system-assigned identity when hubCluster is false", async () => {
        const { byName } = await plan(args());
        const fleet = byName("dev-fleet");
        expect(fleet.inputs).toEqual({
            resourceGroupName: "rg-fleet-dev",
            fleetName: "flt-dev",
            location: "westeurope",
            identity: { type: "SystemAssigned" },
            tags: { owner: "platform", environment: "dev" },
        });
        expect(fleet.inputs).not.toHaveProperty("hubProfile");
        expect(fleet.dependencies).toContain(byName("dev-rg").urn);
    });

    it("gives a hub fleet a <fleetName>-hub dnsPrefix and a Standard_D2s_v3 agent", async () => {
        const { byName } = await plan(args({ hubCluster: true }));
        expect(byName("dev-fleet").inputs.hubProfile).toEqual({
            dnsPrefix: "flt-dev-hub",
            agentProfile: { vmSize: "Standard_D2s_v3" },
        });
    });

    it("locks down every member cluster: Entra ID with Azure RBAC, no local accounts, one Linux system pool", async () => {
        const { byName } = await plan(args());
        expect(byName("dev-aks-dev-blue").inputs).toEqual({
            resourceGroupName: "rg-fleet-dev",
            resourceName: "aks-dev-blue",
            location: "westeurope",
            dnsPrefix: "aks-dev-blue",
            identity: { type: "SystemAssigned" },
            agentPoolProfiles: [
                { name: "system", mode: "System", count: 1, vmSize: "Standard_D2s_v3", osType: "Linux" },
            ],
            aadProfile: { managed: true, enableAzureRBAC: true },
            disableLocalAccounts: true,
            enableRBAC: true,
            tags: { owner: "platform", environment: "dev" },
        });
    });

    it("passes a member's kubernetesVersion and location", async () => {
        const { byName } = await plan(args());
        const green = byName("dev-aks-dev-green").inputs;
        expect(green.kubernetesVersion).toBe("1.33.2");
        expect(green.location).toBe("northeurope");
        expect(green.agentPoolProfiles).toEqual([
            { name: "system", mode: "System", count: 3, vmSize: "Standard_D4s_v5", osType: "Linux" },
        ]);
        expect(byName("dev-aks-dev-blue").inputs).not.toHaveProperty("kubernetesVersion");
    });

    it("joins each cluster as a 2026-06-01 fleet member with its group, labels and the cluster's id", async () => {
        const { byName } = await plan(args());
        const cluster = byName("dev-aks-dev-blue");
        const member = byName("dev-aks-dev-blue-member");
        expect(cluster.id).toBe(
            `${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/managedClusters/aks-dev-blue`,
        );
        const { __provider, ...memberInputs } = member.inputs;
        // The provider's serialized code travels with the inputs, as at pulumi up.
        expect(__provider).toMatch(/^exports\.handler = /);
        expect(memberInputs).toEqual({
            subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
            armBaseUrl: "https://management.azure.com",
            resourceGroupName: "rg-fleet-dev",
            resourceProviderNamespace: "Microsoft.ContainerService",
            parentResourcePath: "fleets/flt-dev",
            resourceType: "members",
            resourceName: "aks-dev-blue",
            apiVersion: FLEET_API_VERSION,
            properties: {
                clusterResourceId: cluster.id,
                group: "blue",
                labels: { environment: "dev", ring: "0" },
            },
        });
        expect(FLEET_API_VERSION).toBe("2026-06-01");
        expect(member.id).toBe(
            `${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev/members/aks-dev-blue`,
        );
        // Created after the fleet and its own cluster, and after nothing else (no member-to-member chain).
        expect(new Set(member.dependencies)).toEqual(new Set([byName("dev-fleet").urn, cluster.urn]));
        expect(byName("dev-aks-dev-green-member").inputs.properties).toEqual({
            clusterResourceId: byName("dev-aks-dev-green").id,
            group: "green",
            labels: { "fleet.azure.com/ring": "1" },
        });
    });

    it("exposes ids keyed by member name and names that resolve to the given values", async () => {
        const { outputs, byName } = await plan(args());
        expect(outputs).toEqual({
            resourceGroupName: "rg-fleet-dev",
            fleetId: `${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`,
            fleetName: "flt-dev",
            clusterIds: {
                "aks-dev-blue": byName("dev-aks-dev-blue").id,
                "aks-dev-green": byName("dev-aks-dev-green").id,
            },
            memberIds: {
                "aks-dev-blue": byName("dev-aks-dev-blue-member").id,
                "aks-dev-green": byName("dev-aks-dev-green-member").id,
            },
            clusterNames: ["aks-dev-blue", "aks-dev-green"],
            memberNames: ["aks-dev-blue", "aks-dev-green"],
        });
    });

    it("keeps URNs and inputs when the members array is reordered", async () => {
        const a = await plan(args({ members: [blue, green] }));
        const b = await plan(args({ members: [green, blue] }));
        const byUrn = (rs: PlannedResource[]) =>
            Object.fromEntries(rs.filter((r) => r.custom).map((r) => [r.urn, r.inputs]));
        expect(Object.keys(byUrn(b.resources)).sort()).toEqual(Object.keys(byUrn(a.resources)).sort());
        expect(byUrn(b.resources)).toEqual(byUrn(a.resources));
    });

    it.each<[string, Partial<FleetArgs>, string]>([
        [
            "a duplicated member name",
            { members: [blue, { ...green, name: "aks-dev-blue" }] },
            'members[1].name "aks-dev-blue" duplicates members[0].name',
        ],
        [
            "a hub with a fleet name too long for its dnsPrefix",
            { hubCluster: true, fleetName: "f".repeat(51) },
            `hubCluster needs fleetName "${"f".repeat(51)}" of at most 50 characters`,
        ],
        [
            "tags.environment contradicting environment",
            { tags: { environment: "prod" } },
            'Fleet "dev": tags.environment "prod" contradicts environment "dev"',
        ],
        ["an upper-case fleet name", { fleetName: "Flt-Dev" }, 'fleetName "Flt-Dev" must be 1-63 lower-case'],
        ["a system pool without nodes", { members: [{ ...blue, nodeCount: 0 }] }, "members[0].nodeCount 0 must be"],
    ])("throws early on %s", async (_what, overrides, message) => {
        await expect(runUnderMocks(() => new Fleet("dev", args(overrides)), env)).rejects.toThrow(message);
    });
});

describe("fleetMemberProperties", () => {
    it("returns clusterResourceId, group and a copy of the labels", () => {
        const props = fleetMemberProperties(
            blue,
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c",
        );
        expect(props).toEqual({
            clusterResourceId:
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c",
            group: "blue",
            labels: { environment: "dev", ring: "0" },
        });
        expect(props.labels).not.toBe(blue.labels);
    });

    it("sends an empty label map rather than omitting it, so a PUT clears old labels", () => {
        expect(fleetMemberProperties({ ...blue, labels: {} }, "/id").labels).toEqual({});
    });
});

describe("member labels and Azure tags are kept apart", () => {
    // Microsoft's staged-rollout tutorial labels members `environment: canary`, `order: "1"`.
    const canary: FleetMemberSpec = { ...blue, labels: { environment: "canary", order: "1", Owner: "someone-else" } };

    it("sends labels named like the stack's tags to the member unchanged and keeps them off the cluster", async () => {
        const { byName } = await plan(args({ members: [canary, green] }));
        expect(byName("dev-aks-dev-blue-member").inputs.properties).toMatchObject({
            labels: { environment: "canary", order: "1", Owner: "someone-else" },
        });
        expect(byName("dev-aks-dev-blue").inputs.tags).toEqual({ owner: "platform", environment: "dev" });
    });

    it("tags every cluster with the stack's tags only, whatever its labels", async () => {
        const { resources } = await plan(args({ members: [canary, green] }));
        const clusters = resources.filter((r) => r.type === "azure-native:containerservice:ManagedCluster");
        expect(clusters.map((c) => [c.name, c.inputs.tags])).toEqual(
            expect.arrayContaining([
                ["dev-aks-dev-blue", { owner: "platform", environment: "dev" }],
                ["dev-aks-dev-green", { owner: "platform", environment: "dev" }],
            ]),
        );
        expect(clusters).toHaveLength(2);
    });
});

describe("fleetTags", () => {
    it.each<[string, Record<string, string> | undefined, Record<string, string>]>([
        ["no tags", undefined, { environment: "dev" }],
        ["extra tags", { owner: "p" }, { owner: "p", environment: "dev" }],
        ["the same environment given", { Environment: "dev" }, { Environment: "dev" }],
    ])("%s", (_what, tags, expected) => {
        expect(fleetTags("dev", tags)).toEqual(expected);
    });
});

describe("hubProfile", () => {
    it("is undefined for a hubless fleet", () => {
        expect(hubProfile("flt-dev", false)).toBeUndefined();
    });
    it("derives the dnsPrefix from the fleet name", () => {
        expect(hubProfile("flt-dev", true)).toEqual({
            dnsPrefix: "flt-dev-hub",
            agentProfile: { vmSize: "Standard_D2s_v3" },
        });
    });
});

describe("fleetProblems", () => {
    it.each<[string, Partial<FleetArgs>, string[]]>([
        ["valid args", {}, []],
        ["a 50-character fleet name with a hub", { hubCluster: true, fleetName: "f".repeat(50) }, []],
        [
            "a 64-character fleet name",
            { fleetName: "f".repeat(64) },
            [
                `fleetName "${"f".repeat(64)}" must be 1-63 lower-case letters, digits and '-', starting and ending alphanumeric`,
            ],
        ],
        [
            "a resource group name ending with '.'",
            { resourceGroupName: "rg." },
            ['resourceGroupName "rg." is not a valid resource group name'],
        ],
        [
            "an upper-case group",
            { members: [{ ...blue, group: "Blue" }] },
            [
                "members[0].group \"Blue\" must be 1-50 lower-case letters, digits and '-', starting and ending alphanumeric",
            ],
        ],
        [
            "a fractional node count",
            { members: [{ ...blue, nodeCount: 1.5 }] },
            ["members[0].nodeCount 1.5 must be a whole number >= 1 (system pool)"],
        ],
        ["an empty vmSize", { members: [{ ...blue, vmSize: " " }] }, ["members[0].vmSize must not be empty"]],
    ])("%s", (_what, overrides, expected) => {
        expect(fleetProblems(args(overrides))).toEqual(expected);
    });
});
