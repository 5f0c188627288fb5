/**
 * `aks-resources-topic-singleton`: Azure allows one AKSResources system topic per subscription. A
 * second one fails at deployment (or, in a second stack, fights the first): adopt the existing topic.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { AKS_RESOURCES_TOPIC_TYPE, aksTopics, azureName, str, subscriptionOfSource, type Props } from "./common";

export interface TopicRef {
    readonly urn: string;
    readonly name: string;
    readonly source?: string;
}

/** One finding per AKSResources topic beyond the first of its subscription, in declaration order. */
export function duplicateTopics(topics: readonly TopicRef[]): { urn: string; message: string }[] {
    const first = new Map<string, TopicRef>();
    const out: { urn: string; message: string }[] = [];
    for (const t of topics) {
        if (t.source === undefined) continue;
        const sub = subscriptionOfSource(t.source);
        const key = sub ?? t.source.toLowerCase();
        const prior = first.get(key);
        if (!prior) {
            first.set(key, t);
            continue;
        }
        out.push({
            urn: t.urn,
            message:
                `system topic "${t.name}" is a second ${AKS_RESOURCES_TOPIC_TYPE} topic for ${sub ? `subscription ${sub}` : `source "${t.source}"`} ` +
                `(the first is "${prior.name}"); Azure allows one per subscription: adopt the existing topic instead`,
        });
    }
    return out;
}

export const requireSingleAksTopic: StackValidationPolicy = {
    name: "aks-resources-topic-singleton",
    description:
        "The stack creates at most one Microsoft.ResourceNotifications.AKSResources system topic per subscription.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps:
        "Keep one AKSResources topic per subscription; in other stacks adopt it (fleet-gates:systemTopic.existingName).",
    validateStack: (args, report) => {
        const topics = aksTopics(args.resources).map((r) => {
            const p = r.props as Props;
            return { urn: r.urn, name: azureName(p, "systemTopicName", r.name), source: str(p.source) };
        });
        for (const d of duplicateTopics(topics)) report(d.message, d.urn);
    },
};
