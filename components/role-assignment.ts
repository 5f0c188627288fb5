/**
 * A role assignment as every component here makes one: its name is derived from scope, role and a
 * principal key known at preview (a principal's object id is not), so the mandatory policies can
 * check it on a first `pulumi preview`; replacements delete first, since a name is unique per scope.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import { roleAssignmentGuid } from "../core/roles";

export interface StableRoleAssignment {
    /** Stable key of the assignment within its component: resource name suffix and name seed. */
    readonly key: string;
    readonly scope: pulumi.Input<string>;
    readonly roleDefinitionId: pulumi.Input<string>;
    /** Object id of the principal. */
    readonly principalId: pulumi.Input<string>;
    readonly principalType: "ServicePrincipal" | "Group";
    /** Stands in for the principal in the assignment's name. */
    readonly principalKey: pulumi.Input<string>;
    readonly description?: string;
    /** Further arguments, e.g. an ABAC `condition`. */
    readonly extra?: Partial<authorization.RoleAssignmentArgs>;
}

/** The assignment `<name>-<key>`, a child of `component`. */
export function stableRoleAssignment(
    component: pulumi.ComponentResource,
    name: string,
    a: StableRoleAssignment,
    dependsOn: pulumi.Resource[] = [],
): authorization.RoleAssignment {
    return new authorization.RoleAssignment(
        `${name}-${a.key}`,
        {
            scope: a.scope,
            principalId: a.principalId,
            principalType: a.principalType,
            roleDefinitionId: a.roleDefinitionId,
            roleAssignmentName: pulumi
                .all([a.scope, a.roleDefinitionId, a.principalKey])
                .apply(([s, r, k]) => roleAssignmentGuid(s, r, k, a.key)),
            ...(a.description !== undefined ? { description: a.description } : {}),
            ...(a.extra ?? {}),
        },
        { parent: component, dependsOn, deleteBeforeReplace: true },
    );
}
