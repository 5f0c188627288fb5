/**
 * The reliability check shared by `gate-subscriptions-reliable` and `upgrade-event-subscriptions-reliable`:
 * an event subscription retries, keeps undelivered events long enough and dead-letters what exhausts
 * its retries. Each of those policies picks its subscriptions and names its events; the check, its
 * config (the minimum TTL) and its remediation are the same, so they are written once here.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { obj, type Props } from "./common";

export const DEFAULT_MIN_EVENT_TTL_MINUTES = 60;

export interface ReliabilityConfig {
    /** Minimum `retryPolicy.eventTimeToLiveInMinutes`; default 60. */
    readonly minEventTimeToLiveInMinutes?: number;
}

/**
 * What is missing from a subscription's delivery settings; empty when nothing is. `events` names
 * what it delivers in the TTL message (`gate events need at least 60`).
 */
export function reliabilityProblems(
    name: string,
    props: Props,
    config: ReliabilityConfig = {},
    events = "gate events",
): string[] {
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
                    `${events} need at least ${min}`,
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

/**
 * The config schema, remediation and stack validation of a reliability policy over the subscriptions
 * `select` picks; the policy's file adds its name, description and enforcement level.
 */
export function reliabilityCheck(
    select: (resources: readonly PolicyResource[]) => readonly { resource: PolicyResource; name: string }[],
    events: string,
): Pick<StackValidationPolicy, "configSchema" | "remediationSteps" | "validateStack"> {
    return {
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
            for (const s of select(args.resources))
                for (const problem of reliabilityProblems(s.name, s.resource.props as Props, config, events))
                    report(problem, s.resource.urn);
        },
    };
}
