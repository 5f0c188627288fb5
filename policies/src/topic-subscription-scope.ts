/**
 * `aks-resources-topic-subscription-scope`: the AKSResources system topic is a subscription-wide
 * topic. Azure only emits its events at subscription scope, in location `global`; a topic with a
 * resource group (or any other) source or a regional location never receives a gate event.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import {
    TYPES,
    azureName,
    isAksTopicType,
    shown,
    subscriptionOfSource,
    validateResourceOfToken,
    type Props,
} from "./common";

/** What is wrong with an AKSResources topic's source and location; empty when nothing is. */
export function topicScopeProblems(props: Props, pulumiName: string): string[] {
    if (!isAksTopicType(props.topicType)) return [];
    const name = azureName(props, "systemTopicName", pulumiName);
    const problems: string[] = [];
    if (subscriptionOfSource(props.source) === undefined)
        problems.push(
            `system topic "${name}" has source ${shown(props.source)}; an AKSResources topic must have source ` +
                `exactly "/subscriptions/<subscription id>": Azure emits its events at subscription scope only`,
        );
    const location = props.location;
    if (typeof location !== "string" || location.toLowerCase() !== "global")
        problems.push(
            `system topic "${name}" has location ${shown(location)}; an AKSResources topic must be in location "global"`,
        );
    return problems;
}

export const requireTopicSubscriptionScope: ResourceValidationPolicy = {
    name: "aks-resources-topic-subscription-scope",
    description:
        "A Microsoft.ResourceNotifications.AKSResources system topic has the source /subscriptions/<id> and location global.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        'Create the topic with source "/subscriptions/<subscription id>" and location "global", or adopt the existing one.',
    validateResource: validateResourceOfToken(TYPES.systemTopic, (props, args, report) => {
        for (const problem of topicScopeProblems(props, args.name)) report(problem);
    }),
};
