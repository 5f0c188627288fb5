/**
 * Policy handler-role-least-privilege through the offline policy harness: roles that can complete gates
 * are assigned at fleet scope only, to identities holding no privileged role.
 */
import { describe, expect, it } from "vitest";
import { BUILTIN_ROLES, HANDLER_CUSTOM_ROLE_ACTIONS, roleDefinitionId } from "../../core/roles";
import {
    FLEET_ID,
    HANDLER,
    RG,
    SUB,
    T,
    compliantStack,
    evaluate,
    mutate,
    urnOf,
    violation,
    violationsOf,
    type FixtureResource,
} from "./fixture";

const POLICY = "handler-role-least-privilege";
const FLEET_MANAGER = urnOf(T.assignment, "handler-fleet-manager");

function privileged(name: string, guid: string, scope: string, principalId = HANDLER): FixtureResource {
    return {
        type: T.assignment,
        name,
        inputs: {
            scope,
            roleDefinitionId: roleDefinitionId(SUB, guid),
            principalId,
            principalType: "ServicePrincipal",
        },
    };
}

describe(POLICY, () => {
    it("passes Fleet Manager Contributor and the approvers' custom role at fleet scope", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it.each([
        ["resource group", `/subscriptions/${SUB}/resourceGroups/${RG}`],
        ["subscription", `/subscriptions/${SUB}`],
        ["management group", "/providers/Microsoft.Management/managementGroups/mg-platform"],
    ])("rejects Fleet Manager Contributor at %s scope", async (kind, scope) => {
        const stack = mutate(compliantStack(), "handler-fleet-manager", (i) => {
            i.scope = scope;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                FLEET_MANAGER,
                `role assignment "handler-fleet-manager" grants Azure Kubernetes Fleet Manager Contributor Role at ${kind} scope ` +
                    `"${scope}"; assign it at the fleet (".../providers/Microsoft.ContainerService/fleets/<name>") only`,
            ),
        ]);
    });

    it("rejects a custom role granting gates/write (through a wildcard too) outside a fleet", async () => {
        const stack = mutate(
            mutate(compliantStack(), "approver-role", (i) => {
                i.permissions = [{ actions: ["Microsoft.ContainerService/fleets/*"], notActions: [] }];
            }),
            "approvers-gates",
            (i) => {
                i.scope = `/subscriptions/${SUB}/resourceGroups/${RG}`;
            },
        );
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.assignment, "approvers-gates"),
                'role assignment "approvers-gates" grants custom role "fleet-gates-gate-approver" at resource group scope ' +
                    `"/subscriptions/${SUB}/resourceGroups/${RG}"; assign it at the fleet (".../providers/Microsoft.ContainerService/fleets/<name>") only`,
            ),
        ]);
    });

    it("ignores a custom role whose notActions remove gates/write", async () => {
        const stack = mutate(
            mutate(compliantStack(), "approver-role", (i) => {
                i.permissions = [
                    {
                        actions: ["Microsoft.ContainerService/fleets/*"],
                        notActions: ["Microsoft.ContainerService/fleets/gates/write"],
                    },
                ];
            }),
            "approvers-gates",
            (i) => {
                i.scope = `/subscriptions/${SUB}`;
            },
        );
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });

    it.each([
        ["Owner", BUILTIN_ROLES.owner],
        ["Contributor", BUILTIN_ROLES.contributor],
        ["User Access Administrator", BUILTIN_ROLES.userAccessAdministrator],
        ["Role Based Access Control Administrator", BUILTIN_ROLES.roleBasedAccessControlAdministrator],
    ])("rejects %s for the identity that completes gates", async (label, guid) => {
        const stack = [
            ...compliantStack(),
            privileged("handler-extra", guid, `/subscriptions/${SUB}/resourceGroups/${RG}`),
        ];
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.assignment, "handler-extra"),
                `principal ${HANDLER} holds Azure Kubernetes Fleet Manager Contributor Role (role assignment "handler-fleet-manager") ` +
                    `and also ${label} at resource group scope "/subscriptions/${SUB}/resourceGroups/${RG}" (role assignment ` +
                    '"handler-extra"); an identity that completes gates must hold no Owner, Contributor, User Access Administrator ' +
                    "or Role Based Access Control Administrator",
            ),
        ]);
    });

    it("compares principal ids ignoring case and leaves other identities alone", async () => {
        const upper = [...compliantStack(), privileged("x", BUILTIN_ROLES.owner, FLEET_ID, HANDLER.toUpperCase())];
        expect(await violationsOf(POLICY, upper)).toHaveLength(1);
        const other = [
            ...compliantStack(),
            privileged("x", BUILTIN_ROLES.owner, FLEET_ID, "99999999-9999-4999-8999-999999999999"),
        ];
        expect(await violationsOf(POLICY, other)).toEqual([]);
    });

    it("still links assignments while principal ids are unknown (a preview that creates the identity)", async () => {
        const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
        const preview = (r: FixtureResource): FixtureResource =>
            r.inputs.principalId === HANDLER
                ? {
                      ...r,
                      inputs: { ...r.inputs, principalId: UNKNOWN, roleAssignmentName: UNKNOWN },
                      propertyDependencies: { ...r.propertyDependencies, principalId: ["handler-identity"] },
                  }
                : r;
        const stack = [
            {
                type: "azure-native:managedidentity:UserAssignedIdentity",
                name: "handler-identity",
                inputs: { resourceGroupName: RG, resourceName: "id-gates" },
            },
            ...[...compliantStack(), privileged("handler-extra", BUILTIN_ROLES.owner, FLEET_ID)].map(preview),
        ];
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.assignment, "handler-extra"),
                'the principal of "handler-identity" holds Azure Kubernetes Fleet Manager Contributor Role (role assignment ' +
                    `"handler-fleet-manager") and also Owner at fleet scope "${FLEET_ID}" (role assignment "handler-extra"); an ` +
                    "identity that completes gates must hold no Owner, Contributor, User Access Administrator or Role Based " +
                    "Access Control Administrator",
            ),
        ]);
    });

    it("passes the handler's own custom role at fleet scope", async () => {
        const stack: FixtureResource[] = [
            ...compliantStack().filter((r) => r.name !== "handler-fleet-manager"),
            {
                type: T.definition,
                name: "handler-role",
                inputs: {
                    scope: `/subscriptions/${SUB}`,
                    roleDefinitionId: "55555555-5555-4555-8555-555555555555",
                    roleName: "fleet-gates-handler",
                    permissions: [{ actions: [...HANDLER_CUSTOM_ROLE_ACTIONS] }],
                    assignableScopes: [`/subscriptions/${SUB}/resourceGroups/${RG}`],
                },
            },
            privileged("handler-gates", "55555555-5555-4555-8555-555555555555", FLEET_ID),
        ];
        expect(await violationsOf(POLICY, stack)).toEqual([]);
        const widened = mutate(stack, "handler-gates", (i) => {
            i.scope = `/subscriptions/${SUB}`;
        });
        expect((await violationsOf(POLICY, widened)).map((v) => v.message)).toEqual([
            expect.stringContaining(
                'role assignment "handler-gates" grants custom role "fleet-gates-handler" at subscription scope',
            ),
        ]);
        // A first preview: the role's `name` output is unknown; its `roleDefinitionId` input still links it.
        const preview = mutate(widened, "handler-role", (i) => {
            i.name = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
        });
        expect(await evaluate(preview)).toEqual([
            violation(
                POLICY,
                urnOf(T.assignment, "handler-gates"),
                expect.stringContaining('custom role "fleet-gates-handler"'),
            ),
        ]);
    });
});
