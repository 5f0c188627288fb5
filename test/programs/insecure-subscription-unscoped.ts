/**
 * Deliberately insecure (gate-subscriptions-scoped-to-fleet): a gate subscription on the AKSResources
 * topic without a fleet filter. The topic carries every fleet's gates in the subscription, so this
 * handler would receive, and could approve, gates of fleets it was never meant to touch.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as resources from "@pulumi/azure-native/resources";
import { ArmResource } from "../../components/arm-resource";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-fleet" });
const fleet = new containerservice.Fleet("fleet", { resourceGroupName: rg.name, fleetName: "flt-dev" });

new ArmResource("strategy", {
    subscriptionId,
    resourceGroupName: rg.name,
    resourceProviderNamespace: "Microsoft.ContainerService",
    parentResourcePath: pulumi.interpolate`fleets/${fleet.name}`,
    resourceType: "updateStrategies",
    resourceName: "gated-rollout",
    apiVersion: "2026-06-01",
    properties: {
        strategy: {
            stages: [
                { name: "dev", beforeGates: [{ displayName: "dev go", type: "Approval" }], groups: [{ name: "blue" }] },
            ],
        },
    },
});

const topic = new eventgrid.SystemTopic("aks-topic", {
    resourceGroupName: rg.name,
    systemTopicName: "evgt-aks",
    location: "global",
    source: pulumi.interpolate`/subscriptions/${subscriptionId}`,
    topicType: "Microsoft.ResourceNotifications.AKSResources",
    identity: { type: "SystemAssigned" },
});

new eventgrid.SystemTopicEventSubscription("gate-dev-go", {
    resourceGroupName: rg.name,
    systemTopicName: topic.name,
    eventSubscriptionName: "gate-dev-go",
    filter: {
        includedEventTypes: ["Microsoft.ResourceNotifications.AKSResources.FleetGateCreated"],
        advancedFilters: [
            { operatorType: "StringIn", key: "data.resourceInfo.properties.gateType", values: ["Approval"] },
            { operatorType: "StringIn", key: "data.resourceInfo.properties.state", values: ["Pending"] },
        ],
    },
    destination: {
        endpointType: "AzureFunction",
        resourceId: pulumi.interpolate`${rg.id}/providers/Microsoft.Web/sites/func-gates/functions/gate-event`,
    },
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
    deadLetterWithResourceIdentity: {
        identity: { type: "SystemAssigned" },
        deadLetterDestination: {
            endpointType: "StorageBlob",
            resourceId: pulumi.interpolate`${rg.id}/providers/Microsoft.Storage/storageAccounts/stgates`,
            blobContainerName: "deadletter",
        },
    },
});
