/**
 * Deliberately insecure (gates-routed): the approval rule says "Check with sales teams", the strategy's
 * gate is "Check with sales team". The rule's subscription never fires, the gate is never approved,
 * and the update run waits forever (gates do not time out).
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as resources from "@pulumi/azure-native/resources";
import { ArmResource } from "../../components/arm-resource";
import { compileRuleFilter } from "../../core/event-filter";
import type { ApprovalRule } from "../../core/rules";

const rule: ApprovalRule = {
    name: "sales-check",
    match: { displayName: "Check with sales teams", stage: "dev", timing: "Before" },
    checks: [{ type: "clusterHealth" }],
};

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
                {
                    name: "dev",
                    beforeGates: [{ displayName: "Check with sales team", type: "Approval" }],
                    groups: [{ name: "blue" }],
                },
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

new eventgrid.SystemTopicEventSubscription(`gate-${rule.name}`, {
    resourceGroupName: rg.name,
    systemTopicName: topic.name,
    eventSubscriptionName: `gate-${rule.name}`,
    filter: fleet.id.apply((id) => compileRuleFilter(rule, id)),
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
