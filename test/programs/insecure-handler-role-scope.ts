/**
 * Deliberately insecure (handler-role-least-privilege): the gate handler's identity gets Fleet Manager
 * Contributor on the whole resource group instead of the fleet, so it could manage every fleet (and
 * its update runs) in that group.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as resources from "@pulumi/azure-native/resources";
import { BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-fleet" });
const identity = new managedidentity.UserAssignedIdentity("handler-identity", {
    resourceGroupName: rg.name,
    resourceName: "id-fleet-gates",
});

new authorization.RoleAssignment("handler-fleet-manager", {
    scope: rg.id,
    principalId: identity.principalId,
    principalType: "ServicePrincipal",
    roleDefinitionId: pulumi
        .output(subscriptionId)
        .apply((s) => roleDefinitionId(s, BUILTIN_ROLES.fleetManagerContributor)),
});
