/**
 * Policy role-assignment-rights-constrained through the offline policy harness: any assignment that may
 * create or delete role assignments carries a version 2.0 ABAC condition limiting both to unprivileged roles.
 */
import { describe, expect, it } from "vitest";
import { constrainRolesCondition } from "../../core/abac";
import { BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";
import {
    APPROVER_ROLE_GUID,
    SUB,
    T,
    compliantBootstrap,
    compliantStack,
    mutate,
    urnOf,
    violation,
    violationsOf,
} from "./fixture";

const POLICY = "role-assignment-rights-constrained";
const RBAC_ADMIN = urnOf(T.assignment, "deploy-rbac-administrator");
const AT =
    'role assignment "deploy-rbac-administrator" grants Role Based Access Control Administrator, which can create and delete role assignments,';
const FORM =
    "Azure's \"Constrain roles\" form: ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
    "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {...})) AND " +
    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR " +
    "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {...}))";

describe(POLICY, () => {
    it("passes the compliant bootstrap and the compliant fleet stack", async () => {
        expect(await violationsOf(POLICY, compliantBootstrap())).toEqual([]);
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects Role Based Access Control Administrator without a condition", async () => {
        const stack = mutate(compliantBootstrap(), "deploy-rbac-administrator", (i) => {
            delete i.condition;
            delete i.conditionVersion;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                RBAC_ADMIN,
                `${AT} without an ABAC condition; add a condition in ${FORM} listing only the roles it must assign, with conditionVersion "2.0"`,
            ),
        ]);
    });

    it("rejects a condition version other than 2.0", async () => {
        const stack = mutate(compliantBootstrap(), "deploy-rbac-administrator", (i) => {
            i.conditionVersion = "1.0";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(POLICY, RBAC_ADMIN, `${AT} with conditionVersion "1.0"; set "2.0"`),
        ]);
    });

    it("rejects a condition that constrains writing but not deleting", async () => {
        const stack = mutate(compliantBootstrap(), "deploy-rbac-administrator", (i) => {
            i.condition = constrainRolesCondition([BUILTIN_ROLES.reader]).split(" AND ")[0];
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(POLICY, RBAC_ADMIN, `${AT} under a condition that is not in ${FORM}`),
        ]);
    });

    it("rejects a condition that still allows assigning Owner", async () => {
        const stack = mutate(compliantBootstrap(), "deploy-rbac-administrator", (i) => {
            i.condition = constrainRolesCondition([BUILTIN_ROLES.reader, BUILTIN_ROLES.owner]);
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                RBAC_ADMIN,
                `${AT} and its condition still lets it assign Owner (${BUILTIN_ROLES.owner}); list only the roles it must assign`,
            ),
        ]);
    });

    it("rejects User Access Administrator and custom roles granting roleAssignments/write alike", async () => {
        const uaa = mutate(compliantBootstrap(), "deploy-rbac-administrator", (i) => {
            i.roleDefinitionId = roleDefinitionId(SUB, BUILTIN_ROLES.userAccessAdministrator);
            delete i.condition;
        });
        expect((await violationsOf(POLICY, uaa)).map((v) => v.message)).toEqual([
            expect.stringContaining(
                "grants User Access Administrator, which can create and delete role assignments, without",
            ),
        ]);
        const custom = [
            ...compliantBootstrap(),
            {
                type: T.definition,
                name: "assigner-role",
                inputs: {
                    scope: `/subscriptions/${SUB}`,
                    roleDefinitionId: "88888888-8888-4888-8888-888888888888",
                    roleName: "assigner",
                    permissions: [{ actions: ["Microsoft.Authorization/roleAssignments/*"] }],
                    assignableScopes: [`/subscriptions/${SUB}`],
                },
            },
            {
                type: T.assignment,
                name: "custom-assigner",
                inputs: {
                    scope: `/subscriptions/${SUB}`,
                    roleDefinitionId: roleDefinitionId(SUB, "88888888-8888-4888-8888-888888888888"),
                    principalId: "99999999-9999-4999-8999-999999999999",
                },
                propertyDependencies: { roleDefinitionId: ["assigner-role"] },
            },
        ];
        expect(await violationsOf(POLICY, custom)).toEqual([
            violation(
                POLICY,
                urnOf(T.assignment, "custom-assigner"),
                'role assignment "custom-assigner" grants custom role "assigner", which can create and delete role assignments, ' +
                    `without an ABAC condition; add a condition in ${FORM} listing only the roles it must assign, with conditionVersion "2.0"`,
            ),
        ]);
    });

    it("lets a condition list the stack's own narrow custom roles", async () => {
        const stack = mutate(compliantBootstrap(), "deploy-rbac-administrator", (i) => {
            i.condition = constrainRolesCondition([APPROVER_ROLE_GUID]);
        });
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });
});
