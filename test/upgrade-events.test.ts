/**
 * UpgradeEvents under Pulumi's mocks: one ManagedClusters system topic and one filtered, reliable
 * subscription per member; adoption; contradictory arguments; and the dev stack's plan.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GateHandler } from "../components/gate-handler";
import { buildHandlerPackage, type HandlerPackage } from "../components/handler-package";
import {
    UpgradeEvents,
    adoptedClusterTopicPrincipalId,
    checkedEventTypes,
    checkedMembers,
    clusterTopicName,
    clusterTopicPrincipalKey,
    type UpgradeEventsArgs,
} from "../components/upgrade-events";
import { AKS_EVENT_TYPES, MANAGED_CLUSTERS_TOPIC_TYPE } from "../core/aks-event";
import {
    BUILTIN_ROLES,
    HANDLER_CUSTOM_ROLE_ACTIONS,
    HANDLER_START_RUN_ACTIONS,
    roleAssignmentGuid,
} from "../core/roles";
import { UpgradeEventsSettingSchema } from "../core/upgrade-events";
import { OFFLINE_DEFAULTS, runUnderMocks, stableGuid, type PlannedResource } from "../local/plan/mocks";
import { planStack } from "../local/plan/plan";
import { evaluatePolicies } from "../local/plan/policy-harness";

const ENV = { ...OFFLINE_DEFAULTS, project: "fleet-gates", stack: "test", config: {}, secretKeys: [] };
const SUB = OFFLINE_DEFAULTS.subscriptionId;
const cluster = (n: string) =>
    `/subscriptions/${SUB}/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/managedClusters/${n}`;
const FN = `/subscriptions/${SUB}/resourceGroups/rg-handler/providers/Microsoft.Web/sites/func-gates/functions/gate-event`;
const ACCOUNT = `/subscriptions/${SUB}/resourceGroups/rg-handler/providers/Microsoft.Storage/storageAccounts/stgatesdev`;
const CONTAINER = `${ACCOUNT}/blobServices/default/containers/upgrade-events-deadletter`;

function args(over: Partial<UpgradeEventsArgs> = {}): UpgradeEventsArgs {
    return {
        resourceGroupName: "rg-fleet",
        members: [
            { name: "aks-blue", clusterId: cluster("aks-blue"), location: "westeurope" },
            { name: "aks-green", clusterId: cluster("aks-green"), location: "northeurope" },
        ],
        eventTypes: Object.values(AKS_EVENT_TYPES),
        functionResourceId: FN,
        deadLetterStorageAccountId: ACCOUNT,
        deadLetterStorageAccountName: "stgatesdev",
        ...over,
    };
}

const ofType = (rs: readonly PlannedResource[], type: string) => rs.filter((r) => r.type === type);

describe("UpgradeEvents (created topics)", async () => {
    const { resources } = await runUnderMocks(() => new UpgradeEvents("upgrade-events", args()), ENV);
    const topics = ofType(resources, "azure-native:eventgrid:SystemTopic");
    const subs = ofType(resources, "azure-native:eventgrid:SystemTopicEventSubscription");

    it("creates one ManagedClusters topic per member, in the cluster's region, sourced by its id", () => {
        expect(topics.map((t) => [t.name, t.inputs])).toEqual([
            [
                "upgrade-events-aks-blue-topic",
                {
                    resourceGroupName: "rg-fleet",
                    systemTopicName: "aks-blue-aks-events",
                    location: "westeurope",
                    source: cluster("aks-blue"),
                    topicType: MANAGED_CLUSTERS_TOPIC_TYPE,
                    identity: { type: "SystemAssigned" },
                },
            ],
            [
                "upgrade-events-aks-green-topic",
                {
                    resourceGroupName: "rg-fleet",
                    systemTopicName: "aks-green-aks-events",
                    location: "northeurope",
                    source: cluster("aks-green"),
                    topicType: MANAGED_CLUSTERS_TOPIC_TYPE,
                    identity: { type: "SystemAssigned" },
                },
            ],
        ]);
    });

    it("subscribes the handler to the upgrade event types with retries and dead-lettering", () => {
        expect(subs).toHaveLength(2);
        const blue = subs.find((s) => s.name === "upgrade-events-aks-blue-subscription")!;
        expect(blue.inputs).toEqual({
            resourceGroupName: "rg-fleet",
            systemTopicName: "aks-blue-aks-events",
            eventSubscriptionName: "aks-upgrade-events",
            eventDeliverySchema: "EventGridSchema",
            filter: { includedEventTypes: Object.values(AKS_EVENT_TYPES), isSubjectCaseSensitive: false },
            destination: {
                endpointType: "AzureFunction",
                resourceId: FN,
                maxEventsPerBatch: 1,
                preferredBatchSizeInKilobytes: 64,
            },
            retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
            deadLetterWithResourceIdentity: {
                identity: { type: "SystemAssigned" },
                deadLetterDestination: {
                    endpointType: "StorageBlob",
                    resourceId: ACCOUNT,
                    blobContainerName: "upgrade-events-deadletter",
                },
            },
        });
    });

    it("lets each topic's identity write dead letters to the container only", () => {
        const roles = ofType(resources, "azure-native:authorization:RoleAssignment");
        const writerRole = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${BUILTIN_ROLES.storageBlobDataContributor}`;
        expect(roles.map((r) => r.inputs)).toEqual(
            ["aks-blue", "aks-green"].map((m) => ({
                scope: CONTAINER,
                principalId: stableGuid("azure-native:eventgrid:SystemTopic", `upgrade-events-${m}-topic`, "principal"),
                principalType: "ServicePrincipal",
                roleDefinitionId: writerRole,
                roleAssignmentName: roleAssignmentGuid(
                    CONTAINER,
                    writerRole,
                    clusterTopicPrincipalKey(cluster(m)),
                    `${m}-deadletter-writer`,
                ),
            })),
        );
    });
});

describe("UpgradeEvents: arguments", () => {
    it.each([
        [{ members: [] }, "members: at least one member cluster is required"],
        [
            {
                members: [
                    { name: "a", clusterId: cluster("a"), location: "x" },
                    { name: "A", clusterId: cluster("b"), location: "x" },
                ],
            },
            'members: member "A" is listed twice',
        ],
        [
            {
                members: [
                    {
                        name: "a",
                        clusterId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/fleets/f`,
                        location: "x",
                    },
                ],
            },
            `members["a"].clusterId "/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/fleets/f" is not a Microsoft.ContainerService/managedClusters id`,
        ],
        [{ eventTypes: [] }, "eventTypes: at least one AKS upgrade event type is required"],
        [
            { eventTypes: ["Microsoft.ContainerService.NodePoolRollingFail"] },
            'eventTypes[0] "Microsoft.ContainerService.NodePoolRollingFail" is not one of',
        ],
        [
            { eventTypes: [AKS_EVENT_TYPES.nodePoolRollingFailed, AKS_EVENT_TYPES.nodePoolRollingFailed] },
            'eventTypes[1] "Microsoft.ContainerService.NodePoolRollingFailed" is listed twice',
        ],
    ] as [Partial<UpgradeEventsArgs>, string][])("throws early on %j", (over, message) => {
        const a = args(over);
        expect(() => {
            checkedMembers(a.members);
            checkedEventTypes(a.eventTypes);
        }).toThrow(message);
    });

    it("names topics within Event Grid's limits", () => {
        expect(clusterTopicName("aks-dev-blue-1")).toBe("aks-dev-blue-1-aks-events");
        expect(() => clusterTopicName("a_b")).toThrow('member "a_b" gives system topic name "a_b-aks-events"');
    });

    const ref = { name: "aks-blue-topic", resourceGroupName: "rg-shared" };
    it.each([
        [
            { topicType: "Microsoft.Resources.Subscriptions", source: cluster("aks-blue") },
            'existing topic "aks-blue-topic" in resource group "rg-shared" has topic type "Microsoft.Resources.Subscriptions", expected Microsoft.ContainerService.ManagedClusters',
        ],
        [
            { topicType: MANAGED_CLUSTERS_TOPIC_TYPE, source: cluster("aks-green") },
            `existing topic "aks-blue-topic" in resource group "rg-shared" has source "${cluster("aks-green")}", but the member's cluster is "${cluster("aks-blue")}"`,
        ],
        [
            { topicType: MANAGED_CLUSTERS_TOPIC_TYPE, source: cluster("aks-blue"), identity: { type: "None" } },
            'existing topic "aks-blue-topic" in resource group "rg-shared" has no system-assigned identity (identity type "None")',
        ],
    ])("refuses to adopt %j", (topic, message) => {
        expect(() => adoptedClusterTopicPrincipalId(topic, ref, cluster("aks-blue"))).toThrow(message);
    });

    it("adopts a cluster's own topic with an identity, comparing ids ignoring case", () => {
        expect(
            adoptedClusterTopicPrincipalId(
                {
                    topicType: "microsoft.containerservice.managedclusters",
                    source: cluster("aks-blue").toLowerCase(),
                    identity: { type: "SystemAssigned", principalId: "p-1" },
                },
                ref,
                cluster("aks-blue"),
            ),
        ).toBe("p-1");
    });
});

describe("the dev stack's plan", async () => {
    const plan = await planStack("dev");
    const topics = plan.resources.filter(
        (r) => r.type === "azure-native:eventgrid:SystemTopic" && r.inputs.topicType === MANAGED_CLUSTERS_TOPIC_TYPE,
    );
    const members = plan.resources.filter((r) => r.type === "azure-native:containerservice:ManagedCluster");

    it("has one ManagedClusters topic and one subscription per member, policy pack clean", async () => {
        expect(members).toHaveLength(3);
        expect(topics.map((t) => t.inputs.systemTopicName).sort()).toEqual([
            "aks-dev-blue-1-aks-events",
            "aks-dev-blue-2-aks-events",
            "aks-dev-green-1-aks-events",
        ]);
        const subs = plan.resources.filter(
            (r) =>
                r.type === "azure-native:eventgrid:SystemTopicEventSubscription" &&
                r.inputs.eventSubscriptionName === "aks-upgrade-events",
        );
        expect(subs).toHaveLength(3);
        expect(await evaluatePolicies(plan)).toEqual([]);
    });

    it("hands the handler its members, the strategy and startRun, and lets its role start runs only then", () => {
        const settings = plan.resources.find((r) => r.type === "azure-native:web:WebAppApplicationSettings")!;
        const setting = UpgradeEventsSettingSchema.parse(
            JSON.parse((settings.inputs.properties as Record<string, string>).UPGRADE_EVENTS!),
        );
        expect(setting.startRun).toBe(true);
        expect(setting.channel).toBe("Stable");
        expect(setting.strategyId).toMatch(/\/fleets\/flt-dev\/updateStrategies\/gated-rollout$/);
        expect(setting.members.map((m) => [m.name, m.group])).toEqual([
            ["aks-dev-blue-1", "blue"],
            ["aks-dev-blue-2", "blue"],
            ["aks-dev-green-1", "green"],
        ]);
    });
});

describe("the handler's custom role starts runs only with startRun", () => {
    let tmp: string;
    let pkg: HandlerPackage;
    beforeAll(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "upgrade-events-"));
        pkg = buildHandlerPackage(tmp);
    });
    afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const FLEET_ID = `/subscriptions/${SUB}/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/fleets/flt-dev`;

    async function roleActionsAndSetting(startRun: boolean) {
        const run = await runUnderMocks(() => {
            new GateHandler("handler", {
                resourceGroupName: "rg-fleet",
                location: "westeurope",
                environment: "dev",
                subscriptionId: SUB,
                fleetId: FLEET_ID,
                memberNames: ["aks-blue"],
                memberClusterIds: { "aks-blue": cluster("aks-blue") },
                rulesJson: "[]",
                upgradeEventsJson: JSON.stringify({ startRun }),
                startRun,
                roleScope: "custom-role",
                sweepMinutes: 5,
                escalateAfterMinutes: 240,
                handlerPackage: pkg,
                publishToken: pulumi.secret("token"),
            });
        }, ENV);
        const role = run.resources.find((r) => r.type === "azure-native:authorization:RoleDefinition")!;
        const settings = run.resources.find((r) => r.type === "azure-native:web:WebAppApplicationSettings")!;
        return {
            actions: (role.inputs.permissions as { actions: string[] }[])[0]!.actions,
            setting: (settings.inputs.properties as Record<string, string>).UPGRADE_EVENTS,
        };
    }

    it("adds updateRuns/write and start/action with startRun", async () => {
        const { actions, setting } = await roleActionsAndSetting(true);
        expect(actions).toEqual([...HANDLER_CUSTOM_ROLE_ACTIONS, ...HANDLER_START_RUN_ACTIONS]);
        expect(setting).toBe('{"startRun":true}');
    });

    it("keeps the gate-only actions without it", async () => {
        const { actions } = await roleActionsAndSetting(false);
        expect(actions).toEqual([...HANDLER_CUSTOM_ROLE_ACTIONS]);
    });
});
