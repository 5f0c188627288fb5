/**
 * Deliberately wrong (custom-role-scopes-assignable): the approvers' custom role lists the fleet itself
 * as its assignable scope. The mocks accept it; Azure refuses the role definition, because only
 * management groups, subscriptions and resource groups may be assignable scopes.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as resources from "@pulumi/azure-native/resources";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-fleet" });
const fleet = new containerservice.Fleet("fleet", { resourceGroupName: rg.name, fleetName: "flt-dev" });

new authorization.RoleDefinition("approver-role", {
    scope: pulumi.interpolate`/subscriptions/${subscriptionId}`,
    roleDefinitionId: "7d0c2b3e-6f5a-4b8e-9a51-3c2f1e0d4b6a",
    roleName: "fleet-gates-gate-approver",
    roleType: "CustomRole",
    permissions: [{ actions: ["Microsoft.ContainerService/fleets/gates/read"] }],
    assignableScopes: [fleet.id],
});
