/**
 * AKS upgrade events: for each member cluster, its `Microsoft.ContainerService.ManagedClusters`
 * system topic (created, or adopted where the cluster already has one: a cluster has at most one)
 * and one event subscription filtered to the configured AKS upgrade event types, delivering to the
 * gate handler's Event Grid function with the same retry policy and blob dead-lettering (through the
 * topic's managed identity) as the gate subscriptions.
 */
import * as pulumi from "@pulumi/pulumi";
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as storage from "@pulumi/azure-native/storage";
import { eq, isType, parseArmId } from "../core/arm-id";
import { AKS_EVENT_TYPES, MANAGED_CLUSTERS_TOPIC_TYPE } from "../core/aks-event";
import { BUILTIN_ROLES, roleDefinitionId } from "../core/roles";
import {
    checkedFunctionResourceId,
    deadLetterContainerId,
    deadLetterContainerName,
    functionSubscriptionArgs,
    resolveRetryPolicy,
    storageAccountRef,
    type RetrySettings,
} from "./gate-events";
import { stableRoleAssignment } from "./role-assignment";

/** The event subscription's name on every member's topic. */
export const UPGRADE_EVENTS_SUBSCRIPTION_NAME = "aks-upgrade-events";

/** One member cluster whose upgrade events are routed. */
export interface UpgradeEventsMember {
    /** Member name (plain, known at plan time): names the children. */
    readonly name: string;
    readonly clusterId: pulumi.Input<string>;
    /** The cluster's region: a ManagedClusters system topic lives in its cluster's region. */
    readonly location: pulumi.Input<string>;
    /** Adopt this existing topic of the cluster instead of creating one; it needs a system-assigned identity. */
    readonly existingTopic?: { readonly name: string; readonly resourceGroupName: string };
}

/** Arguments of `UpgradeEvents`. */
export interface UpgradeEventsArgs {
    /** Resource group of the created topics. */
    readonly resourceGroupName: pulumi.Input<string>;
    readonly members: readonly UpgradeEventsMember[];
    /** Full event type names (`Microsoft.ContainerService.NodePoolRollingFailed`, …); at least one. */
    readonly eventTypes: readonly string[];
    /** `.../Microsoft.Web/sites/{app}/functions/{fn}`: the handler's Event Grid function. */
    readonly functionResourceId: pulumi.Input<string>;
    /** Storage account for dead-lettered events (a container is created in it). */
    readonly deadLetterStorageAccountId: pulumi.Input<string>;
    readonly deadLetterStorageAccountName: pulumi.Input<string>;
    /** Delivery retry policy; defaults 30 attempts / 1440 minutes. */
    readonly retry?: RetrySettings;
    /** The deployed function code: Event Grid validates the destination when a subscription is created. */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
    readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (tested with tables)
// ---------------------------------------------------------------------------------------------

/** Created topic name of a member: `<member>-aks-events` (3–128 letters, digits, `-`). */
export function clusterTopicName(member: string): string {
    const n = `${member}-aks-events`;
    if (!/^[A-Za-z0-9-]{3,128}$/.test(n))
        throw new Error(
            `members: member "${member}" gives system topic name "${n}"; Event Grid allows 3-128 letters, digits and '-'`,
        );
    return n;
}

/** Checks the event types: at least one, each an AKS upgrade event type, no repeats. Returns them. */
export function checkedEventTypes(types: readonly string[]): string[] {
    const known = Object.values(AKS_EVENT_TYPES) as string[];
    if (types.length === 0) throw new Error("eventTypes: at least one AKS upgrade event type is required");
    const seen = new Set<string>();
    types.forEach((t, i) => {
        if (!known.includes(t)) throw new Error(`eventTypes[${i}] "${t}" is not one of ${known.join(", ")}`);
        if (seen.has(t)) throw new Error(`eventTypes[${i}] "${t}" is listed twice`);
        seen.add(t);
    });
    return [...types];
}

/** Throws on member lists that cannot be wired: none, duplicate names. */
export function checkedMembers(members: readonly UpgradeEventsMember[]): void {
    if (members.length === 0) throw new Error("members: at least one member cluster is required");
    const seen = new Set<string>();
    for (const m of members) {
        const k = m.name.toLowerCase();
        if (seen.has(k)) throw new Error(`members: member "${m.name}" is listed twice`);
        seen.add(k);
        clusterTopicName(m.name);
        if (typeof m.clusterId === "string") checkedClusterId(m.clusterId, m.name);
    }
}

/** A managed cluster id (`.../Microsoft.ContainerService/managedClusters/{name}`); returns it. */
export function checkedClusterId(id: string, member: string): string {
    let ok = false;
    try {
        ok = isType(parseArmId(id), "Microsoft.ContainerService", ["managedClusters"]);
    } catch {
        ok = false;
    }
    if (!ok)
        throw new Error(
            `members["${member}"].clusterId "${id}" is not a Microsoft.ContainerService/managedClusters id`,
        );
    return id;
}

/** What `getSystemTopic` tells about an adopted cluster topic. */
export interface AdoptedClusterTopic {
    readonly topicType?: string;
    readonly source?: string;
    readonly identity?: { readonly type?: string; readonly principalId?: string };
}

/**
 * The principal id of an adopted cluster topic's system-assigned identity. Throws when it is not the
 * ManagedClusters topic of `clusterId` or has no system-assigned identity (dead-lettering needs one).
 */
export function adoptedClusterTopicPrincipalId(
    topic: AdoptedClusterTopic,
    ref: { readonly name: string; readonly resourceGroupName: string },
    clusterId: string,
): string {
    const what = `existing topic "${ref.name}" in resource group "${ref.resourceGroupName}"`;
    if (!eq(topic.topicType, MANAGED_CLUSTERS_TOPIC_TYPE))
        throw new Error(`${what} has topic type "${topic.topicType ?? ""}", expected ${MANAGED_CLUSTERS_TOPIC_TYPE}`);
    if (!eq(topic.source, clusterId))
        throw new Error(`${what} has source "${topic.source ?? ""}", but the member's cluster is "${clusterId}"`);
    const identity = topic.identity;
    if (!identity?.type || !/SystemAssigned/i.test(identity.type) || !identity.principalId)
        throw new Error(
            `${what} has no system-assigned identity (identity type "${identity?.type ?? "None"}"); enable it on the topic: dead-lettering with the topic's identity requires one`,
        );
    return identity.principalId;
}

/** Stands in for a cluster topic's identity in role assignment names (known at preview: a cluster has one topic). */
export function clusterTopicPrincipalKey(clusterId: string): string {
    return `systemTopic:${MANAGED_CLUSTERS_TOPIC_TYPE}:${clusterId.toLowerCase()}`;
}

// ---------------------------------------------------------------------------------------------
// Component
// ---------------------------------------------------------------------------------------------

export class UpgradeEvents extends pulumi.ComponentResource {
    /** Member name → system topic id. */
    public readonly topicIds: pulumi.Output<Record<string, string>>;
    /** Member name → event subscription. */
    public readonly subscriptions: Record<string, eventgrid.SystemTopicEventSubscription>;
    public readonly deadLetterContainerName: pulumi.Output<string>;

    constructor(name: string, args: UpgradeEventsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:events:UpgradeEvents", name, {}, opts);

        checkedMembers(args.members);
        const includedEventTypes = checkedEventTypes(args.eventTypes);
        const retryPolicy = resolveRetryPolicy(args.retry);
        if (typeof args.functionResourceId === "string")
            checkedFunctionResourceId(args.functionResourceId, "functionResourceId");
        if (
            typeof args.deadLetterStorageAccountId === "string" &&
            typeof args.deadLetterStorageAccountName === "string"
        )
            storageAccountRef(args.deadLetterStorageAccountId, args.deadLetterStorageAccountName);

        const account = pulumi
            .all([args.deadLetterStorageAccountId, args.deadLetterStorageAccountName])
            .apply(([id, n]) => storageAccountRef(id, n));
        const containerName = deadLetterContainerName(name);
        const container = new storage.BlobContainer(
            `${name}-deadletter`,
            {
                resourceGroupName: account.resourceGroup,
                accountName: account.accountName,
                containerName,
                publicAccess: storage.PublicAccess.None,
            },
            { parent: this },
        );
        this.deadLetterContainerName = container.urn.apply(() => containerName);
        const containerId = pulumi
            .all([container.urn, args.deadLetterStorageAccountId, account])
            .apply(([, accountId]) => deadLetterContainerId(accountId, containerName));
        const functionId = pulumi
            .output(args.functionResourceId)
            .apply((id) => checkedFunctionResourceId(id, "functionResourceId"));
        const writerRole = containerId.apply((id) =>
            roleDefinitionId(parseArmId(id).subscriptionId, BUILTIN_ROLES.storageBlobDataContributor),
        );

        this.subscriptions = {};
        const topicIds: Record<string, pulumi.Output<string>> = {};
        for (const m of args.members) {
            const clusterId = pulumi.output(m.clusterId).apply((id) => checkedClusterId(id, m.name));
            const { topicId, topicName, topicGroup, principalId } = this.memberTopic(name, args, m, clusterId);
            topicIds[m.name] = topicId;
            // The topic's identity writes dead letters: Storage Blob Data Contributor on the container only.
            const writer = stableRoleAssignment(this, name, {
                key: `${m.name}-deadletter-writer`,
                scope: containerId,
                roleDefinitionId: writerRole,
                principalId,
                principalType: "ServicePrincipal",
                principalKey: clusterId.apply(clusterTopicPrincipalKey),
            });
            this.subscriptions[m.name] = new eventgrid.SystemTopicEventSubscription(
                `${name}-${m.name}-subscription`,
                functionSubscriptionArgs({
                    resourceGroupName: topicGroup,
                    systemTopicName: topicName,
                    eventSubscriptionName: UPGRADE_EVENTS_SUBSCRIPTION_NAME,
                    filter: { includedEventTypes },
                    functionId,
                    retryPolicy,
                    deadLetterStorageAccountId: args.deadLetterStorageAccountId,
                    deadLetterContainerName: this.deadLetterContainerName,
                }),
                { parent: this, dependsOn: [writer, ...(args.dependsOn ?? [])] },
            );
        }
        this.topicIds = pulumi.all(topicIds);

        this.registerOutputs({
            topicIds: this.topicIds,
            subscriptions: Object.fromEntries(Object.entries(this.subscriptions).map(([k, s]) => [k, s.id])),
            deadLetterContainerName: this.deadLetterContainerName,
        });
    }

    /** The member's cluster topic: adopted (its identity checked) or created with a system-assigned identity. */
    private memberTopic(
        name: string,
        args: UpgradeEventsArgs,
        m: UpgradeEventsMember,
        clusterId: pulumi.Output<string>,
    ): {
        topicId: pulumi.Output<string>;
        topicName: pulumi.Output<string>;
        topicGroup: pulumi.Input<string>;
        principalId: pulumi.Output<string>;
    } {
        if (m.existingTopic) {
            const ref = m.existingTopic;
            const adopted = eventgrid.getSystemTopicOutput(
                { resourceGroupName: ref.resourceGroupName, systemTopicName: ref.name },
                { parent: this },
            );
            const principalId = pulumi
                .all([adopted, clusterId])
                .apply(([t, id]) => adoptedClusterTopicPrincipalId(t, ref, id));
            return {
                topicId: adopted.id,
                topicName: pulumi.all([adopted.name, principalId]).apply(([n]) => n),
                topicGroup: ref.resourceGroupName,
                principalId,
            };
        }
        const topic = new eventgrid.SystemTopic(
            `${name}-${m.name}-topic`,
            {
                resourceGroupName: args.resourceGroupName,
                systemTopicName: clusterTopicName(m.name),
                location: m.location,
                source: clusterId,
                topicType: MANAGED_CLUSTERS_TOPIC_TYPE,
                identity: { type: "SystemAssigned" },
                tags: args.tags,
            },
            { parent: this },
        );
        const principalId = topic.identity.apply((i) => {
            if (!i?.principalId)
                throw new Error(`${name}: the system topic of member "${m.name}" has no system-assigned identity`);
            return i.principalId;
        });
        return { topicId: topic.id, topicName: topic.name, topicGroup: args.resourceGroupName, principalId };
    }
}
