/**
 * Deliberately insecure (role-assignment-rights-constrained): a deploy identity holds Role Based
 * Access Control Administrator on the subscription without an ABAC condition, so it could grant
 * anyone, itself included, Owner.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as azuread from "@pulumi/azuread";
import { BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const app = new azuread.Application("deploy-app", { displayName: "fleet-gates-github-deploy" });
const sp = new azuread.ServicePrincipal("deploy-sp", { clientId: app.clientId });

new authorization.RoleAssignment("deploy-rbac-administrator", {
    scope: pulumi.interpolate`/subscriptions/${subscriptionId}`,
    principalId: sp.objectId,
    principalType: "ServicePrincipal",
    roleDefinitionId: subscriptionId.apply((s) =>
        roleDefinitionId(s, BUILTIN_ROLES.roleBasedAccessControlAdministrator),
    ),
});
