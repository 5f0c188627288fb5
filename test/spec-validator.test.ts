/**
 * The validator for the official Fleet OpenAPI document (2026-06-01): the spec's own examples, the
 * strategy and member payloads the components generate, and broken payloads rejected with the reason.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Fleet, fleetMemberProperties } from "../components/fleet";
import {
    type AutoUpgradeSpec,
    type StageSpec,
    UpdateStrategy,
    autoUpgradeProfileProperties,
    updateStrategyProperties,
} from "../components/update-strategy";
import { OFFLINE_DEFAULTS, runUnderMocks } from "../local/plan/mocks";
import {
    definitionNames,
    exampleFiles,
    loadFleetSpec,
    readExample,
    validateDefinition,
    validateExample,
} from "./spec-validator";

const env = { ...OFFLINE_DEFAULTS, project: "fleet-gates", stack: "test", config: {}, secretKeys: [] };
const CLUSTER_ID = `/subscriptions/${OFFLINE_DEFAULTS.subscriptionId}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-blue`;
const STRATEGY_ID = `/subscriptions/${OFFLINE_DEFAULTS.subscriptionId}/resourceGroups/rg/providers/Microsoft.ContainerService/fleets/flt/updateStrategies/s`;
const NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const CONCURRENCY_PATTERN = "^(?:([1-9]\\d*)|([1-9]\\d?|100)%)$";

const fullStages: StageSpec[] = [
    {
        name: "dev",
        maxConcurrency: "25%",
        beforeGates: [{ displayName: "Check with sales team" }],
        groups: [
            { name: "blue", maxConcurrency: "2", afterGates: [{ displayName: "blue healthy" }] },
            { name: "teal", beforeGates: [{ displayName: "teal window" }] },
        ],
        afterGates: [{ displayName: "dev done" }],
        afterStageWaitInSeconds: 300,
    },
    { name: "prod", beforeGates: [{ displayName: "prod go" }], groups: [{ name: "green" }] },
];

/** A valid strategy payload to break one field at a time. */
function strategyPayload(): { strategy: { stages: Record<string, unknown>[] } } {
    return JSON.parse(JSON.stringify(updateStrategyProperties(fullStages))) as {
        strategy: { stages: Record<string, unknown>[] };
    };
}

beforeAll(async () => {
    await loadFleetSpec();
});

describe("the spec's own examples", () => {
    it("ships the expected example files", () => {
        expect(exampleFiles()).toEqual([
            "FleetMembers_Create.json",
            "Gates_Get.json",
            "Gates_ListByFleet.json",
            "Gates_Update.json",
            "UpdateRuns_CreateOrUpdate.json",
            "UpdateStrategies_CreateOrUpdate.json",
        ]);
    });

    it.each(exampleFiles())("%s validates (parameters as a request, bodies as responses)", (file) => {
        expect(validateExample(readExample(file))).toEqual([]);
    });

    it("rejects an example whose gate name is not a lower-case GUID and whose state is unknown", () => {
        const ex = readExample("Gates_Update.json");
        const broken = {
            ...ex,
            parameters: {
                ...ex.parameters,
                gateName: "12345678-910A-BCDE-F000-000000000000",
                properties: { properties: { state: "Approved" } },
            },
        };
        expect(validateExample(broken)).toEqual([
            `parameters.gateName: must match pattern "^[0-9a-f]{8}[-][0-9a-f]{4}[-][0-9a-f]{4}[-][0-9a-f]{4}[-][0-9a-f]{12}$" (got "12345678-910A-BCDE-F000-000000000000")`,
            'parameters.properties/properties/state: must be one of "Pending", "Skipped", "Completed" (got "Approved")',
        ]);
    });

    it("rejects a response status the operation does not declare", () => {
        const ex = readExample("Gates_Get.json");
        expect(validateExample({ ...ex, responses: { ...ex.responses, "204": {} } })).toEqual([
            "responses.204: status not declared by Gates_Get",
        ]);
    });
});

describe("payloads the components generate", () => {
    it("strategy properties validate, from the DESIGN.md shape to every optional field", () => {
        expect(validateDefinition("FleetUpdateStrategyProperties", updateStrategyProperties(fullStages))).toEqual([]);
        expect(
            validateDefinition(
                "FleetUpdateStrategyProperties",
                updateStrategyProperties([{ name: "s", groups: [{ name: "g" }] }]),
            ),
        ).toEqual([]);
    });

    it("member properties validate, also inside the FleetMember envelope", () => {
        const blue = {
            name: "aks-blue",
            group: "blue",
            labels: { ring: "0", "fleet.azure.com/env": "dev" },
            nodeCount: 1,
            vmSize: "x",
        };
        const props = fleetMemberProperties(blue, CLUSTER_ID);
        expect(validateDefinition("FleetMemberProperties", props)).toEqual([]);
        expect(validateDefinition("FleetMember", { properties: props })).toEqual([]);
    });

    it.each<AutoUpgradeSpec>([
        { channel: "Stable" },
        { channel: "Rapid", disabled: true },
        { channel: "NodeImage", nodeImageSelection: "Consistent" },
        { channel: "TargetKubernetesVersion", targetKubernetesVersion: "1.33", nodeImageSelection: "Latest" },
    ])("auto-upgrade properties validate for %j", (spec) => {
        expect(
            validateDefinition("AutoUpgradeProfileProperties", autoUpgradeProfileProperties(spec, STRATEGY_ID)),
        ).toEqual([]);
    });

    it("every generic Fleet resource a planned program registers validates against its definition", async () => {
        const run = await runUnderMocks(() => {
            const fleet = new Fleet("dev", {
                environment: "dev",
                subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
                location: "westeurope",
                resourceGroupName: "rg-fleet-dev",
                fleetName: "flt-dev",
                hubCluster: true,
                members: [
                    { name: "aks-blue", group: "blue", labels: { ring: "0" }, nodeCount: 1, vmSize: "Standard_D2s_v3" },
                    { name: "aks-teal", group: "teal", labels: {}, nodeCount: 1, vmSize: "Standard_D2s_v3" },
                    {
                        name: "aks-green",
                        group: "green",
                        labels: { ring: "1" },
                        nodeCount: 2,
                        vmSize: "Standard_D2s_v3",
                    },
                ],
            });
            new UpdateStrategy("gated", {
                subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
                resourceGroupName: fleet.resourceGroupName,
                fleetName: fleet.fleetName,
                strategyName: "gated-rollout",
                stages: fullStages,
                autoUpgrade: { channel: "Stable", nodeImageSelection: "Latest" },
                dependsOn: Object.values(fleet.members),
            });
            return {};
        }, env);
        const definitionFor: Record<string, string> = {
            members: "FleetMemberProperties",
            updateStrategies: "FleetUpdateStrategyProperties",
            autoUpgradeProfiles: "AutoUpgradeProfileProperties",
        };
        const generic = run.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/fleet-gates:ArmResource");
        expect(generic.map((r) => r.inputs.resourceType).sort()).toEqual([
            "autoUpgradeProfiles",
            "members",
            "members",
            "members",
            "updateStrategies",
        ]);
        for (const r of generic) {
            const definition = definitionFor[r.inputs.resourceType as string]!;
            expect(validateDefinition(definition, r.inputs.properties), r.name).toEqual([]);
        }
    });
});

describe("broken payloads are rejected with the reason", () => {
    type Breaker = (p: ReturnType<typeof strategyPayload>) => void;
    it.each<[string, Breaker, unknown]>([
        [
            "a stage name with upper-case letters",
            (p) => (p.strategy.stages[0]!.name = "Dev"),
            `/strategy/stages/0/name: must match pattern "${NAME_PATTERN}" (got "Dev")`,
        ],
        [
            "a gate of type Manual",
            (p) => (p.strategy.stages[0]!.beforeGates = [{ displayName: "x", type: "Manual" }]),
            '/strategy/stages/0/beforeGates/0/type: must be one of "Approval" (got "Manual")',
        ],
        [
            "a gate without a type",
            (p) => (p.strategy.stages[1]!.beforeGates = [{ displayName: "x" }]),
            '/strategy/stages/1/beforeGates/0: must have required property "type"',
        ],
        [
            "stage maxConcurrency 0",
            (p) => (p.strategy.stages[0]!.maxConcurrency = "0"),
            `/strategy/stages/0/maxConcurrency: must match pattern "${CONCURRENCY_PATTERN}" (got "0")`,
        ],
        [
            "group maxConcurrency 101%",
            (p) => ((p.strategy.stages[0]!.groups as Record<string, unknown>[])[0]!.maxConcurrency = "101%"),
            `/strategy/stages/0/groups/0/maxConcurrency: must match pattern "${CONCURRENCY_PATTERN}" (got "101%")`,
        ],
        [
            "a fractional wait",
            (p) => (p.strategy.stages[0]!.afterStageWaitInSeconds = 1.5),
            "/strategy/stages/0/afterStageWaitInSeconds: must be integer (got 1.5)",
        ],
        [
            "a wait beyond int32",
            (p) => (p.strategy.stages[0]!.afterStageWaitInSeconds = 2 ** 31),
            '/strategy/stages/0/afterStageWaitInSeconds: must match format "int32" (got 2147483648)',
        ],
        [
            "a 101-character gate name",
            (p) => (p.strategy.stages[1]!.beforeGates = [{ displayName: "x".repeat(101), type: "Approval" }]),
            // Long values are shortened in messages.
            expect.stringMatching(
                /^\/strategy\/stages\/1\/beforeGates\/0\/displayName: must NOT have more than 100 characters \(got "x{76}\.\.\.\)$/,
            ),
        ],
        [
            "a misspelt field",
            (p) => (p.strategy.stages[0]!.maxConcurency = "1"),
            '/strategy/stages/0: must NOT have additional property "maxConcurency"',
        ],
        [
            "a group without a name",
            (p) => (p.strategy.stages[1]!.groups = [{}]),
            '/strategy/stages/1/groups/0: must have required property "name"',
        ],
        [
            "read-only provisioningState in a request",
            (p) => Object.assign(p, { provisioningState: "Succeeded" }),
            "/provisioningState: is read-only (allowed in responses only)",
        ],
    ])("strategy with %s", (_what, breakIt, expected) => {
        const p = strategyPayload();
        breakIt(p);
        expect(validateDefinition("FleetUpdateStrategyProperties", p)).toContainEqual(expected);
    });

    it("a strategy without stages", () => {
        expect(validateDefinition("FleetUpdateStrategyProperties", { strategy: {} })).toEqual([
            '/strategy: must have required property "stages"',
        ]);
    });

    it.each<[string, Record<string, unknown>, string]>([
        ["missing clusterResourceId", { group: "blue" }, '(root): must have required property "clusterResourceId"'],
        [
            "a clusterResourceId that is not an ARM id",
            { clusterResourceId: "aks-blue" },
            '/clusterResourceId: must match format "arm-id" (got "aks-blue")',
        ],
        [
            "an upper-case group",
            { clusterResourceId: CLUSTER_ID, group: "Blue" },
            `/group: must match pattern "${NAME_PATTERN}" (got "Blue")`,
        ],
        [
            "a numeric label value",
            { clusterResourceId: CLUSTER_ID, labels: { ring: 0 } },
            "/labels/ring: must be string (got 0)",
        ],
        [
            "a null group in a request",
            { clusterResourceId: CLUSTER_ID, group: null },
            "/group: must be string (got null)",
        ],
    ])("member with %s", (_what, payload, expected) => {
        expect(validateDefinition("FleetMemberProperties", payload)).toContain(expected);
    });

    it.each<[string, Record<string, unknown>, string]>([
        [
            "the AKS channel spelling azure-native's enum would produce",
            { channel: "stable", updateStrategyId: STRATEGY_ID },
            '/channel: must be one of "Stable", "Rapid", "NodeImage", "TargetKubernetesVersion" (got "stable")',
        ],
        [
            "node image selection Custom (update runs only)",
            { channel: "NodeImage", nodeImageSelection: { type: "Custom" } },
            '/nodeImageSelection/type: must be one of "Latest", "Consistent" (got "Custom")',
        ],
        ["no channel", { disabled: true }, '(root): must have required property "channel"'],
    ])("auto-upgrade profile with %s", (_what, payload, expected) => {
        expect(validateDefinition("AutoUpgradeProfileProperties", payload)).toContain(expected);
    });
});

describe("validateDefinition", () => {
    it("allows read-only properties and null optionals in responses only", () => {
        const response = { clusterResourceId: CLUSTER_ID, provisioningState: "Joining", group: null };
        expect(validateDefinition("FleetMemberProperties", response, { direction: "response" })).toEqual([]);
        expect(validateDefinition("FleetMemberProperties", response)).toEqual([
            "/group: must be string (got null)",
            "/provisioningState: is read-only (allowed in responses only)",
        ]);
    });

    it("knows the definitions the components target", () => {
        expect(definitionNames()).toEqual(
            expect.arrayContaining([
                "FleetUpdateStrategyProperties",
                "FleetMemberProperties",
                "AutoUpgradeProfileProperties",
                "GatePatch",
            ]),
        );
    });

    it("names the close match for an unknown definition", () => {
        expect(() => validateDefinition("UpdateStrategyProperties", {})).toThrow(
            'no definition "UpdateStrategyProperties" in fleets.json; did you mean FleetUpdateStrategyProperties?',
        );
    });
});
