/**
 * Entry point of the CrossGuard policy pack (`pulumi preview --policy-pack policies`). The only file
 * that constructs the PolicyPack: constructing it starts the analyzer's gRPC server, so tests and the
 * offline harness import `./policies` instead.
 */
import { PolicyPack } from "@pulumi/policy";
import { POLICY_PACK_DESCRIPTION, POLICY_PACK_ENFORCEMENT_LEVEL, POLICY_PACK_NAME, policies } from "./policies";

new PolicyPack(POLICY_PACK_NAME, {
    description: POLICY_PACK_DESCRIPTION,
    displayName: "fleet-gates",
    provider: "azure",
    tags: ["azure", "aks", "fleet", "event-grid", "rbac"],
    enforcementLevel: POLICY_PACK_ENFORCEMENT_LEVEL,
    policies,
});
