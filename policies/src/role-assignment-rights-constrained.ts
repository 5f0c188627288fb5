/**
 * `role-assignment-rights-constrained`: a principal that may create role assignments may grant anyone
 * anything, itself included, unless an ABAC condition limits which roles it may assign. Every role
 * assignment of a role that grants `Microsoft.Authorization/roleAssignments/write` or `/delete`
 * (Owner, User Access Administrator, Role Based Access Control Administrator, or a custom role of the
 * stack) must carry Azure's "Constrain roles" condition (version 2.0) for both actions, and the roles
 * it lists must not themselves hand out broad or role-assignment rights.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { CONDITION_VERSION, parseConstrainRolesCondition } from "../../core/abac";
import { BUILTIN_ROLES, PRIVILEGED_ROLES } from "../../core/roles";
import {
    BUILTIN_ROLE_NAMES,
    grantsAction,
    known,
    rbacModel,
    roleLabel,
    str,
    type Assignment,
    type CustomRole,
    type Props,
} from "./common";

export const ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write";
export const ROLE_ASSIGNMENT_DELETE = "Microsoft.Authorization/roleAssignments/delete";

/** Built-in roles that can write or delete role assignments. */
const BUILTIN_ASSIGNERS: readonly string[] = [
    BUILTIN_ROLES.owner,
    BUILTIN_ROLES.userAccessAdministrator,
    BUILTIN_ROLES.roleBasedAccessControlAdministrator,
];

function customGrantsAssignment(role: CustomRole): boolean {
    return (
        grantsAction(role.permissions, ROLE_ASSIGNMENT_WRITE) || grantsAction(role.permissions, ROLE_ASSIGNMENT_DELETE)
    );
}

/** True when the assignment lets its principal create or delete role assignments. */
export function grantsRoleAssignmentRights(a: Assignment): boolean {
    if (a.customRole) return customGrantsAssignment(a.customRole);
    return a.roleGuid !== undefined && BUILTIN_ASSIGNERS.includes(a.roleGuid);
}

/** Why a role may not appear in a constrain-roles list, or undefined when it may. */
function forbiddenTarget(guid: string, roles: readonly CustomRole[]): string | undefined {
    if (PRIVILEGED_ROLES.includes(guid)) return `${BUILTIN_ROLE_NAMES.get(guid) ?? guid} (${guid})`;
    const custom = roles.find((r) => r.guid === guid);
    if (custom && (customGrantsAssignment(custom) || grantsAction(custom.permissions, "*")))
        return `custom role "${custom.roleName}" (${guid}), which itself grants role assignments or "*"`;
    return undefined;
}

const FORM =
    `Azure's "Constrain roles" form: ((!(ActionMatches{'${ROLE_ASSIGNMENT_WRITE}'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ` +
    `ForAnyOfAnyValues:GuidEquals {...})) AND ((!(ActionMatches{'${ROLE_ASSIGNMENT_DELETE}'})) OR ` +
    "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {...}))";

/** One finding per assignment of role-assignment rights that is not constrained to harmless roles. */
export function unconstrainedAssignerProblems(resources: Parameters<typeof rbacModel>[0]): {
    urn: string;
    message: string;
}[] {
    const { roles, assignments } = rbacModel(resources);
    const out: { urn: string; message: string }[] = [];
    for (const a of assignments.filter(grantsRoleAssignmentRights)) {
        const p = a.resource.props as Props;
        const at = `role assignment "${a.name}" grants ${roleLabel(a)}, which can create and delete role assignments,`;
        const report = (message: string) => out.push({ urn: a.resource.urn, message });
        const condition = known(() => str(p.condition));
        if (!condition) {
            report(
                `${at} without an ABAC condition; add a condition in ${FORM} listing only the roles it must assign, with conditionVersion "${CONDITION_VERSION}"`,
            );
            continue;
        }
        const version = known(() => str(p.conditionVersion));
        if (version !== CONDITION_VERSION)
            report(`${at} with conditionVersion ${JSON.stringify(version ?? null)}; set "${CONDITION_VERSION}"`);
        const allowed = parseConstrainRolesCondition(condition);
        if (!allowed) {
            report(`${at} under a condition that is not in ${FORM}`);
            continue;
        }
        const forbidden = [...new Set([...allowed.write, ...allowed.delete])]
            .map((g) => forbiddenTarget(g, roles))
            .filter((x): x is string => x !== undefined);
        if (forbidden.length > 0)
            report(
                `${at} and its condition still lets it assign ${forbidden.join(", ")}; list only the roles it must assign`,
            );
    }
    return out;
}

export const requireConstrainedRoleAssignmentRights: StackValidationPolicy = {
    name: "role-assignment-rights-constrained",
    description:
        "Every role assignment that lets a principal create or delete role assignments carries an ABAC condition (version 2.0) limiting both to an explicit list of roles, none of them privileged.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        'Add condition and conditionVersion "2.0" to the assignment in the "Constrain roles" form (core/abac.ts constrainRolesCondition), listing only the roles the principal must assign.',
    validateStack: (args, report) => {
        for (const d of unconstrainedAssignerProblems(args.resources)) report(d.message, d.urn);
    },
};
