/**
 * Policy rbac-within-stack-subscription through the offline policy harness: role assignments and custom
 * roles' assignable scopes stay inside the stack's subscription, never a management group or the tenant root.
 */
import { describe, expect, it } from "vitest";
import { evaluatePolicies } from "../../local/plan/policy-harness";
import { scopeProblem } from "../src/rbac-within-stack-subscription";
import {
    FLEET_ID,
    OTHER_SUB,
    RG,
    SUB,
    T,
    compliantStack,
    mutate,
    planOf,
    urnOf,
    violation,
    violationsOf,
} from "./fixture";

const POLICY = "rbac-within-stack-subscription";
const TAIL = "role assignments and custom roles must stay inside the stack's subscription";
const READER = urnOf(T.assignment, "subscribers-reader");
const ROLE = urnOf(T.definition, "approver-role");

describe(POLICY, () => {
    it("passes assignments and assignable scopes inside the subscription", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects an assignment at a management group", async () => {
        const stack = mutate(compliantStack(), "subscribers-reader", (i) => {
            i.scope = "/providers/Microsoft.Management/managementGroups/mg-platform";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                READER,
                `role assignment "subscribers-reader": scope "/providers/Microsoft.Management/managementGroups/mg-platform" is management group "mg-platform"; ${TAIL}`,
            ),
        ]);
    });

    it("checks the scope while the assignment's name is unknown (preview), naming it by its Pulumi name", async () => {
        const stack = mutate(compliantStack(), "subscribers-reader", (i) => {
            i.roleAssignmentName = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
            i.scope = "/providers/Microsoft.Management/managementGroups/mg-platform";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                READER,
                `role assignment "subscribers-reader": scope "/providers/Microsoft.Management/managementGroups/mg-platform" is management group "mg-platform"; ${TAIL}`,
            ),
        ]);
    });

    it("rejects an assignment at the tenant root", async () => {
        const stack = mutate(compliantStack(), "subscribers-reader", (i) => {
            i.scope = "/";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(POLICY, READER, `role assignment "subscribers-reader": scope "/" is the tenant root; ${TAIL}`),
        ]);
    });

    it("rejects an assignment in another subscription than its role definition id names", async () => {
        const stack = mutate(compliantStack(), "subscribers-reader", (i) => {
            i.scope = `/subscriptions/${OTHER_SUB}`;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                READER,
                `role assignment "subscribers-reader": scope "/subscriptions/${OTHER_SUB}" is in subscription ${OTHER_SUB}, outside the stack's subscription ${SUB}`,
            ),
        ]);
    });

    it("rejects custom-role assignable scopes at a management group", async () => {
        const stack = mutate(compliantStack(), "approver-role", (i) => {
            i.assignableScopes = [FLEET_ID, "/providers/Microsoft.Management/managementGroups/mg-platform"];
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                ROLE,
                `custom role "fleet-gates-gate-approver": assignableScopes[1] "/providers/Microsoft.Management/managementGroups/mg-platform" is management group "mg-platform"; ${TAIL}`,
            ),
        ]);
    });

    it("takes the stack's subscription from pack config", async () => {
        const config = { [POLICY]: { subscriptionId: OTHER_SUB } };
        const v = await violationsOf(POLICY, compliantStack(), { config });
        expect(v.map((x) => x.message)).toContain(
            `custom role "fleet-gates-gate-approver": assignableScopes[0] "/subscriptions/${SUB}/resourceGroups/${RG}" is in subscription ${SUB}, outside the stack's subscription ${OTHER_SUB}`,
        );
    });

    it("takes the stack's subscription from the azure-native provider config", async () => {
        const plan = planOf(compliantStack());
        const withProvider = {
            ...plan,
            stackFile: { ...plan.stackFile, config: { "azure-native:subscriptionId": OTHER_SUB } },
        };
        const v = (await evaluatePolicies(withProvider)).filter((x) => x.policy === POLICY);
        expect(v.length).toBeGreaterThan(0);
        expect(v.every((x) => x.message.endsWith(`outside the stack's subscription ${OTHER_SUB}`))).toBe(true);
    });

    it("classifies scopes", () => {
        expect(scopeProblem("x", "scope", `/subscriptions/${SUB}/resourceGroups/rg`, SUB)).toBeUndefined();
        expect(scopeProblem("x", "scope", "/providers/Microsoft.Authorization/roleDefinitions/y")).toBe(
            `x: scope "/providers/Microsoft.Authorization/roleDefinitions/y" is not inside a subscription; ${TAIL}`,
        );
        expect(scopeProblem("x", "scope", "/subscriptions/not-a-guid")).toContain("is not inside a subscription");
        expect(scopeProblem("x", "scope", "")).toBe(`x: scope "" is the tenant root; ${TAIL}`);
    });
});
