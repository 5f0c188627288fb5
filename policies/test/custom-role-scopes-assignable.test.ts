/**
 * Policy custom-role-scopes-assignable through the offline policy harness: custom roles list only
 * management groups, subscriptions or resource groups as assignable scopes, never the fleet itself.
 */
import { describe, expect, it } from "vitest";
import { FLEET_ID, RG, SUB, T, compliantStack, mutate, urnOf, violation, violationsOf } from "./fixture";

const POLICY = "custom-role-scopes-assignable";
const ROLE = urnOf(T.definition, "approver-role");
const edit = (scopes: string[]) =>
    mutate(compliantStack(), "approver-role", (i) => {
        i.assignableScopes = scopes;
    });

describe(POLICY, () => {
    it("passes a role assignable in the fleet's resource group", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects the fleet itself as an assignable scope, naming its resource group as the fix", async () => {
        expect(await violationsOf(POLICY, edit([FLEET_ID]))).toEqual([
            violation(
                POLICY,
                ROLE,
                `custom role "fleet-gates-gate-approver": assignableScopes[0] "${FLEET_ID}" is a resource; Azure accepts only ` +
                    `management groups, subscriptions or resource groups there: list "/subscriptions/${SUB}/resourceGroups/${RG}" ` +
                    "and assign the role at the resource",
            ),
        ]);
    });

    it.each([
        ["a subscription", `/subscriptions/${SUB}`],
        ["a management group", "/providers/Microsoft.Management/managementGroups/mg-platform"],
    ])("accepts %s (other policies judge how wide it is)", async (_, scope) => {
        expect(await violationsOf(POLICY, edit([scope]))).toEqual([]);
    });
});
