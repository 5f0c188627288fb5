/**
 * Gate events: the subscription's `Microsoft.ResourceNotifications.AKSResources` system topic
 * (created, or adopted when the subscription already has one), one filtered event subscription per
 * approval rule plus a lifecycle subscription, all delivering to the gate handler's Event Grid
 * function, and blob dead-lettering through the topic's managed identity.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as storage from "@pulumi/azure-native/storage";
import { eq, isType, parseArmId } from "../core/arm-id";
import { compileLifecycleFilter, compileRuleFilter, type EventSubscriptionFilter } from "../core/event-filter";
import { BUILTIN_ROLES, roleAssignmentGuid, roleDefinitionId } from "../core/roles";
import type { ApprovalRule } from "../core/rules";

export const AKS_RESOURCES_TOPIC_TYPE = "Microsoft.ResourceNotifications.AKSResources";
export const LIFECYCLE_SUBSCRIPTION_NAME = "gate-lifecycle";
/** Event Grid's defaults and limits (event-grid.md §3). */
export const RETRY_DEFAULTS = { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 } as const;
const SUBSCRIPTION_NAME_PATTERN = /^[A-Za-z0-9-]{3,64}$/;

/** The subscription's existing AKSResources system topic, to adopt instead of creating one. */
export interface ExistingTopicRef {
    readonly name: string;
    readonly resourceGroupName: string;
}

export interface RetrySettings {
    /** 1–30, default 30. */
    readonly maxDeliveryAttempts?: number;
    /** 1–1440, default 1440. */
    readonly eventTimeToLiveInMinutes?: number;
}

/** Arguments of `GateEvents`. */
export interface GateEventsArgs {
    /** Resource group of the system topic when it is created (unused when `existingTopic` is given). */
    readonly resourceGroupName: pulumi.Input<string>;
    /** The Azure subscription whose AKSResources events are routed (the topic's source). */
    readonly subscriptionId: pulumi.Input<string>;
    /** The fleet whose gates are routed; events of other fleets in the subscription are filtered out. */
    readonly fleetId: pulumi.Input<string>;
    /** Approval rules (plain, known at plan time): one event subscription each, keyed by rule name. */
    readonly rules: readonly ApprovalRule[];
    /** Adopt this existing topic (one AKSResources topic per subscription); it must have a system-assigned identity. */
    readonly existingTopic?: ExistingTopicRef;
    /** `.../Microsoft.Web/sites/{app}/functions/{fn}`: the Event Grid-triggered function for rule events. */
    readonly eventFunctionResourceId: pulumi.Input<string>;
    /** The function receiving FleetGateUpdated/Deleted events (may equal `eventFunctionResourceId`). */
    readonly lifecycleFunctionResourceId: pulumi.Input<string>;
    /** Storage account for dead-lettered events (a container is created in it). */
    readonly deadLetterStorageAccountId: pulumi.Input<string>;
    /** Name of that account; must be the last segment of `deadLetterStorageAccountId`. */
    readonly deadLetterStorageAccountName: pulumi.Input<string>;
    /** The deployed function code: Event Grid validates the destination function when a subscription is created. */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
    /** Delivery retry policy of every subscription; defaults 30 attempts / 1440 minutes. */
    readonly retry?: RetrySettings;
    /** Tags of the created topic. */
    readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (tested with tables)
// ---------------------------------------------------------------------------------------------

/** Event subscription name of a rule: `gate-<rule>`; Event Grid allows 3–64 letters, digits and `-`. */
export function subscriptionNameFor(ruleName: string): string {
    const n = `gate-${ruleName}`;
    if (!SUBSCRIPTION_NAME_PATTERN.test(n))
        throw new Error(
            `rules: rule name "${ruleName}" gives event subscription name "${n}"; Event Grid allows 3-64 letters, digits and '-'`,
        );
    return n;
}

/** Subscription name per rule name; throws on duplicate rule names and on a clash with the lifecycle subscription. */
export function ruleSubscriptionNames(rules: readonly Pick<ApprovalRule, "name">[]): Map<string, string> {
    const out = new Map<string, string>();
    const owner = new Map<string, string>([[LIFECYCLE_SUBSCRIPTION_NAME.toLowerCase(), "the lifecycle subscription"]]);
    rules.forEach((r, i) => {
        const n = subscriptionNameFor(r.name);
        const prior = owner.get(n.toLowerCase());
        if (prior !== undefined)
            throw new Error(`rules[${i}].name "${r.name}": event subscription "${n}" is already used by ${prior}`);
        owner.set(n.toLowerCase(), `rule "${r.name}"`);
        out.set(r.name, n);
    });
    return out;
}

/** The retry policy with defaults applied; throws naming the field when out of Event Grid's range. */
export function resolveRetryPolicy(retry: RetrySettings = {}): Required<RetrySettings> {
    const attempts = retry.maxDeliveryAttempts ?? RETRY_DEFAULTS.maxDeliveryAttempts;
    const ttl = retry.eventTimeToLiveInMinutes ?? RETRY_DEFAULTS.eventTimeToLiveInMinutes;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 30)
        throw new Error(`retry.maxDeliveryAttempts ${attempts} is outside Event Grid's range 1-30`);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 1440)
        throw new Error(`retry.eventTimeToLiveInMinutes ${ttl} is outside Event Grid's range 1-1440`);
    return { maxDeliveryAttempts: attempts, eventTimeToLiveInMinutes: ttl };
}

/** Dead-letter container name from the component name: 3–63 of lower-case letters, digits, single `-`. */
export function deadLetterContainerName(componentName: string): string {
    const base = `${componentName}-deadletter`
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/-{2,}/g, "-")
        .replace(/^-+/, "");
    const trimmed = base.slice(0, 63).replace(/-+$/, "");
    return trimmed.length >= 3 ? trimmed : `${trimmed}-dl`.replace(/^-/, "");
}

/** The ARM id of a blob container of a storage account. */
export function deadLetterContainerId(storageAccountId: string, containerName: string): string {
    return `${storageAccountId}/blobServices/default/containers/${containerName}`;
}

/**
 * Stands in for the AKSResources topic's identity in role assignment names: a subscription has one
 * such topic, created here or adopted, so the subscription names it, and is known at preview.
 */
export function topicPrincipalKey(subscriptionId: string): string {
    return `systemTopic:${AKS_RESOURCES_TOPIC_TYPE}:/subscriptions/${subscriptionId}`;
}

export interface StorageAccountRef {
    readonly resourceGroup: string;
    readonly accountName: string;
}

/** Resource group and name of the dead-letter account; throws when the id and the name disagree. */
export function storageAccountRef(accountId: string, accountName: string): StorageAccountRef {
    const p = parseArmId(accountId);
    if (!isType(p, "Microsoft.Storage", ["storageAccounts"]))
        throw new Error(`deadLetterStorageAccountId "${accountId}" is not a Microsoft.Storage/storageAccounts id`);
    const idName = p.segments[0]![1];
    if (!eq(idName, accountName))
        throw new Error(
            `deadLetterStorageAccountName "${accountName}" contradicts deadLetterStorageAccountId, which names account "${idName}"`,
        );
    return { resourceGroup: p.resourceGroup, accountName: idName };
}

/** Checks an Azure Functions function id (`.../Microsoft.Web/sites/{app}/functions/{fn}`); returns it. */
export function checkedFunctionResourceId(id: string, field: string): string {
    let ok = false;
    try {
        ok = isType(parseArmId(id), "Microsoft.Web", ["sites", "functions"]);
    } catch {
        ok = false;
    }
    if (!ok)
        throw new Error(`${field} "${id}" is not a .../providers/Microsoft.Web/sites/{app}/functions/{function} id`);
    return id;
}

/** What `getSystemTopic` tells about an adopted topic (the fields this component relies on). */
export interface AdoptedTopic {
    readonly id: string;
    readonly name: string;
    readonly topicType?: string;
    readonly source?: string;
    readonly identity?: { readonly type?: string; readonly principalId?: string };
}

/**
 * The principal id of an adopted topic's system-assigned identity. Throws when the topic is not the
 * AKSResources topic of `subscriptionId` or has no system-assigned identity (dead-lettering needs it).
 */
export function adoptedTopicPrincipalId(topic: AdoptedTopic, ref: ExistingTopicRef, subscriptionId: string): string {
    const what = `existingTopic "${ref.name}" in resource group "${ref.resourceGroupName}"`;
    if (!eq(topic.topicType, AKS_RESOURCES_TOPIC_TYPE))
        throw new Error(`${what} has topic type "${topic.topicType ?? ""}", expected ${AKS_RESOURCES_TOPIC_TYPE}`);
    if (topic.source !== undefined && !eq(topic.source, `/subscriptions/${subscriptionId}`))
        throw new Error(`${what} has source "${topic.source}", but subscriptionId is "${subscriptionId}"`);
    const identity = topic.identity;
    if (!identity?.type || !/SystemAssigned/i.test(identity.type) || !identity.principalId)
        throw new Error(
            `${what} has no system-assigned identity (identity type "${identity?.type ?? "None"}"); ` +
                "enable it on the topic: dead-lettering with the topic's identity requires one",
        );
    return identity.principalId;
}

// ---------------------------------------------------------------------------------------------
// Component
// ---------------------------------------------------------------------------------------------

export class GateEvents extends pulumi.ComponentResource {
    public readonly topicId: pulumi.Output<string>;
    public readonly topicName: pulumi.Output<string>;
    public readonly topicPrincipalId: pulumi.Output<string>;
    /** Every event subscription name (rules and lifecycle), sorted. */
    public readonly subscriptionNames: pulumi.Output<string[]>;
    /** Rule subscriptions keyed by rule name. */
    public readonly ruleSubscriptions: Record<string, eventgrid.SystemTopicEventSubscription>;
    public readonly lifecycleSubscription: eventgrid.SystemTopicEventSubscription;
    public readonly deadLetterContainerName: pulumi.Output<string>;

    constructor(name: string, args: GateEventsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:events:GateEvents", name, {}, opts);
        validateGateEventsArgs(args); // plan-time checks of the plain arguments, before any child exists
        const names = ruleSubscriptionNames(args.rules);

        const topic = this.topic(name, args);
        this.topicId = topic.id;
        this.topicName = topic.name;
        this.topicPrincipalId = topic.principalId;
        const deadLetter = this.deadLetter(name, args);
        this.deadLetterContainerName = deadLetter.containerName;

        const subscribe = this.subscriber(args, topic.resourceGroup, [deadLetter.writer, ...(args.dependsOn ?? [])]);
        const eventFunction = pulumi
            .output(args.eventFunctionResourceId)
            .apply((id) => checkedFunctionResourceId(id, "eventFunctionResourceId"));
        const lifecycleFunction = pulumi
            .output(args.lifecycleFunctionResourceId)
            .apply((id) => checkedFunctionResourceId(id, "lifecycleFunctionResourceId"));
        const fleetId = pulumi.output(args.fleetId);
        this.ruleSubscriptions = {};
        for (const rule of args.rules) {
            const subName = names.get(rule.name)!;
            this.ruleSubscriptions[rule.name] = subscribe(
                `${name}-${subName}`,
                subName,
                fleetId.apply((id) => compileRuleFilter(rule, id)),
                eventFunction,
            );
        }
        this.lifecycleSubscription = subscribe(
            `${name}-${LIFECYCLE_SUBSCRIPTION_NAME}`,
            LIFECYCLE_SUBSCRIPTION_NAME,
            fleetId.apply((id) => compileLifecycleFilter(id)),
            lifecycleFunction,
        );
        this.subscriptionNames = pulumi
            .all([...Object.values(this.ruleSubscriptions), this.lifecycleSubscription].map((s) => s.name))
            .apply((ns) => [...ns].sort());

        this.registerOutputs({
            topicId: this.topicId,
            topicName: this.topicName,
            topicPrincipalId: this.topicPrincipalId,
            subscriptionNames: this.subscriptionNames,
            // Resources are registered by id: plans print outputs, and a resource reference does not serialise.
            ruleSubscriptions: Object.fromEntries(Object.entries(this.ruleSubscriptions).map(([k, s]) => [k, s.id])),
            lifecycleSubscription: this.lifecycleSubscription.id,
            deadLetterContainerName: this.deadLetterContainerName,
        });
    }

    /** The subscription's AKSResources topic: adopted (`existingTopic`) or created, with its identity. */
    private topic(name: string, args: GateEventsArgs) {
        const existing = args.existingTopic;
        if (existing) {
            const adopted = eventgrid.getSystemTopicOutput(
                { resourceGroupName: existing.resourceGroupName, systemTopicName: existing.name },
                { parent: this },
            );
            const principalId = pulumi
                .all([adopted, args.subscriptionId])
                .apply(([t, sub]) => adoptedTopicPrincipalId(t, existing, sub));
            return {
                id: adopted.id,
                name: pulumi.all([adopted.name, principalId]).apply(([n]) => n),
                principalId,
                resourceGroup: existing.resourceGroupName as pulumi.Input<string>,
            };
        }
        const topic = new eventgrid.SystemTopic(
            `${name}-topic`,
            {
                resourceGroupName: args.resourceGroupName,
                location: "global",
                source: pulumi.interpolate`/subscriptions/${args.subscriptionId}`,
                topicType: AKS_RESOURCES_TOPIC_TYPE,
                identity: { type: "SystemAssigned" },
                tags: args.tags,
            },
            { parent: this },
        );
        return {
            id: topic.id,
            name: topic.name,
            principalId: topic.identity.apply((i) => {
                if (!i?.principalId)
                    throw new Error(`${name}: the created system topic has no system-assigned identity`);
                return i.principalId;
            }),
            resourceGroup: args.resourceGroupName,
        };
    }

    /** The dead-letter container and the topic identity's right to write it (Storage Blob Data Contributor, there only). */
    private deadLetter(name: string, args: GateEventsArgs) {
        const account = pulumi
            .all([args.deadLetterStorageAccountId, args.deadLetterStorageAccountName])
            .apply(([id, n]) => storageAccountRef(id, n));
        const blobContainerName = deadLetterContainerName(name);
        const container = new storage.BlobContainer(
            `${name}-deadletter`,
            {
                resourceGroupName: account.resourceGroup,
                accountName: account.accountName,
                containerName: blobContainerName,
                publicAccess: storage.PublicAccess.None,
            },
            { parent: this },
        );
        // Known at preview (the subscriptions' dead-letter destination shows it), chained on the container.
        const containerName = container.urn.apply(() => blobContainerName);
        // The container's id from known names, chained on its URN (as `Fleet` does): the writer's scope is
        // then known at a first preview and the policy pack can check it.
        const containerId = pulumi
            .all([container.urn, args.deadLetterStorageAccountId, account])
            .apply(([, accountId]) => deadLetterContainerId(accountId, blobContainerName));
        const writerRole = pulumi
            .output(args.subscriptionId)
            .apply((sub) => roleDefinitionId(sub, BUILTIN_ROLES.storageBlobDataContributor));
        const writer = new authorization.RoleAssignment(
            `${name}-deadletter-writer`,
            {
                principalId: this.topicPrincipalId,
                principalType: "ServicePrincipal",
                roleDefinitionId: writerRole,
                scope: containerId,
                // The subscription's one AKSResources topic stands in for its identity, whose principal id
                // is unknown until a created topic exists (see `roleAssignmentGuid`).
                roleAssignmentName: pulumi
                    .all([containerId, writerRole, args.subscriptionId])
                    .apply(([scope, role, sub]) =>
                        roleAssignmentGuid(scope, role, topicPrincipalKey(sub), "deadletter-writer"),
                    ),
            },
            { parent: this, deleteBeforeReplace: true },
        );
        return { containerName, writer };
    }

    /** Creates event subscriptions on the topic: one batch per event, the retry policy, dead-letter through the topic identity. */
    private subscriber(
        args: GateEventsArgs,
        topicResourceGroup: pulumi.Input<string>,
        dependsOn: pulumi.Input<pulumi.Resource>[],
    ) {
        const retryPolicy = resolveRetryPolicy(args.retry);
        return (
            resourceName: string,
            eventSubscriptionName: string,
            filter: pulumi.Output<EventSubscriptionFilter>,
            functionId: pulumi.Input<string>,
        ) =>
            new eventgrid.SystemTopicEventSubscription(
                resourceName,
                functionSubscriptionArgs({
                    resourceGroupName: topicResourceGroup,
                    systemTopicName: this.topicName,
                    eventSubscriptionName,
                    filter,
                    functionId,
                    retryPolicy,
                    deadLetterStorageAccountId: args.deadLetterStorageAccountId,
                    deadLetterContainerName: this.deadLetterContainerName,
                }),
                { parent: this, dependsOn },
            );
    }
}

/** Throws on plain arguments that cannot describe valid gate events, naming the field; Outputs are checked when they resolve. */
export function validateGateEventsArgs(args: GateEventsArgs): void {
    ruleSubscriptionNames(args.rules);
    resolveRetryPolicy(args.retry);
    const existing = args.existingTopic;
    if (existing && (!existing.name || !existing.resourceGroupName))
        throw new Error("existingTopic.name and existingTopic.resourceGroupName are both required to adopt a topic");
    if (typeof args.deadLetterStorageAccountId === "string" && typeof args.deadLetterStorageAccountName === "string")
        storageAccountRef(args.deadLetterStorageAccountId, args.deadLetterStorageAccountName);
    if (typeof args.eventFunctionResourceId === "string")
        checkedFunctionResourceId(args.eventFunctionResourceId, "eventFunctionResourceId");
    if (typeof args.lifecycleFunctionResourceId === "string")
        checkedFunctionResourceId(args.lifecycleFunctionResourceId, "lifecycleFunctionResourceId");
    if (typeof args.fleetId === "string") {
        const fleetId = args.fleetId;
        args.rules.forEach((r) => compileRuleFilter(r, fleetId));
        compileLifecycleFilter(fleetId);
    }
}

/**
 * An event subscription to the handler as every subscription of the project has it: Event Grid schema,
 * one event per batch, the retry policy, dead-letter through the topic's identity.
 */
export function functionSubscriptionArgs(a: {
    readonly resourceGroupName: pulumi.Input<string>;
    readonly systemTopicName: pulumi.Input<string>;
    readonly eventSubscriptionName: string;
    readonly filter: pulumi.Input<EventSubscriptionFilter>;
    readonly functionId: pulumi.Input<string>;
    readonly retryPolicy: ReturnType<typeof resolveRetryPolicy>;
    readonly deadLetterStorageAccountId: pulumi.Input<string>;
    readonly deadLetterContainerName: pulumi.Input<string>;
}): eventgrid.SystemTopicEventSubscriptionArgs {
    return {
        resourceGroupName: a.resourceGroupName,
        systemTopicName: a.systemTopicName,
        eventSubscriptionName: a.eventSubscriptionName,
        eventDeliverySchema: "EventGridSchema",
        filter: a.filter,
        destination: {
            endpointType: "AzureFunction",
            resourceId: a.functionId,
            maxEventsPerBatch: 1,
            preferredBatchSizeInKilobytes: 64,
        },
        retryPolicy: a.retryPolicy,
        deadLetterWithResourceIdentity: {
            identity: { type: "SystemAssigned" },
            deadLetterDestination: {
                endpointType: "StorageBlob",
                resourceId: a.deadLetterStorageAccountId,
                blobContainerName: a.deadLetterContainerName,
            },
        },
    };
}
