/**
 * Deliberately insecure (aks-resources-topic-singleton): two AKSResources topics for one subscription.
 * Azure allows one; a second stack or team must adopt the existing topic instead.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as eventgrid from "@pulumi/azure-native/eventgrid";

const source = pulumi.interpolate`/subscriptions/${authorization.getClientConfigOutput().subscriptionId}`;

for (const [name, rg] of [
    ["evgt-aks-platform", "rg-platform-events"],
    ["evgt-aks-team", "rg-team-events"],
]) {
    new eventgrid.SystemTopic(name!, {
        resourceGroupName: rg!,
        systemTopicName: name,
        location: "global",
        source,
        topicType: "Microsoft.ResourceNotifications.AKSResources",
    });
}
