/**
 * Deliberately insecure (aks-resources-topic-subscription-scope): the AKSResources topic is created
 * with a resource group as its source. Azure only emits AKSResources events at subscription scope, so
 * this topic would never deliver a gate event.
 */
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as resources from "@pulumi/azure-native/resources";

const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-events" });

export const topic = new eventgrid.SystemTopic("aks-topic", {
    resourceGroupName: rg.name,
    systemTopicName: "evgt-aks",
    location: "global",
    source: rg.id,
    topicType: "Microsoft.ResourceNotifications.AKSResources",
}).id;
