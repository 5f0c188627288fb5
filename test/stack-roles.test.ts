/**
 * `rolesAssignedByStack` is the list the deploy identity's ABAC condition allows: it must name exactly
 * the role definitions the program assigns, for each stack, or deploys fail (a role missing) or the
 * identity may hand out more than needed (a role too many).
 */
import { describe, expect, it } from "vitest";
import { fleetId } from "../core/arm-id";
import { roleGuidOf, rolesAssignedByStack } from "../core/roles";
import { parseConfigMap } from "../config";
import { OFFLINE_DEFAULTS } from "../local/plan/mocks";
import { planStack } from "../local/plan/plan";

describe.each(["dev", "prod"])("roles assigned by the %s stack", (stack) => {
    it("are exactly the role definitions of its planned role assignments", async () => {
        const plan = await planStack(stack);
        const cfg = parseConfigMap(plan.stackFile.config, plan.stackFile.secretKeys);
        const planned = new Set(
            plan.resources
                .filter((r) => r.type === "azure-native:authorization:RoleAssignment")
                .map((r) => roleGuidOf(String(r.inputs.roleDefinitionId))),
        );
        const listed = rolesAssignedByStack({
            fleetId: fleetId({
                subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
                resourceGroup: cfg.resourceGroupName,
                fleetName: cfg.fleet.name,
            }),
            handlerRoleScope: cfg.handler.roleScope,
        });
        expect(new Set(listed.map((r) => r.guid))).toEqual(planned);
        expect(listed).toHaveLength(planned.size);
    });
});
