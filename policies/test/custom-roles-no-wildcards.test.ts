/**
 * Policy custom-roles-no-wildcards through the offline policy harness: custom roles grant no wildcard
 * action or data action (wildcards in notActions are fine).
 */
import { describe, expect, it } from "vitest";
import { T, compliantStack, mutate, urnOf, violation, violationsOf } from "./fixture";

const POLICY = "custom-roles-no-wildcards";
const ROLE = urnOf(T.definition, "approver-role");

describe(POLICY, () => {
    it("passes the exact actions of the approvers' role", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects a wildcard action", async () => {
        const stack = mutate(compliantStack(), "approver-role", (i) => {
            i.permissions = [
                { actions: ["Microsoft.ContainerService/fleets/gates/read", "Microsoft.ContainerService/fleets/*"] },
            ];
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                ROLE,
                'custom role "fleet-gates-gate-approver" grants "Microsoft.ContainerService/fleets/*" (permissions[0].actions[1]); list the exact actions instead of a wildcard',
            ),
        ]);
    });

    it("rejects a wildcard data action and accepts wildcards in notActions", async () => {
        const stack = mutate(compliantStack(), "approver-role", (i) => {
            i.permissions = [
                { actions: ["Microsoft.ContainerService/fleets/read"], notActions: ["*"] },
                { dataActions: ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"] },
            ];
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                ROLE,
                'custom role "fleet-gates-gate-approver" grants "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*" (permissions[1].dataActions[0]); list the exact actions instead of a wildcard',
            ),
        ]);
    });
});
