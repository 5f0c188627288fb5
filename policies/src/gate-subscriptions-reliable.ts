/**
 * `gate-subscriptions-reliable` (advisory): gates never time out, so a lost FleetGateCreated event is
 * a run that waits for the reconcile sweep. Retries, a long enough event TTL and a dead-letter
 * destination keep events recoverable.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { aksTopicSubscriptions, obj, type Props } from "./common";

export const DEFAULT_MIN_EVENT_TTL_MINUTES = 60;

export interface ReliabilityConfig {
    /** Minimum `retryPolicy.eventTimeToLiveInMinutes`; default 60. */
    readonly minEventTimeToLiveInMinutes?: number;
}

/** What is missing from a subscription's delivery settings; empty when nothing is. */
export function reliabilityProblems(name: string, props: Props, config: ReliabilityConfig = {}): string[] {
    const min = config.minEventTimeToLiveInMinutes ?? DEFAULT_MIN_EVENT_TTL_MINUTES;
    const subject = `event subscription "${name}"`;
    const problems: string[] = [];
    const retry = obj(props.retryPolicy);
    if (!retry)
        problems.push(
            `${subject} sets no retryPolicy; set maxDeliveryAttempts and eventTimeToLiveInMinutes (at least ${min}) explicitly`,
        );
    else {
        const ttl = retry.eventTimeToLiveInMinutes;
        // Absent: Event Grid's default of 1440 minutes applies.
        if (typeof ttl === "number" && ttl < min)
            problems.push(
                `${subject} keeps undelivered events for ${ttl} minutes (retryPolicy.eventTimeToLiveInMinutes); ` +
                    `gate events need at least ${min}`,
            );
    }
    const deadLetter =
        obj(props.deadLetterDestination) ?? obj(obj(props.deadLetterWithResourceIdentity)?.deadLetterDestination);
    if (!deadLetter)
        problems.push(
            `${subject} has no dead-letter destination, so events that exhaust their retries are dropped; ` +
                "set deadLetterWithResourceIdentity with a blob container",
        );
    return problems;
}

export const recommendReliableGateSubscriptions: StackValidationPolicy = {
    name: "gate-subscriptions-reliable",
    description:
        "Every event subscription on the AKSResources topic sets a retry policy, a dead-letter destination and an event TTL of at least 60 minutes.",
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
        for (const s of aksTopicSubscriptions(args.resources))
            for (const problem of reliabilityProblems(s.name, s.resource.props as Props, config))
                report(problem, s.resource.urn);
    },
};
