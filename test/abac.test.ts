/**
 * The "Constrain roles" ABAC condition: written in Azure's form for role assignment write and delete,
 * read back (Learn's example too), and refused when it would allow nothing.
 */
import { describe, expect, it } from "vitest";
import { constrainRolesCondition, normaliseRoleGuids, parseConstrainRolesCondition } from "../core/abac";
import { BUILTIN_ROLES } from "../core/roles";

const A = "5e467623-bb1f-42f4-a55d-6e525e11384b";
const B = "a795c7a0-d4a2-40c1-ae25-d81f01202912";

/** The "Constrain roles" example as Learn prints it (condition editor layout, one token per line). */
const LEARN_EXAMPLE = `(
 (
  !(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})
 )
 OR
 (
  @Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${A}, ${B}}
 )
)
AND
(
 (
  !(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})
 )
 OR
 (
  @Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${A}, ${B}}
 )
)`;

describe("constrain-roles ABAC condition", () => {
    it("writes Azure's form with the roles sorted, lower-cased and de-duplicated, for write and delete", () => {
        expect(constrainRolesCondition([B.toUpperCase(), A, B])).toBe(
            `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR ` +
                `(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${A}, ${B}})) AND ` +
                `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR ` +
                `(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${A}, ${B}}))`,
        );
    });

    it("reads back what it writes, and Learn's multi-line example", () => {
        const roles = [BUILTIN_ROLES.reader, BUILTIN_ROLES.monitoringReader];
        expect(parseConstrainRolesCondition(constrainRolesCondition(roles))).toEqual({
            write: normaliseRoleGuids(roles),
            delete: normaliseRoleGuids(roles),
        });
        expect(parseConstrainRolesCondition(LEARN_EXAMPLE)).toEqual({ write: [A, B], delete: [A, B] });
    });

    it.each([
        ["only the write half", constrainRolesCondition([A]).split(" AND ")[0]!],
        [
            "write checked on the resource instead of the request",
            constrainRolesCondition([A]).replace("@Request", "@Resource"),
        ],
        ["OR between the halves", constrainRolesCondition([A]).replace(" AND ", " OR ")],
        ["a value that is not a GUID", constrainRolesCondition([A]).replace(A, "not-a-guid")],
        ["an empty list", constrainRolesCondition([A]).replaceAll(A, "")],
        ["another attribute", constrainRolesCondition([A]).replaceAll("RoleDefinitionId", "PrincipalId")],
    ])("does not recognise %s", (_, text) => {
        expect(parseConstrainRolesCondition(text)).toBeUndefined();
    });

    it("refuses to write a condition allowing nothing or a non-GUID", () => {
        expect(() => constrainRolesCondition([])).toThrow(/at least one role definition GUID/);
        expect(() => constrainRolesCondition(["Reader"])).toThrow(/"Reader" is not a role definition GUID/);
    });
});
