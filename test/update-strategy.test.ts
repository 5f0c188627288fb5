/**
 * The UpdateStrategy component under Pulumi's mocks (a 2026-06-01 ArmResource under the fleet, the
 * auto-upgrade profile, dependencies on members), the properties it sends against the spec's example, gate
 * positions, and the stage and auto-upgrade rules.
 */
import * as pulumi from "@pulumi/pulumi";
import * as resources from "@pulumi/azure-native/resources";
import { describe, expect, it } from "vitest";
import { Fleet } from "../components/fleet";
import {
    type AutoUpgradeSpec,
    FLEET_API_VERSION,
    type GatePosition,
    type StageSpec,
    UpdateStrategy,
    type UpdateStrategyArgs,
    autoUpgradeProblems,
    autoUpgradeProfileProperties,
    gatePositions,
    stageProblems,
    updateStrategyProperties,
} from "../components/update-strategy";
import { OFFLINE_DEFAULTS, type PlannedResource, resolveOutputs, runUnderMocks } from "../local/plan/mocks";
import { readExample } from "./spec-validator";

const env = { ...OFFLINE_DEFAULTS, project: "fleet-gates", stack: "test", config: {}, secretKeys: [] };
const FLEET_ID = `/subscriptions/${OFFLINE_DEFAULTS.subscriptionId}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`;
const COMPONENT_URN = "urn:pulumi:test::fleet-gates::fleet-gates:fleet:UpdateStrategy::gated";

/** The DESIGN.md example strategy. */
const designStages: StageSpec[] = [
    {
        name: "dev",
        beforeGates: [{ displayName: "Check with sales team" }],
        groups: [{ name: "blue", afterGates: [{ displayName: "blue healthy" }] }],
        afterStageWaitInSeconds: 300,
    },
    { name: "prod", beforeGates: [{ displayName: "prod go" }], groups: [{ name: "green" }] },
];

function args(overrides: Partial<UpdateStrategyArgs> = {}): UpdateStrategyArgs {
    return {
        subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
        resourceGroupName: "rg-fleet-dev",
        fleetName: "flt-dev",
        strategyName: "gated-rollout",
        stages: designStages,
        ...overrides,
    };
}

async function plan(program: () => Record<string, unknown>) {
    const run = await runUnderMocks(program, env);
    const outputs = (await resolveOutputs(run.result)) as Record<string, unknown>;
    const byName = (name: string): PlannedResource => {
        const r = run.resources.find((x) => x.name === name);
        if (!r) throw new Error(`no resource named ${name}; have ${run.resources.map((x) => x.name).join(", ")}`);
        return r;
    };
    return { resources: run.resources, outputs, byName };
}

function planStrategy(a: UpdateStrategyArgs) {
    return plan(() => {
        const s = new UpdateStrategy("gated", a);
        return { strategyId: s.strategyId, strategyName: s.strategyName, autoUpgradeProfileId: s.autoUpgradeProfileId };
    });
}

describe("UpdateStrategy component under mocks", () => {
    it("creates the strategy as a 2026-06-01 ArmResource under fleets/<name>, parented to the component", async () => {
        const { byName, resources: all, outputs } = await planStrategy(args());
        expect(all.map((r) => r.name).sort()).toEqual(["gated", "gated-strategy"]);
        const strategy = byName("gated-strategy");
        expect(strategy.parent).toBe(COMPONENT_URN);
        const { __provider, ...strategyInputs } = strategy.inputs;
        // The provider's serialized code travels with the inputs, as at pulumi up.
        expect(__provider).toMatch(/^exports\.handler = /);
        expect(strategyInputs).toEqual({
            subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
            armBaseUrl: "https://management.azure.com",
            resourceGroupName: "rg-fleet-dev",
            resourceProviderNamespace: "Microsoft.ContainerService",
            parentResourcePath: "fleets/flt-dev",
            resourceType: "updateStrategies",
            resourceName: "gated-rollout",
            apiVersion: "2026-06-01",
            properties: {
                strategy: {
                    stages: [
                        {
                            name: "dev",
                            groups: [{ name: "blue", afterGates: [{ displayName: "blue healthy", type: "Approval" }] }],
                            beforeGates: [{ displayName: "Check with sales team", type: "Approval" }],
                            afterStageWaitInSeconds: 300,
                        },
                        {
                            name: "prod",
                            groups: [{ name: "green" }],
                            beforeGates: [{ displayName: "prod go", type: "Approval" }],
                        },
                    ],
                },
            },
        });
        expect(strategy.id).toBe(`${FLEET_ID}/updateStrategies/gated-rollout`);
        expect(outputs).toEqual({
            strategyId: strategy.id,
            strategyName: "gated-rollout",
            autoUpgradeProfileId: undefined,
        });
        expect(FLEET_API_VERSION).toBe("2026-06-01");
    });

    it("wires the auto-upgrade profile to the strategy's id with Fleet's raw channel string", async () => {
        const { byName, outputs } = await planStrategy(
            args({ autoUpgrade: { channel: "NodeImage", nodeImageSelection: "Consistent" } }),
        );
        const strategy = byName("gated-strategy");
        const profile = byName("gated-auto-upgrade");
        expect(profile.parent).toBe(COMPONENT_URN);
        const { __provider: _code, ...profileInputs } = profile.inputs;
        expect(profileInputs).toEqual({
            subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
            armBaseUrl: "https://management.azure.com",
            resourceGroupName: "rg-fleet-dev",
            resourceProviderNamespace: "Microsoft.ContainerService",
            parentResourcePath: "fleets/flt-dev",
            resourceType: "autoUpgradeProfiles",
            resourceName: "gated-rollout",
            apiVersion: "2026-06-01",
            properties: {
                channel: "NodeImage",
                updateStrategyId: strategy.id,
                nodeImageSelection: { type: "Consistent" },
                disabled: false,
            },
        });
        expect(profile.propertyDependencies.properties).toEqual([strategy.urn]);
        expect(outputs.autoUpgradeProfileId).toBe(`${FLEET_ID}/autoUpgradeProfiles/gated-rollout`);
    });

    it("passes targetKubernetesVersion and disabled through", async () => {
        const { byName } = await planStrategy(
            args({
                autoUpgrade: { channel: "TargetKubernetesVersion", targetKubernetesVersion: "1.33", disabled: true },
            }),
        );
        expect(byName("gated-auto-upgrade").inputs.properties).toEqual({
            channel: "TargetKubernetesVersion",
            updateStrategyId: byName("gated-strategy").id,
            targetKubernetesVersion: "1.33",
            disabled: true,
        });
    });

    it("waits for the given members and, through fleetName, for the fleet", async () => {
        const { byName } = await plan(() => {
            const fleet = new Fleet("dev", {
                environment: "dev",
                subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
                location: "westeurope",
                resourceGroupName: "rg-fleet-dev",
                fleetName: "flt-dev",
                hubCluster: false,
                members: [
                    { name: "aks-blue", group: "blue", labels: {}, nodeCount: 1, vmSize: "Standard_D2s_v3" },
                    { name: "aks-green", group: "green", labels: {}, nodeCount: 1, vmSize: "Standard_D2s_v3" },
                ],
            });
            const s = new UpdateStrategy("gated", {
                ...args(),
                resourceGroupName: fleet.resourceGroupName,
                fleetName: fleet.fleetName,
                dependsOn: Object.values(fleet.members),
            });
            return { strategyId: s.strategyId };
        });
        const strategy = byName("gated-strategy");
        expect(strategy.inputs.parentResourcePath).toBe("fleets/flt-dev");
        expect(strategy.inputs.resourceGroupName).toBe("rg-fleet-dev");
        expect(strategy.propertyDependencies.parentResourcePath).toEqual([byName("dev-fleet").urn]);
        expect(strategy.dependencies).toEqual(
            expect.arrayContaining([byName("dev-aks-blue-member").urn, byName("dev-aks-green-member").urn]),
        );
    });

    it("accepts fleetName as an Output and interpolates it", async () => {
        const { byName } = await planStrategy(args({ fleetName: pulumi.output("flt-other") }));
        expect(byName("gated-strategy").inputs.parentResourcePath).toBe("fleets/flt-other");
    });

    it("accepts arbitrary resources in dependsOn", async () => {
        const { byName } = await plan(() => {
            const rg = new resources.ResourceGroup("extra", { resourceGroupName: "rg-extra" });
            const s = new UpdateStrategy("gated", args({ dependsOn: [rg] }));
            return { id: s.strategyId };
        });
        expect(byName("gated-strategy").dependencies).toContain(byName("extra").urn);
    });

    it.each<[string, Partial<UpdateStrategyArgs>, string]>([
        [
            "a TargetKubernetesVersion channel without a version",
            { autoUpgrade: { channel: "TargetKubernetesVersion" } },
            'autoUpgrade.channel "TargetKubernetesVersion" requires autoUpgrade.targetKubernetesVersion',
        ],
        [
            "a version with another channel",
            { autoUpgrade: { channel: "Stable", targetKubernetesVersion: "1.33" } },
            'autoUpgrade.targetKubernetesVersion "1.33" is only allowed with autoUpgrade.channel "TargetKubernetesVersion", not "Stable"',
        ],
        ["an upper-case strategy name", { strategyName: "Gated" }, 'strategyName "Gated" must be 1-50 lower-case'],
        [
            "a group in two stages",
            { stages: [...designStages, { name: "again", groups: [{ name: "blue" }] }] },
            'stages[2].groups[0].name "blue" duplicates stages[0].groups[0].name',
        ],
    ])("throws early on %s", async (_what, overrides, message) => {
        await expect(runUnderMocks(() => new UpdateStrategy("gated", args(overrides)), env)).rejects.toThrow(
            `UpdateStrategy "gated": ${message}`,
        );
    });
});

describe("updateStrategyProperties", () => {
    it.each<[string, StageSpec[], unknown[]]>([
        ["a bare stage", [{ name: "s", groups: [{ name: "g" }] }], [{ name: "s", groups: [{ name: "g" }] }]],
        [
            "empty gate arrays are omitted",
            [{ name: "s", groups: [{ name: "g", beforeGates: [], afterGates: [] }], beforeGates: [], afterGates: [] }],
            [{ name: "s", groups: [{ name: "g" }] }],
        ],
        [
            "undefined optionals are omitted, not null",
            [{ name: "s", groups: [{ name: "g", maxConcurrency: undefined }], afterStageWaitInSeconds: undefined }],
            [{ name: "s", groups: [{ name: "g" }] }],
        ],
        [
            "a zero wait is kept",
            [{ name: "s", groups: [{ name: "g" }], afterStageWaitInSeconds: 0 }],
            [{ name: "s", groups: [{ name: "g" }], afterStageWaitInSeconds: 0 }],
        ],
        [
            "maxConcurrency on stage and group",
            [{ name: "s", maxConcurrency: "25%", groups: [{ name: "g", maxConcurrency: "3" }] }],
            [{ name: "s", maxConcurrency: "25%", groups: [{ name: "g", maxConcurrency: "3" }] }],
        ],
        [
            "every gate becomes an Approval gate",
            [
                {
                    name: "s",
                    beforeGates: [{ displayName: "a" }],
                    afterGates: [{ displayName: "b" }, { displayName: "c" }],
                    groups: [{ name: "g", beforeGates: [{ displayName: "d" }], afterGates: [{ displayName: "e" }] }],
                },
            ],
            [
                {
                    name: "s",
                    beforeGates: [{ displayName: "a", type: "Approval" }],
                    afterGates: [
                        { displayName: "b", type: "Approval" },
                        { displayName: "c", type: "Approval" },
                    ],
                    groups: [
                        {
                            name: "g",
                            beforeGates: [{ displayName: "d", type: "Approval" }],
                            afterGates: [{ displayName: "e", type: "Approval" }],
                        },
                    ],
                },
            ],
        ],
    ])("%s", (_what, stages, expected) => {
        const props = updateStrategyProperties(stages);
        expect(props).toStrictEqual({ strategy: { stages: expected } });
    });

    it("reproduces the spec's UpdateStrategies_CreateOrUpdate request body", () => {
        const example = readExample("UpdateStrategies_CreateOrUpdate.json");
        const stages: StageSpec[] = [
            {
                name: "stage1",
                maxConcurrency: "20%",
                groups: [
                    {
                        name: "group-a",
                        maxConcurrency: "5",
                        beforeGates: [{ displayName: "gate before group-a" }],
                        afterGates: [{ displayName: "gate after group-a" }],
                    },
                ],
                beforeGates: [{ displayName: "gate before stage1" }],
                afterGates: [{ displayName: "gate after stage1" }],
                afterStageWaitInSeconds: 3600,
            },
        ];
        expect(updateStrategyProperties(stages)).toEqual(
            (example.parameters.resource as { properties: unknown }).properties,
        );
    });
});

describe("gatePositions", () => {
    it.each<[string, StageSpec[], GatePosition[]]>([
        ["no gates", [{ name: "s", groups: [{ name: "g" }] }], []],
        [
            "the DESIGN.md strategy",
            designStages,
            [
                { stage: "dev", timing: "Before", displayName: "Check with sales team" },
                { stage: "dev", group: "blue", timing: "After", displayName: "blue healthy" },
                { stage: "prod", timing: "Before", displayName: "prod go" },
            ],
        ],
        [
            "stage before, then each group's before and after in declaration order, then stage after",
            [
                {
                    name: "s1",
                    afterGates: [{ displayName: "s1 after" }],
                    beforeGates: [{ displayName: "s1 before 1" }, { displayName: "s1 before 2" }],
                    groups: [
                        {
                            name: "b",
                            afterGates: [{ displayName: "b after" }],
                            beforeGates: [{ displayName: "b before" }],
                        },
                        { name: "a", beforeGates: [{ displayName: "a before" }] },
                        { name: "c", afterGates: [{ displayName: "c after" }] },
                    ],
                },
                { name: "s2", groups: [{ name: "d", afterGates: [{ displayName: "d after" }] }] },
            ],
            [
                { stage: "s1", timing: "Before", displayName: "s1 before 1" },
                { stage: "s1", timing: "Before", displayName: "s1 before 2" },
                { stage: "s1", group: "b", timing: "Before", displayName: "b before" },
                { stage: "s1", group: "b", timing: "After", displayName: "b after" },
                { stage: "s1", group: "a", timing: "Before", displayName: "a before" },
                { stage: "s1", group: "c", timing: "After", displayName: "c after" },
                { stage: "s1", timing: "After", displayName: "s1 after" },
                { stage: "s2", group: "d", timing: "After", displayName: "d after" },
            ],
        ],
    ])("%s", (_what, stages, expected) => {
        // toStrictEqual: stage gates carry no `group` key at all.
        expect(gatePositions(stages)).toStrictEqual(expected);
    });
});

describe("autoUpgradeProfileProperties", () => {
    const id = `${FLEET_ID}/updateStrategies/s`;
    it.each<[string, AutoUpgradeSpec, Record<string, unknown>]>([
        ["Stable, defaults", { channel: "Stable" }, { channel: "Stable", updateStrategyId: id, disabled: false }],
        [
            "Rapid, disabled",
            { channel: "Rapid", disabled: true },
            { channel: "Rapid", updateStrategyId: id, disabled: true },
        ],
        [
            "NodeImage with an image selection",
            { channel: "NodeImage", nodeImageSelection: "Latest" },
            { channel: "NodeImage", updateStrategyId: id, nodeImageSelection: { type: "Latest" }, disabled: false },
        ],
        [
            "TargetKubernetesVersion",
            { channel: "TargetKubernetesVersion", targetKubernetesVersion: "1.33" },
            {
                channel: "TargetKubernetesVersion",
                updateStrategyId: id,
                targetKubernetesVersion: "1.33",
                disabled: false,
            },
        ],
    ])("%s", (_what, spec, expected) => {
        expect(autoUpgradeProfileProperties(spec, id)).toStrictEqual(expected);
    });
});

describe("autoUpgradeProblems", () => {
    it.each<[AutoUpgradeSpec, string[]]>([
        [{ channel: "Stable" }, []],
        [{ channel: "TargetKubernetesVersion", targetKubernetesVersion: "1.30" }, []],
        [
            { channel: "TargetKubernetesVersion" },
            ['autoUpgrade.channel "TargetKubernetesVersion" requires autoUpgrade.targetKubernetesVersion'],
        ],
        [
            { channel: "Rapid", targetKubernetesVersion: "1.30" },
            [
                'autoUpgrade.targetKubernetesVersion "1.30" is only allowed with autoUpgrade.channel "TargetKubernetesVersion", not "Rapid"',
            ],
        ],
        [
            { channel: "TargetKubernetesVersion", targetKubernetesVersion: "1.30.2" },
            ['autoUpgrade.targetKubernetesVersion "1.30.2" must be {major}.{minor}, e.g. "1.30"'],
        ],
    ])("%j", (spec, expected) => {
        expect(autoUpgradeProblems(spec)).toEqual(expected);
    });
});

describe("stageProblems", () => {
    const g = (name: string) => ({ name });
    it.each<[string, StageSpec[], string[]]>([
        ["the DESIGN.md strategy", designStages, []],
        ["no stages", [], ["stages must contain at least one stage"]],
        ["a stage without groups", [{ name: "s", groups: [] }], ["stages[0].groups must contain at least one group"]],
        [
            "an upper-case stage name",
            [{ name: "Dev", groups: [g("a")] }],
            [
                "stages[0].name \"Dev\" must be 1-50 lower-case letters, digits and '-', starting and ending alphanumeric",
            ],
        ],
        [
            "a duplicated stage",
            [
                { name: "s", groups: [g("a")] },
                { name: "s", groups: [g("b")] },
            ],
            ['stages[1].name "s" duplicates stages[0].name'],
        ],
        [
            "a group twice in one stage",
            [{ name: "s", groups: [g("a"), g("a")] }],
            ['stages[0].groups[1].name "a" duplicates stages[0].groups[0].name'],
        ],
        [
            "maxConcurrency 0 and 101%",
            [{ name: "s", maxConcurrency: "0", groups: [{ name: "a", maxConcurrency: "101%" }] }],
            [
                'stages[0].maxConcurrency "0" must be a count >= 1 or a percentage 1%-100%',
                'stages[0].groups[0].maxConcurrency "101%" must be a count >= 1 or a percentage 1%-100%',
            ],
        ],
        [
            "a negative wait",
            [{ name: "s", groups: [g("a")], afterStageWaitInSeconds: -1 }],
            ["stages[0].afterStageWaitInSeconds -1 must be a whole number of seconds >= 0"],
        ],
        [
            "an empty and an over-long gate name",
            [
                {
                    name: "s",
                    beforeGates: [{ displayName: "" }],
                    groups: [{ name: "a", afterGates: [{ displayName: "x".repeat(101) }] }],
                },
            ],
            [
                'stages[0].beforeGates[0].displayName "" must be 1-100 characters',
                `stages[0].groups[0].afterGates[0].displayName "${"x".repeat(101)}" must be 1-100 characters`,
            ],
        ],
        [
            "51 groups in a stage",
            [{ name: "s", groups: Array.from({ length: 51 }, (_, i) => g(`g${i}`)) }],
            ["stages[0].groups has 51 groups; a stage allows at most 50"],
        ],
    ])("%s", (_what, stages, expected) => {
        expect(stageProblems(stages)).toEqual(expected);
    });
});
