/**
 * The AKS upgrade event policies: cluster topics on the stack's own clusters, reliable subscriptions,
 * and start-run actions granted exactly when the handler starts runs. Each test starts from a
 * compliant stack with a cluster topic and changes one field.
 */
import { describe, expect, it } from "vitest";
import { AKS_EVENT_TYPES, MANAGED_CLUSTERS_TOPIC_TYPE } from "../../core/aks-event";
import { HANDLER_CUSTOM_ROLE_ACTIONS, HANDLER_START_RUN_ACTIONS } from "../../core/roles";
import {
    ACCOUNT_ID,
    CLUSTER_ID,
    FLEET_ID,
    FUNCTION_ID,
    RG,
    SUB,
    T,
    compliantStack,
    mutate,
    urnOf,
    violation,
    violationsOf,
    type FixtureResource,
} from "./fixture";

const TOPICS = "upgrade-event-topics-on-stack-clusters";
const RELIABLE = "upgrade-event-subscriptions-reliable";
const LEAST = "handler-role-least-privilege";

/** The compliant stack plus the cluster topic of aks-blue and its subscription (as components/upgrade-events.ts registers them). */
function withClusterTopic(): FixtureResource[] {
    return [
        ...compliantStack(),
        {
            type: T.topic,
            name: "upgrade-events-aks-blue-topic",
            inputs: {
                resourceGroupName: RG,
                systemTopicName: "aks-blue-aks-events",
                location: "westeurope",
                source: CLUSTER_ID,
                topicType: MANAGED_CLUSTERS_TOPIC_TYPE,
                identity: { type: "SystemAssigned" },
            },
            propertyDependencies: { source: ["aks-blue"] },
        },
        {
            type: T.subscription,
            name: "upgrade-events-aks-blue-subscription",
            inputs: {
                resourceGroupName: RG,
                systemTopicName: "aks-blue-aks-events",
                eventSubscriptionName: "aks-upgrade-events",
                eventDeliverySchema: "EventGridSchema",
                filter: { includedEventTypes: Object.values(AKS_EVENT_TYPES) },
                destination: { endpointType: "AzureFunction", resourceId: FUNCTION_ID },
                retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
                deadLetterWithResourceIdentity: {
                    identity: { type: "SystemAssigned" },
                    deadLetterDestination: {
                        endpointType: "StorageBlob",
                        resourceId: ACCOUNT_ID,
                        blobContainerName: "upgrade-events-deadletter",
                    },
                },
            },
            propertyDependencies: { systemTopicName: ["upgrade-events-aks-blue-topic"] },
        },
    ];
}
const TOPIC_URN = urnOf(T.topic, "upgrade-events-aks-blue-topic");
const SUB_URN = urnOf(T.subscription, "upgrade-events-aks-blue-subscription");

describe(TOPICS, () => {
    it("passes a topic wired from the stack's cluster and a subscription to the upgrade types", async () => {
        expect(await violationsOf(TOPICS, withClusterTopic())).toEqual([]);
    });

    it("passes a topic naming a stack cluster by id (no dependency)", async () => {
        const stack = withClusterTopic().map((r) =>
            r.name === "upgrade-events-aks-blue-topic" ? { ...r, propertyDependencies: {} } : r,
        );
        expect(await violationsOf(TOPICS, stack)).toEqual([]);
    });

    it("rejects a topic on a cluster the stack does not manage", async () => {
        const other = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/managedClusters/aks-shared`;
        const stack = mutate(
            withClusterTopic().map((r) =>
                r.name === "upgrade-events-aks-blue-topic" ? { ...r, propertyDependencies: {} } : r,
            ),
            "upgrade-events-aks-blue-topic",
            (i) => {
                i.source = other;
            },
        );
        expect(await violationsOf(TOPICS, stack)).toEqual([
            violation(
                TOPICS,
                TOPIC_URN,
                `system topic "aks-blue-aks-events" (Microsoft.ContainerService.ManagedClusters) has source "${other}", which is not a managed cluster of this stack`,
            ),
        ]);
    });

    it("rejects a subscription without an event type filter", async () => {
        const stack = mutate(withClusterTopic(), "upgrade-events-aks-blue-subscription", (i) => {
            i.filter = {};
        });
        expect(await violationsOf(TOPICS, stack)).toEqual([
            violation(
                TOPICS,
                SUB_URN,
                'event subscription "aks-upgrade-events" on cluster topic "aks-blue-aks-events" sets no filter.includedEventTypes; list the AKS upgrade event types it routes',
            ),
        ]);
    });

    it("rejects a subscription asking for other event types", async () => {
        const stack = mutate(withClusterTopic(), "upgrade-events-aks-blue-subscription", (i) => {
            i.filter = {
                includedEventTypes: [AKS_EVENT_TYPES.nodePoolRollingFailed, "Microsoft.Resources.ResourceWriteSuccess"],
            };
        });
        expect(await violationsOf(TOPICS, stack)).toEqual([
            violation(
                TOPICS,
                SUB_URN,
                'event subscription "aks-upgrade-events" on cluster topic "aks-blue-aks-events" asks for "Microsoft.Resources.ResourceWriteSuccess", which is not an AKS upgrade event type',
            ),
        ]);
    });
});

describe(RELIABLE, () => {
    it("passes retries, a dead-letter container and a day of TTL", async () => {
        expect(await violationsOf(RELIABLE, withClusterTopic())).toEqual([]);
    });

    it("reports a missing dead-letter destination (advisory)", async () => {
        const stack = mutate(withClusterTopic(), "upgrade-events-aks-blue-subscription", (i) => {
            delete i.deadLetterWithResourceIdentity;
        });
        expect(await violationsOf(RELIABLE, stack)).toEqual([
            violation(
                RELIABLE,
                SUB_URN,
                'event subscription "aks-upgrade-events" has no dead-letter destination, so events that exhaust their retries are dropped; set deadLetterWithResourceIdentity with a blob container',
                "advisory",
            ),
        ]);
    });

    it("reports a TTL under 60 minutes", async () => {
        const stack = mutate(withClusterTopic(), "upgrade-events-aks-blue-subscription", (i) => {
            i.retryPolicy = { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 10 };
        });
        expect(await violationsOf(RELIABLE, stack)).toEqual([
            violation(
                RELIABLE,
                SUB_URN,
                'event subscription "aks-upgrade-events" keeps undelivered events for 10 minutes (retryPolicy.eventTimeToLiveInMinutes); upgrade events need at least 60',
                "advisory",
            ),
        ]);
    });

    it("leaves the gate subscriptions to gate-subscriptions-reliable", async () => {
        const stack = mutate(withClusterTopic(), "gate-sales-check", (i) => {
            delete i.retryPolicy;
        });
        expect(await violationsOf(RELIABLE, stack)).toEqual([]);
    });
});

describe(`${LEAST}: start-run actions`, () => {
    const ROLE_GUID = "55555555-5555-4555-8555-555555555555";
    function customHandler(actions: readonly string[], startRun: boolean | undefined): FixtureResource[] {
        const stack: FixtureResource[] = [
            ...compliantStack().filter((r) => r.name !== "handler-fleet-manager"),
            {
                type: T.definition,
                name: "handler-role",
                inputs: {
                    scope: `/subscriptions/${SUB}`,
                    roleDefinitionId: ROLE_GUID,
                    roleName: "fleet-gates-handler",
                    permissions: [{ actions: [...actions] }],
                    assignableScopes: [FLEET_ID],
                },
            },
            {
                type: T.assignment,
                name: "handler-gates",
                inputs: {
                    scope: FLEET_ID,
                    roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_GUID}`,
                    principalId: "11111111-1111-4111-8111-111111111111",
                    principalType: "ServicePrincipal",
                },
            },
        ];
        if (startRun === undefined) return stack;
        return stack.map((r) =>
            r.type === T.appSettings
                ? {
                      ...r,
                      inputs: {
                          ...r.inputs,
                          properties: {
                              ...(r.inputs.properties as Record<string, unknown>),
                              UPGRADE_EVENTS: JSON.stringify({ startRun }),
                          },
                      },
                  }
                : r,
        );
    }

    it("passes the run actions when the handler starts runs", async () => {
        const stack = customHandler([...HANDLER_CUSTOM_ROLE_ACTIONS, ...HANDLER_START_RUN_ACTIONS], true);
        expect(await violationsOf(LEAST, stack)).toEqual([]);
    });

    it("passes the gate-only role when the handler does not start runs", async () => {
        expect(await violationsOf(LEAST, customHandler(HANDLER_CUSTOM_ROLE_ACTIONS, false))).toEqual([]);
    });

    it.each([
        ["startRun is false", false],
        ["no UPGRADE_EVENTS setting", undefined],
    ])("rejects the run actions when %s", async (_what, startRun) => {
        const stack = customHandler([...HANDLER_CUSTOM_ROLE_ACTIONS, ...HANDLER_START_RUN_ACTIONS], startRun);
        expect(await violationsOf(LEAST, stack)).toEqual([
            violation(
                LEAST,
                urnOf(T.definition, "handler-role"),
                'custom role "fleet-gates-handler" grants Microsoft.ContainerService/fleets/updateRuns/write and Microsoft.ContainerService/fleets/updateRuns/start/action, but no handler of this stack starts update runs (upgradeEvents.startRun is off); remove them from the role',
            ),
        ]);
    });

    it("leaves a wildcard over update runs to custom-roles-no-wildcards (one violation, there)", async () => {
        const stack = customHandler(
            [...HANDLER_CUSTOM_ROLE_ACTIONS, "Microsoft.ContainerService/fleets/updateRuns/*"],
            false,
        );
        expect(await violationsOf(LEAST, stack)).toEqual([]);
        expect((await violationsOf("custom-roles-no-wildcards", stack)).map((v) => v.message)).toEqual([
            expect.stringContaining('grants "Microsoft.ContainerService/fleets/updateRuns/*"'),
        ]);
    });
});
