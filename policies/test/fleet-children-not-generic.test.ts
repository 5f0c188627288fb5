/**
 * Policy fleet-children-not-generic through the offline policy harness: a fleet's update strategy is an
 * ArmResource at its own api-version, never azure-native's generic resource.
 */
import { describe, expect, it } from "vitest";
import { T, compliantStack, mutate, urnOf, violation, violationsOf } from "./fixture";

const POLICY = "fleet-children-not-generic";

describe(POLICY, () => {
    it("passes the strategy created as an ArmResource", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("refuses the same strategy as azure-native's generic resource", async () => {
        const stack = compliantStack().map((r) => (r.name === "strategy" ? { ...r, type: T.generic } : r));
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.generic, "strategy"),
                'generic resource "strategy" creates Microsoft.ContainerService/fleets/updateStrategies "gated-rollout": azure-native ' +
                    "checks that it does not exist at its own api-version (2024-03-01), which the Fleet resource provider answers 400, " +
                    "and adds location to its body; create it with ArmResource (components/arm-resource.ts) at apiVersion 2026-06-01",
            ),
        ]);
    });

    it("leaves generic resources outside a fleet alone", async () => {
        const stack = mutate(
            compliantStack().map((r) => (r.name === "strategy" ? { ...r, type: T.generic } : r)),
            "strategy",
            (i) => {
                i.resourceProviderNamespace = "Microsoft.Storage";
                i.parentResourcePath = "storageAccounts/st1";
            },
        );
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });
});
