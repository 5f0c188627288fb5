/**
 * Deliberately insecure (rbac-within-stack-subscription): a role assignment at a management group.
 * The stack manages one subscription; a management-group grant reaches every subscription below it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as azuread from "@pulumi/azuread";
import { BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const operators = new azuread.Group("operators", {
    displayName: "fleet-gates-operators",
    securityEnabled: true,
    mailEnabled: false,
});

new authorization.RoleAssignment("operators-reader", {
    scope: "/providers/Microsoft.Management/managementGroups/mg-platform",
    principalId: operators.objectId,
    principalType: "Group",
    roleDefinitionId: pulumi.output(subscriptionId).apply((s) => roleDefinitionId(s, BUILTIN_ROLES.reader)),
});
