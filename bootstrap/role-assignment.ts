/**
 * A role assignment of a bootstrap identity's service principal, as both access components make
 * them: the name is derived from scope, role and a principal key known at preview (the object id
 * is not), so the assignment is checkable by the policy pack on a first preview; replacements
 * delete first, since a name is unique per scope.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import { roleAssignmentGuid } from "../core/roles";

export interface ServicePrincipalAssignment {
    /** Stable key of this assignment within its component: resource name suffix and name seed. */
    readonly key: string;
    readonly scope: pulumi.Input<string>;
    readonly roleDefinitionId: pulumi.Input<string>;
    /** Object id of the service principal. */
    readonly principalId: pulumi.Input<string>;
    /** Stands in for the principal in the assignment's name. */
    readonly principalKey: pulumi.Input<string>;
    readonly description: string;
    /** Further arguments, e.g. an ABAC `condition`. */
    readonly extra?: Partial<authorization.RoleAssignmentArgs>;
}

export function servicePrincipalAssignment(
    component: pulumi.ComponentResource,
    name: string,
    a: ServicePrincipalAssignment,
    dependsOn: pulumi.Resource[] = [],
): authorization.RoleAssignment {
    return new authorization.RoleAssignment(
        `${name}-${a.key}`,
        {
            scope: a.scope,
            principalId: a.principalId,
            principalType: "ServicePrincipal",
            roleDefinitionId: a.roleDefinitionId,
            roleAssignmentName: pulumi
                .all([a.scope, a.roleDefinitionId, a.principalKey])
                .apply(([s, r, k]) => roleAssignmentGuid(s, r, k, a.key)),
            description: a.description,
            ...(a.extra ?? {}),
        },
        { parent: component, dependsOn, deleteBeforeReplace: true },
    );
}
