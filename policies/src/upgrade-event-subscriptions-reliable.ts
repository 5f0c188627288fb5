/**
 * `upgrade-event-subscriptions-reliable` (advisory): the subscriptions on the member clusters'
 * ManagedClusters topics deliver like the gate subscriptions: retries, an event TTL of at least an
 * hour and a dead-letter destination (the check: `subscription-reliability.ts`). A lost
 * NodePoolRollingFailed would let a gate pass a cluster whose node pool failed to roll; a lost
 * NewKubernetesVersionAvailable delays a rollout.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { reliabilityCheck } from "./subscription-reliability";
import { clusterTopicSubscriptions } from "./upgrade-event-topics-on-stack-clusters";

export const recommendReliableUpgradeEventSubscriptions: StackValidationPolicy = {
    name: "upgrade-event-subscriptions-reliable",
    description:
        "Every event subscription on a member cluster's ManagedClusters topic sets a retry policy, a dead-letter destination and an event TTL of at least 60 minutes.",
    enforcementLevel: "advisory",
    severity: "medium",
    ...reliabilityCheck(clusterTopicSubscriptions, "upgrade events"),
};
