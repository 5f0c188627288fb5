/**
 * Azure ABAC conditions on role assignments that grant role-assignment rights: Azure's "Constrain
 * roles" form (Learn: "Examples to delegate Azure role assignment management with conditions").
 * A principal holding e.g. Role Based Access Control Administrator under such a condition may create
 * and delete role assignments of the listed role definitions only:
 *
 * ```
 * ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR
 *  (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {g1, g2}))
 * AND
 * ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR
 *  (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {g1, g2}))
 * ```
 *
 * Writing is checked on the request (the role being assigned), deleting on the existing assignment
 * (the role being removed): both halves are needed, or the delegate could remove any assignment.
 */
import { GUID_PATTERN } from "./arm-id";

/** The only condition version Azure accepts for role assignment conditions. */
export const CONDITION_VERSION = "2.0";

const WRITE = "Microsoft.Authorization/roleAssignments/write";
const DELETE = "Microsoft.Authorization/roleAssignments/delete";
const ATTRIBUTE = "Microsoft.Authorization/roleAssignments:RoleDefinitionId";

/** Lower-cased, de-duplicated, sorted: the same role set always gives the same condition text. */
export function normaliseRoleGuids(guids: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const g of guids) {
        if (!GUID_PATTERN.test(g)) throw new Error(`"${g}" is not a role definition GUID`);
        out.add(g.toLowerCase());
    }
    return [...out].sort();
}

/**
 * The "Constrain roles" condition allowing role assignments (create and delete) of exactly `roleGuids`.
 * Throws on an empty list (a condition allowing nothing is a misconfiguration) or a non-GUID.
 */
export function constrainRolesCondition(roleGuids: Iterable<string>): string {
    const guids = normaliseRoleGuids(roleGuids);
    if (guids.length === 0) throw new Error("a constrain-roles condition needs at least one role definition GUID");
    const list = `{${guids.join(", ")}}`;
    return (
        `((!(ActionMatches{'${WRITE}'})) OR (@Request[${ATTRIBUTE}] ForAnyOfAnyValues:GuidEquals ${list}))` +
        ` AND ` +
        `((!(ActionMatches{'${DELETE}'})) OR (@Resource[${ATTRIBUTE}] ForAnyOfAnyValues:GuidEquals ${list}))`
    );
}

/** What a constrain-roles condition allows: the role GUIDs for creating and for deleting assignments. */
export interface ConstrainedRoles {
    readonly write: string[];
    readonly delete: string[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function half(action: string, source: "Request" | "Resource"): string {
    return (
        `\\(\\(!\\(ActionMatches\\{'${escape(action)}'\\}\\)\\)OR\\(@${source}\\[${escape(ATTRIBUTE)}\\]` +
        `ForAnyOfAnyValues:GuidEquals\\{([^}]*)\\}\\)\\)`
    );
}

const FORM = new RegExp(`^${half(WRITE, "Request")}AND${half(DELETE, "Resource")}$`, "i");

/**
 * Reads a condition in the constrain-roles form (whitespace and line breaks as the portal writes them
 * are ignored; action and attribute names compare ignoring case). Undefined when the condition is not
 * in that form, or a listed value is not a GUID: then nothing is known about what it allows.
 */
export function parseConstrainRolesCondition(condition: string): ConstrainedRoles | undefined {
    const m = FORM.exec(condition.replace(/\s+/g, ""));
    if (!m) return undefined;
    const list = (raw: string) => raw.split(",").filter((g) => g.length > 0);
    const write = list(m[1]!);
    const del = list(m[2]!);
    if ([...write, ...del].some((g) => !GUID_PATTERN.test(g))) return undefined;
    if (write.length === 0 || del.length === 0) return undefined;
    return { write: normaliseRoleGuids(write), delete: normaliseRoleGuids(del) };
}
