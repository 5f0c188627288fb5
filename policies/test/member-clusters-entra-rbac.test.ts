/**
 * Policy member-clusters-entra-rbac through the offline policy harness: member clusters use managed
 * Entra ID with Azure RBAC and have local accounts disabled.
 */
import { describe, expect, it } from "vitest";
import { T, compliantStack, mutate, urnOf, violation, violationsOf } from "./fixture";

const POLICY = "member-clusters-entra-rbac";
const CLUSTER = urnOf(T.cluster, "aks-blue");
const edit = (e: (i: Record<string, unknown>) => void) => mutate(compliantStack(), "aks-blue", e);

describe(POLICY, () => {
    it("passes a cluster with managed Entra ID, Azure RBAC and no local accounts", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects a cluster without Entra ID integration", async () => {
        const stack = edit((i) => {
            i.aadProfile = { managed: false, enableAzureRBAC: true };
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                CLUSTER,
                'managed cluster "aks-blue" does not use Microsoft Entra ID integration; set aadProfile.managed: true',
            ),
        ]);
    });

    it("rejects a cluster without Azure RBAC", async () => {
        const stack = edit((i) => {
            i.aadProfile = { managed: true };
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                CLUSTER,
                'managed cluster "aks-blue" does not use Azure RBAC for Kubernetes authorization; set aadProfile.enableAzureRBAC: true',
            ),
        ]);
    });

    it("rejects local accounts", async () => {
        const stack = edit((i) => {
            delete i.disableLocalAccounts;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                CLUSTER,
                'managed cluster "aks-blue" keeps local accounts; set disableLocalAccounts: true',
            ),
        ]);
    });

    it("reports every gap of a cluster with no aadProfile", async () => {
        const stack = edit((i) => {
            delete i.aadProfile;
            i.disableLocalAccounts = false;
        });
        expect(await violationsOf(POLICY, stack)).toHaveLength(3);
    });
});
