/**
 * Deliberately insecure (topic-subscribers-read-subscription): a group may subscribe to the
 * AKSResources topic without holding Reader on the subscription. The topic's events describe every
 * AKS resource of the subscription, so its members would learn about clusters they cannot read.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as azuread from "@pulumi/azuread";
import { BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const subscribers = new azuread.Group("subscribers", {
    displayName: "fleet-gates-subscribers",
    securityEnabled: true,
    mailEnabled: false,
});

new authorization.RoleAssignment("subscribers-notifications", {
    scope: pulumi.interpolate`/subscriptions/${subscriptionId}`,
    principalId: subscribers.objectId,
    principalType: "Group",
    roleDefinitionId: pulumi
        .output(subscriptionId)
        .apply((s) => roleDefinitionId(s, BUILTIN_ROLES.resourceNotificationsSubscriber)),
});
