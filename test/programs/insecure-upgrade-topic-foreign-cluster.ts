/**
 * Deliberately insecure (upgrade-event-topics-on-stack-clusters): a ManagedClusters system topic on a
 * cluster this stack does not manage. Its NodePoolRollingFailed and NewKubernetesVersionAvailable
 * events would hold this fleet's gates and start its update runs.
 */
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as resources from "@pulumi/azure-native/resources";

const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-fleet" });

export const topic = new eventgrid.SystemTopic("foreign-cluster-topic", {
    resourceGroupName: rg.name,
    systemTopicName: "aks-shared-aks-events",
    location: "westeurope",
    source: "/subscriptions/8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e/resourceGroups/rg-shared/providers/Microsoft.ContainerService/managedClusters/aks-shared",
    topicType: "Microsoft.ContainerService.ManagedClusters",
}).id;
