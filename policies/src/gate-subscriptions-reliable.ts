/**
 * `gate-subscriptions-reliable` (advisory): gates never time out, so a lost FleetGateCreated event is
 * a run that waits for the reconcile sweep. Retries, a long enough event TTL and a dead-letter
 * destination keep events recoverable (the check: `subscription-reliability.ts`).
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { aksTopicSubscriptions } from "./common";
import { reliabilityCheck } from "./subscription-reliability";

export const recommendReliableGateSubscriptions: StackValidationPolicy = {
    name: "gate-subscriptions-reliable",
    description:
        "Every event subscription on the AKSResources topic sets a retry policy, a dead-letter destination and an event TTL of at least 60 minutes.",
    enforcementLevel: "advisory",
    severity: "medium",
    ...reliabilityCheck(aksTopicSubscriptions, "gate events"),
};
