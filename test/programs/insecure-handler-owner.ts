/**
 * Deliberately insecure (handler-role-least-privilege): the identity that completes gates also holds
 * Contributor, so a compromised handler could change far more than gate states.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as resources from "@pulumi/azure-native/resources";
import { BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const role = (guid: string) => pulumi.output(subscriptionId).apply((s) => roleDefinitionId(s, guid));
const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-fleet" });
const fleet = new containerservice.Fleet("fleet", { resourceGroupName: rg.name, fleetName: "flt-dev" });
const identity = new managedidentity.UserAssignedIdentity("handler-identity", {
    resourceGroupName: rg.name,
    resourceName: "id-fleet-gates",
});

new authorization.RoleAssignment("handler-fleet-manager", {
    scope: fleet.id,
    principalId: identity.principalId,
    principalType: "ServicePrincipal",
    roleDefinitionId: role(BUILTIN_ROLES.fleetManagerContributor),
});
new authorization.RoleAssignment("handler-contributor", {
    scope: rg.id,
    principalId: identity.principalId,
    principalType: "ServicePrincipal",
    roleDefinitionId: role(BUILTIN_ROLES.contributor),
});
