/**
 * The Access component under Pulumi's mocks: the approvers' and subscribers' groups, the approvers'
 * custom role with exactly the gate actions, and the role assignments, with names stable across replacements.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { Access, AccessArgs, accessGroupNames } from "../components/access";
import { fleetResourceGroupId } from "../core/arm-id";
import {
    APPROVER_ROLE_ACTIONS,
    approverRoleGuid,
    BUILTIN_ROLES,
    PRIVILEGED_ROLES,
    roleAssignmentGuid,
    roleDefinitionId,
    roleGuidOf,
} from "../core/roles";
import { OFFLINE_DEFAULTS, PlannedResource, runUnderMocks } from "../local/plan/mocks";

const SUB = OFFLINE_DEFAULTS.subscriptionId;
const FLEET_ID = `/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`;
const ENV = { ...OFFLINE_DEFAULTS, project: "fleet-gates", stack: "test", config: {}, secretKeys: [] };
const OWNER = "11111111-2222-4333-8444-555555555555";

async function plan(over: Partial<AccessArgs> = {}): Promise<PlannedResource[]> {
    const run = await runUnderMocks(() => {
        new Access("access", { environment: "dev", subscriptionId: SUB, fleetId: FLEET_ID, owners: [OWNER], ...over });
    }, ENV);
    return run.resources;
}

const byType = (rs: PlannedResource[], type: string) => rs.filter((r) => r.type === type);
const named = (rs: PlannedResource[], name: string) => {
    const r = rs.find((x) => x.name === name);
    expect(r, name).toBeDefined();
    return r!;
};

describe("Access under mocks", () => {
    it("creates two security groups, not mail-enabled, named after the environment, with owners and descriptions", async () => {
        const rs = await plan();
        const groups = byType(rs, "azuread:index/group:Group");
        expect(groups.map((g) => g.name).sort()).toEqual(["access-approvers", "access-subscribers"]);
        expect(named(rs, "access-approvers").inputs).toMatchObject({
            displayName: "fleet-gates-dev-approvers",
            securityEnabled: true,
            mailEnabled: false,
            owners: [OWNER],
        });
        expect(named(rs, "access-subscribers").inputs).toMatchObject({
            displayName: "fleet-gates-dev-subscribers",
            securityEnabled: true,
            mailEnabled: false,
            owners: [OWNER],
        });
        for (const g of groups) expect((g.inputs.description as string).length).toBeGreaterThan(20);
        const component = byType(rs, "fleet-gates:access:Access");
        expect(component).toHaveLength(1);
        for (const r of rs.filter((x) => x !== component[0])) expect(r.parent, r.name).toBe(component[0]!.urn);
    });

    it("honours custom group names", async () => {
        const rs = await plan({ approversGroupName: "SG-Fleet-Approvers", subscribersGroupName: "SG-Fleet-Events" });
        expect(named(rs, "access-approvers").inputs.displayName).toBe("SG-Fleet-Approvers");
        expect(named(rs, "access-subscribers").inputs.displayName).toBe("SG-Fleet-Events");
    });

    it("defines the approvers' custom role with exactly the gate actions, assignable in the fleet's resource group (Azure takes no resource there)", async () => {
        const rs = await plan();
        const defs = byType(rs, "azure-native:authorization:RoleDefinition");
        expect(defs).toHaveLength(1);
        const role = defs[0]!;
        expect(role.inputs).toMatchObject({
            scope: `/subscriptions/${SUB}`,
            roleDefinitionId: approverRoleGuid(FLEET_ID),
            roleType: "CustomRole",
            assignableScopes: [fleetResourceGroupId(FLEET_ID)],
            permissions: [{ actions: [...APPROVER_ROLE_ACTIONS], notActions: [], dataActions: [], notDataActions: [] }],
        });
        expect(role.inputs.roleName).toMatch(/^fleet-gates-dev-gate-approver-[0-9a-f]{8}$/);
        expect(JSON.stringify(role.inputs.permissions)).not.toContain("*");
        expect(role.id).toBe(roleDefinitionId(SUB, approverRoleGuid(FLEET_ID)));
    });

    it("assigns exactly: approver role at the fleet to approvers; Subscriber and Reader at the subscription to subscribers", async () => {
        const rs = await plan();
        const approvers = named(rs, "access-approvers").outputs.objectId as string;
        const subscribers = named(rs, "access-subscribers").outputs.objectId as string;
        expect(approvers).not.toBe(subscribers);
        const role = byType(rs, "azure-native:authorization:RoleDefinition")[0]!;
        const assignments = byType(rs, "azure-native:authorization:RoleAssignment");
        const got = assignments.map((a) => ({
            role: a.inputs.roleDefinitionId,
            scope: a.inputs.scope,
            principal: a.inputs.principalId,
        }));
        const want = [
            { role: role.id, scope: FLEET_ID, principal: approvers },
            {
                role: roleDefinitionId(SUB, BUILTIN_ROLES.resourceNotificationsSubscriber),
                scope: `/subscriptions/${SUB}`,
                principal: subscribers,
            },
            {
                role: roleDefinitionId(SUB, BUILTIN_ROLES.reader),
                scope: `/subscriptions/${SUB}`,
                principal: subscribers,
            },
        ];
        expect(new Set(got.map((g) => JSON.stringify(g)))).toEqual(new Set(want.map((w) => JSON.stringify(w))));
        expect(got).toHaveLength(3);
        for (const a of assignments) {
            expect(a.inputs.principalType).toBe("Group");
            expect(roleGuidOf(a.inputs.roleDefinitionId as string)).toBeDefined();
            expect(PRIVILEGED_ROLES).not.toContain(roleGuidOf(a.inputs.roleDefinitionId as string));
            expect(a.inputs.roleAssignmentName).toMatch(
                /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
            );
        }
        // Names from values known at preview: scope, role, the group's display name and the logical key.
        const nameOf = (n: string) => named(rs, n).inputs.roleAssignmentName;
        expect(nameOf("access-approvers-gates")).toBe(
            roleAssignmentGuid(FLEET_ID, role.id!, "group:fleet-gates-dev-approvers", "approvers-gates"),
        );
        expect(nameOf("access-subscribers-notifications")).toBe(
            roleAssignmentGuid(
                `/subscriptions/${SUB}`,
                roleDefinitionId(SUB, BUILTIN_ROLES.resourceNotificationsSubscriber),
                "group:fleet-gates-dev-subscribers",
                "subscribers-notifications",
            ),
        );
        expect(nameOf("access-subscribers-reader")).toBe(
            roleAssignmentGuid(
                `/subscriptions/${SUB}`,
                roleDefinitionId(SUB, BUILTIN_ROLES.reader),
                "group:fleet-gates-dev-subscribers",
                "subscribers-reader",
            ),
        );
        expect(new Set(assignments.map((a) => a.inputs.roleAssignmentName)).size).toBe(3);
        expect(named(rs, "access-approvers-gates").dependencies).toContain(role.urn);
    });

    it("exposes the group object ids and the approver role definition id", async () => {
        const rs = await plan();
        const component = byType(rs, "fleet-gates:access:Access")[0]!;
        expect(component.outputs).toEqual({
            approversGroupId: named(rs, "access-approvers").outputs.objectId,
            subscribersGroupId: named(rs, "access-subscribers").outputs.objectId,
            approverRoleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${approverRoleGuid(FLEET_ID)}`,
        });
    });

    it("names the subscription-scoped assignments per group, so two environments in one subscription do not collide", async () => {
        const names = async (environment: string) =>
            (await plan({ environment }))
                .filter((r) => r.type === "azure-native:authorization:RoleAssignment")
                .map((r) => r.inputs.roleAssignmentName as string);
        const dev = await names("dev");
        const prod = await names("prod");
        expect(dev).toHaveLength(3);
        expect(prod).toHaveLength(3);
        for (const n of prod) expect(dev).not.toContain(n);
        expect(await names("dev")).toEqual(dev);
    });

    it("replaces role assignments delete-first: their names do not change with the group's object id", async () => {
        const deleteFirst = new Map<string, boolean | undefined>();
        await runUnderMocks(() => {
            new Access(
                "access",
                { environment: "dev", subscriptionId: SUB, fleetId: FLEET_ID },
                {
                    transformations: [
                        (t) => {
                            if (t.type === "azure-native:authorization:RoleAssignment")
                                deleteFirst.set(t.name, (t.opts as pulumi.CustomResourceOptions).deleteBeforeReplace);
                            return undefined;
                        },
                    ],
                },
            );
        }, ENV);
        expect(Object.fromEntries(deleteFirst)).toEqual({
            "access-approvers-gates": true,
            "access-subscribers-notifications": true,
            "access-subscribers-reader": true,
        });
    });

    it("fails before registering anything when both groups would be the same", async () => {
        await expect(plan({ approversGroupName: "fleet-ops", subscribersGroupName: "Fleet-Ops" })).rejects.toThrow(
            /approversGroupName and subscribersGroupName are both "fleet-ops"/,
        );
    });
});

describe("accessGroupNames", () => {
    it.each([
        [
            { environment: "dev" },
            { approvers: "fleet-gates-dev-approvers", subscribers: "fleet-gates-dev-subscribers" },
        ],
        [
            { environment: "prod", approversGroupName: " Approvers " },
            { approvers: "Approvers", subscribers: "fleet-gates-prod-subscribers" },
        ],
        [
            { environment: "prod", subscribersGroupName: "fleet-gates-prod-approvers-2" },
            { approvers: "fleet-gates-prod-approvers", subscribers: "fleet-gates-prod-approvers-2" },
        ],
    ])("%j", (args, want) => {
        expect(accessGroupNames(args)).toEqual(want);
    });

    it.each([
        [
            { environment: "dev", approversGroupName: "x", subscribersGroupName: "X" },
            /approversGroupName and subscribersGroupName are both "x"/,
        ],
        [
            { environment: "dev", subscribersGroupName: "fleet-gates-dev-approvers" },
            /approversGroupName and subscribersGroupName/,
        ],
        [{ environment: "dev", approversGroupName: "  " }, /approversGroupName "" must be/],
        [{ environment: "Dev" }, /environment "Dev"/],
    ])("rejects %j", (args, message) => {
        expect(() => accessGroupNames(args)).toThrow(message);
    });

    it("approverRoleGuid is a stable GUID per fleet, case-insensitive like ARM ids", () => {
        const g = approverRoleGuid(FLEET_ID);
        expect(g).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(approverRoleGuid(FLEET_ID.toUpperCase())).toBe(g);
        expect(approverRoleGuid(FLEET_ID.replace("flt-dev", "flt-prod"))).not.toBe(g);
    });
});
