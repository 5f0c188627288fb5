/**
 * `upgrade-event-topics-on-stack-clusters`: every `Microsoft.ContainerService.ManagedClusters` system
 * topic of the stack is the topic of one of the stack's own member clusters, and every event
 * subscription on such a topic asks for AKS upgrade event types only. The handler trusts these events
 * to start update runs and to hold gates, so they must come from the clusters the stack manages.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { eq, isType, parseArmId } from "../../core/arm-id";
import { AKS_EVENT_TYPES, MANAGED_CLUSTERS_TOPIC_TYPE } from "../../core/aks-event";
import { TYPES, azureName, isResourceType, known, obj, shown, str, strings, topicOf, type Props } from "./common";

/** The stack's ManagedClusters system topics. */
export function clusterTopics(resources: readonly PolicyResource[]): PolicyResource[] {
    return resources.filter(
        (r) =>
            isResourceType(r.type, TYPES.systemTopic) &&
            eq(
                known(() => str((r.props as Props).topicType)),
                MANAGED_CLUSTERS_TOPIC_TYPE,
            ),
    );
}

/** Event subscriptions whose topic is a ManagedClusters topic of the stack. */
export function clusterTopicSubscriptions(
    resources: readonly PolicyResource[],
): { resource: PolicyResource; name: string; topic: PolicyResource }[] {
    const topics = clusterTopics(resources);
    const all = resources.filter((r) => isResourceType(r.type, TYPES.systemTopic));
    return resources.flatMap((r) => {
        if (!isResourceType(r.type, TYPES.eventSubscription)) return [];
        const topic = topicOf(r, all);
        if (!topic || !topics.includes(topic)) return [];
        return [{ resource: r, name: azureName(r.props as Props, "eventSubscriptionName", r.name), topic }];
    });
}

/** Problems of the stack's ManagedClusters topics and their subscriptions. */
export function clusterTopicProblems(resources: readonly PolicyResource[]): { urn: string; message: string }[] {
    const out: { urn: string; message: string }[] = [];
    const clusters = resources.filter((r) => isResourceType(r.type, TYPES.managedCluster));
    const clusterNames = clusters.map((c) => ({
        name: known(() => str((c.props as Props).resourceName)) ?? c.name,
        rg: known(() => str((c.props as Props).resourceGroupName)),
    }));
    for (const t of clusterTopics(resources)) {
        const p = t.props as Props;
        const topicName = azureName(p, "systemTopicName", t.name);
        // Wired from a cluster of this stack: the dependency says so even while the id is unknown.
        const fromStackCluster = (t.propertyDependencies.source ?? []).some((d) =>
            isResourceType(d.type, TYPES.managedCluster),
        );
        if (fromStackCluster) continue;
        const source = known(() => str(p.source));
        if (source === undefined) continue; // unknown during a first preview and not wired from a cluster: cannot tell
        let ok = false;
        try {
            const id = parseArmId(source);
            ok =
                isType(id, "Microsoft.ContainerService", ["managedClusters"]) &&
                clusterNames.some(
                    (c) => eq(c.name, id.segments[0]![1]) && (c.rg === undefined || eq(c.rg, id.resourceGroup)),
                );
        } catch {
            ok = false;
        }
        if (!ok)
            out.push({
                urn: t.urn,
                message: `system topic "${topicName}" (${MANAGED_CLUSTERS_TOPIC_TYPE}) has source ${shown(source)}, which is not a managed cluster of this stack`,
            });
    }
    const allowed = Object.values(AKS_EVENT_TYPES).map((x) => x.toLowerCase());
    for (const s of clusterTopicSubscriptions(resources)) {
        const filter = obj(known(() => (s.resource.props as Props).filter));
        const types = strings(filter?.includedEventTypes);
        const topicName = azureName(s.topic.props as Props, "systemTopicName", s.topic.name);
        if (types.length === 0)
            out.push({
                urn: s.resource.urn,
                message: `event subscription "${s.name}" on cluster topic "${topicName}" sets no filter.includedEventTypes; list the AKS upgrade event types it routes`,
            });
        const other = types.filter((x) => !allowed.includes(x.toLowerCase()));
        if (other.length > 0)
            out.push({
                urn: s.resource.urn,
                message: `event subscription "${s.name}" on cluster topic "${topicName}" asks for ${other.map((x) => `"${x}"`).join(", ")}, which ${other.length === 1 ? "is not an AKS upgrade event type" : "are not AKS upgrade event types"}`,
            });
    }
    return out;
}

export const requireUpgradeEventTopicsOnStackClusters: StackValidationPolicy = {
    name: "upgrade-event-topics-on-stack-clusters",
    description:
        "Every ManagedClusters system topic is the topic of a member cluster of this stack, and its event subscriptions ask for AKS upgrade event types only.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Create cluster topics with the cluster's id as source (components/upgrade-events.ts) and filter their subscriptions to the Microsoft.ContainerService upgrade event types.",
    validateStack: (args, report) => {
        for (const p of clusterTopicProblems(args.resources)) report(p.message, p.urn);
    },
};
