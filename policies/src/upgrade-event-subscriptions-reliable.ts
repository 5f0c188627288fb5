/**
 * `upgrade-event-subscriptions-reliable` (advisory): the subscriptions on the member clusters'
 * ManagedClusters topics deliver like the gate subscriptions: retries, an event TTL of at least an
 * hour and a dead-letter destination. A lost NodePoolRollingFailed would let a gate pass a cluster
 * whose node pool failed to roll; a lost NewKubernetesVersionAvailable delays a rollout.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import type { Props } from "./common";
import {
    DEFAULT_MIN_EVENT_TTL_MINUTES,
    reliabilityProblems,
    type ReliabilityConfig,
} from "./gate-subscriptions-reliable";
import { clusterTopicSubscriptions } from "./upgrade-event-topics-on-stack-clusters";

export const recommendReliableUpgradeEventSubscriptions: StackValidationPolicy = {
    name: "upgrade-event-subscriptions-reliable",
    description:
        "Every event subscription on a member cluster's ManagedClusters topic sets a retry policy, a dead-letter destination and an event TTL of at least 60 minutes.",
    enforcementLevel: "advisory",
    severity: "medium",
    configSchema: {
        properties: {
            minEventTimeToLiveInMinutes: {
                type: "integer",
                minimum: 1,
                maximum: 1440,
                default: DEFAULT_MIN_EVENT_TTL_MINUTES,
            },
        },
    },
    remediationSteps:
        "Set retryPolicy (eventTimeToLiveInMinutes >= 60) and deadLetterWithResourceIdentity on the subscription.",
    validateStack: (args, report) => {
        const config = args.getConfig<ReliabilityConfig>();
        for (const s of clusterTopicSubscriptions(args.resources))
            for (const problem of reliabilityProblems(s.name, s.resource.props as Props, config))
                report(problem.replace("gate events need", "upgrade events need"), s.resource.urn);
    },
};
