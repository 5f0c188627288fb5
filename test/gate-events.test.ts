/**
 * The GateEvents component under Pulumi's mocks: the AKSResources system topic (created or adopted),
 * the dead-letter container, one event subscription per rule plus the lifecycle subscription, and their
 * naming, retry and argument rules.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
    type AdoptedTopic,
    type GateEventsArgs,
    GateEvents,
    adoptedTopicPrincipalId,
    checkedFunctionResourceId,
    deadLetterContainerName,
    resolveRetryPolicy,
    ruleSubscriptionNames,
    storageAccountRef,
    subscriptionNameFor,
} from "../components/gate-events";
import { compileLifecycleFilter, compileRuleFilter } from "../core/event-filter";
import { BUILTIN_ROLES, roleAssignmentGuid } from "../core/roles";
import type { ApprovalRule } from "../core/rules";
import { type PlannedResource, OFFLINE_DEFAULTS, resolveOutputs, runUnderMocks, stableGuid } from "../local/plan/mocks";

const ENV = { ...OFFLINE_DEFAULTS, project: "fleet-gates", stack: "test", config: {}, secretKeys: [] };
const SUB = OFFLINE_DEFAULTS.subscriptionId;
const FLEET = `/subscriptions/${SUB}/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/fleets/flt-dev`;
const SITE = `/subscriptions/${SUB}/resourceGroups/rg-handler/providers/Microsoft.Web/sites/func-gates`;
const EVENT_FN = `${SITE}/functions/gateEvent`;
const LIFECYCLE_FN = `${SITE}/functions/gateLifecycle`;
const ACCOUNT = `/subscriptions/${SUB}/resourceGroups/rg-handler/providers/Microsoft.Storage/storageAccounts/stgatesdev`;
const CONTAINER = `${ACCOUNT}/blobServices/default/containers/gate-events-deadletter`;
/** The dead-letter writer's name: container, role, the subscription's AKSResources topic, logical key. */
const WRITER_NAME = roleAssignmentGuid(
    CONTAINER,
    `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${BUILTIN_ROLES.storageBlobDataContributor}`,
    `systemTopic:Microsoft.ResourceNotifications.AKSResources:/subscriptions/${SUB}`,
    "deadletter-writer",
);

const T = {
    component: "fleet-gates:events:GateEvents",
    topic: "azure-native:eventgrid:SystemTopic",
    subscription: "azure-native:eventgrid:SystemTopicEventSubscription",
    container: "azure-native:storage:BlobContainer",
    role: "azure-native:authorization:RoleAssignment",
};

const RULES: ApprovalRule[] = [
    {
        name: "sales-check",
        match: { displayName: "Check with sales team", stage: "dev", timing: "Before" },
        checks: [{ type: "clusterHealth" }],
    },
    { name: "blue-healthy", match: { group: "blue", timing: "After" }, checks: [{ type: "clusterHealth" }] },
];

type Overrides = Partial<Omit<GateEventsArgs, "dependsOn">>;

/** Stands in for the deployed function code the subscriptions must wait for. */
class FunctionCode extends pulumi.CustomResource {
    constructor(name: string) {
        super("test:index:FunctionCode", name, {});
    }
}

async function plan(overrides: Overrides = {}) {
    return runUnderMocks(() => {
        const code = new FunctionCode("function-code");
        const events = new GateEvents("gate-events", {
            resourceGroupName: "rg-events",
            subscriptionId: SUB,
            fleetId: FLEET,
            rules: RULES,
            eventFunctionResourceId: EVENT_FN,
            lifecycleFunctionResourceId: LIFECYCLE_FN,
            deadLetterStorageAccountId: ACCOUNT,
            deadLetterStorageAccountName: "stgatesdev",
            dependsOn: [code],
            tags: { environment: "dev" },
            ...overrides,
        });
        return { events, codeUrn: code.urn };
    }, ENV);
}

const ofType = (rs: PlannedResource[], type: string) => rs.filter((r) => r.type === type);
function one(rs: PlannedResource[], type: string, name?: string): PlannedResource {
    const found = ofType(rs, type).filter((r) => name === undefined || r.name === name);
    expect(found, `${type} ${name ?? ""}`).toHaveLength(1);
    return found[0]!;
}
/** azure-native fills in `isSubjectCaseSensitive: false` on every filter. */
const withDefaults = <F extends object>(f: F) => ({ ...f, isSubjectCaseSensitive: false });

describe("GateEvents (created topic)", async () => {
    const { resources, result } = await plan();
    const component = one(resources, T.component);
    const topic = one(resources, T.topic);
    const container = one(resources, T.container);
    const role = one(resources, T.role);
    const principal = stableGuid(T.topic, "gate-events-topic", "principal");
    const codeUrn = (await resolveOutputs(result.codeUrn)) as string;

    it("creates the subscription's AKSResources system topic with a system-assigned identity", () => {
        expect(topic.name).toBe("gate-events-topic");
        expect(topic.inputs).toEqual({
            resourceGroupName: "rg-events",
            location: "global",
            source: `/subscriptions/${SUB}`,
            topicType: "Microsoft.ResourceNotifications.AKSResources",
            identity: { type: "SystemAssigned" },
            tags: { environment: "dev" },
        });
    });

    it("creates a private dead-letter container in the given account", () => {
        expect(container.name).toBe("gate-events-deadletter");
        expect(container.inputs).toEqual({
            resourceGroupName: "rg-handler",
            accountName: "stgatesdev",
            containerName: "gate-events-deadletter",
            publicAccess: "None",
        });
        expect(container.id).toBe(CONTAINER);
    });

    it("grants the topic's identity Storage Blob Data Contributor on the container only", () => {
        expect(role.name).toBe("gate-events-deadletter-writer");
        expect(role.inputs).toEqual({
            principalId: principal,
            principalType: "ServicePrincipal",
            roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${BUILTIN_ROLES.storageBlobDataContributor}`,
            scope: CONTAINER,
            roleAssignmentName: WRITER_NAME,
        });
        expect(role.dependencies).toEqual(expect.arrayContaining([topic.urn, container.urn]));
    });

    it("replaces the writer delete-first: its name does not change with the topic's principal", async () => {
        let deleteFirst: boolean | undefined;
        await runUnderMocks(() => {
            new GateEvents(
                "gate-events",
                {
                    resourceGroupName: "rg-events",
                    subscriptionId: SUB,
                    fleetId: FLEET,
                    rules: RULES,
                    eventFunctionResourceId: EVENT_FN,
                    lifecycleFunctionResourceId: LIFECYCLE_FN,
                    deadLetterStorageAccountId: ACCOUNT,
                    deadLetterStorageAccountName: "stgatesdev",
                },
                {
                    transformations: [
                        (t) => {
                            if (t.type === T.role)
                                deleteFirst = (t.opts as pulumi.CustomResourceOptions).deleteBeforeReplace;
                            return undefined;
                        },
                    ],
                },
            );
        }, ENV);
        expect(deleteFirst).toBe(true);
    });

    it("creates one subscription per rule plus the lifecycle subscription, named by rule", () => {
        expect(
            ofType(resources, T.subscription)
                .map((r) => [r.name, r.inputs.eventSubscriptionName])
                .sort(),
        ).toEqual([
            ["gate-events-gate-blue-healthy", "gate-blue-healthy"],
            ["gate-events-gate-lifecycle", "gate-lifecycle"],
            ["gate-events-gate-sales-check", "gate-sales-check"],
        ]);
    });

    it.each(RULES.map((r) => [r.name, r] as const))("rule %s: exact subscription inputs", (_n, rule) => {
        const s = one(resources, T.subscription, `gate-events-gate-${rule.name}`);
        expect(s.inputs).toEqual({
            resourceGroupName: "rg-events",
            systemTopicName: "gate-events-topic",
            eventSubscriptionName: `gate-${rule.name}`,
            eventDeliverySchema: "EventGridSchema",
            filter: withDefaults(compileRuleFilter(rule, FLEET)),
            destination: {
                endpointType: "AzureFunction",
                resourceId: EVENT_FN,
                maxEventsPerBatch: 1,
                preferredBatchSizeInKilobytes: 64,
            },
            retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
            deadLetterWithResourceIdentity: {
                identity: { type: "SystemAssigned" },
                deadLetterDestination: {
                    endpointType: "StorageBlob",
                    resourceId: ACCOUNT,
                    blobContainerName: "gate-events-deadletter",
                },
            },
        });
    });

    it("the lifecycle subscription takes Updated/Deleted events to the lifecycle function", () => {
        const s = one(resources, T.subscription, "gate-events-gate-lifecycle");
        expect(s.inputs.filter).toEqual(withDefaults(compileLifecycleFilter(FLEET)));
        expect(s.inputs.destination).toEqual({
            endpointType: "AzureFunction",
            resourceId: LIFECYCLE_FN,
            maxEventsPerBatch: 1,
            preferredBatchSizeInKilobytes: 64,
        });
        expect(s.inputs.retryPolicy).toEqual({ maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 });
    });

    it("every child is parented to the component", () => {
        const children = resources.filter((r) => r.type !== T.component && r.type !== "test:index:FunctionCode");
        expect(children).toHaveLength(6);
        for (const c of children) expect(c.parent, c.name).toBe(component.urn);
    });

    it("every subscription depends on the function code, the role assignment, the topic and the container", () => {
        for (const s of ofType(resources, T.subscription))
            expect(s.dependencies, s.name).toEqual(
                expect.arrayContaining([codeUrn, role.urn, topic.urn, container.urn]),
            );
    });

    it("registers its outputs", () => {
        const subId = (n: string) => `${topic.id}/eventSubscriptions/${n}`;
        expect(component.outputs).toEqual({
            topicId: `/subscriptions/${SUB}/resourceGroups/rg-events/providers/Microsoft.EventGrid/systemTopics/gate-events-topic`,
            topicName: "gate-events-topic",
            topicPrincipalId: principal,
            subscriptionNames: ["gate-blue-healthy", "gate-lifecycle", "gate-sales-check"],
            ruleSubscriptions: { "sales-check": subId("gate-sales-check"), "blue-healthy": subId("gate-blue-healthy") },
            lifecycleSubscription: subId("gate-lifecycle"),
            deadLetterContainerName: "gate-events-deadletter",
        });
        expect(Object.keys(result.events.ruleSubscriptions).sort()).toEqual(["blue-healthy", "sales-check"]);
    });
});

describe("GateEvents: stability and options", () => {
    it("keeps names and inputs when the rules are reordered", async () => {
        const a = await plan();
        const b = await plan({ rules: [...RULES].reverse() });
        const byUrn = (rs: PlannedResource[]) =>
            Object.fromEntries(rs.filter((r) => r.custom).map((r) => [r.urn, r.inputs]));
        expect(byUrn(b.resources)).toEqual(byUrn(a.resources));
        expect(Object.keys(byUrn(a.resources))).toHaveLength(7);
    });

    it("adding a rule adds one subscription and leaves the others unchanged", async () => {
        const a = await plan();
        const extra: ApprovalRule = {
            name: "prod-go",
            match: { displayName: "prod go" },
            checks: [{ type: "clusterHealth" }],
        };
        const b = await plan({ rules: [extra, ...RULES] });
        const subs = (rs: PlannedResource[]) =>
            Object.fromEntries(ofType(rs, T.subscription).map((r) => [r.name, r.inputs]));
        const before = subs(a.resources);
        const after = subs(b.resources);
        expect(Object.keys(after).sort()).toEqual([...Object.keys(before), "gate-events-gate-prod-go"].sort());
        for (const [n, inputs] of Object.entries(before)) expect(after[n], n).toEqual(inputs);
        expect((after["gate-events-gate-prod-go"] as { filter: unknown }).filter).toEqual(
            withDefaults(compileRuleFilter(extra, FLEET)),
        );
    });

    it("applies the retry settings to every subscription", async () => {
        const { resources } = await plan({ retry: { maxDeliveryAttempts: 10, eventTimeToLiveInMinutes: 120 } });
        const policies = ofType(resources, T.subscription).map((r) => r.inputs.retryPolicy);
        expect(policies).toEqual(Array(3).fill({ maxDeliveryAttempts: 10, eventTimeToLiveInMinutes: 120 }));
    });

    it("with no rules, still routes lifecycle events", async () => {
        const { resources } = await plan({ rules: [] });
        expect(ofType(resources, T.subscription).map((r) => r.inputs.eventSubscriptionName)).toEqual([
            "gate-lifecycle",
        ]);
    });

    it("resolves Output arguments the same way as plain ones", async () => {
        const { resources } = await plan({
            fleetId: pulumi.output(FLEET),
            subscriptionId: pulumi.output(SUB),
            deadLetterStorageAccountId: pulumi.output(ACCOUNT),
            eventFunctionResourceId: pulumi.output(EVENT_FN),
        });
        const s = one(resources, T.subscription, "gate-events-gate-sales-check");
        expect(s.inputs.filter).toEqual(withDefaults(compileRuleFilter(RULES[0]!, FLEET)));
        expect(one(resources, T.topic).inputs.source).toBe(`/subscriptions/${SUB}`);
        expect(one(resources, T.container).inputs.resourceGroupName).toBe("rg-handler");
    });
});

describe("GateEvents: adopting an existing topic", async () => {
    const existingTopic = { name: "stpc-aks-resource-notifications", resourceGroupName: "rg-shared-events" };
    const { resources } = await plan({ existingTopic });
    const component = one(resources, T.component);
    const principal = stableGuid(T.topic, existingTopic.name, "principal");

    it("creates no system topic", () => {
        expect(ofType(resources, T.topic)).toEqual([]);
    });

    it("puts every subscription on the existing topic's name and resource group", () => {
        const subs = ofType(resources, T.subscription);
        expect(subs).toHaveLength(3);
        for (const s of subs) {
            expect(s.inputs.systemTopicName, s.name).toBe(existingTopic.name);
            expect(s.inputs.resourceGroupName, s.name).toBe(existingTopic.resourceGroupName);
        }
    });

    it("grants the existing topic's identity on the dead-letter container", () => {
        expect(one(resources, T.role).inputs.principalId).toBe(principal);
        // The subscription's one AKSResources topic names the assignment, adopted or created.
        expect(one(resources, T.role).inputs.roleAssignmentName).toBe(WRITER_NAME);
    });

    it("reports the adopted topic", () => {
        expect(component.outputs.topicId).toBe(
            `/subscriptions/${SUB}/resourceGroups/rg-shared-events/providers/Microsoft.EventGrid/systemTopics/stpc-aks-resource-notifications`,
        );
        expect(component.outputs.topicName).toBe(existingTopic.name);
        expect(component.outputs.topicPrincipalId).toBe(principal);
    });
});

describe("GateEvents: contradictory arguments fail before any child exists", () => {
    it.each<[string, Overrides, RegExp]>([
        [
            "duplicate rule names",
            { rules: [RULES[0]!, { ...RULES[1]!, name: "sales-check" }] },
            /rules\[1\]\.name "sales-check": event subscription "gate-sales-check" is already used by rule "sales-check"/,
        ],
        [
            "a rule named like the lifecycle subscription",
            { rules: [{ ...RULES[0]!, name: "lifecycle" }] },
            /rules\[0\]\.name "lifecycle": event subscription "gate-lifecycle" is already used by the lifecycle subscription/,
        ],
        [
            "retry attempts out of range",
            { retry: { maxDeliveryAttempts: 31 } },
            /retry\.maxDeliveryAttempts 31 is outside Event Grid's range 1-30/,
        ],
        [
            "account name and id disagree",
            { deadLetterStorageAccountName: "stother" },
            /deadLetterStorageAccountName "stother" contradicts deadLetterStorageAccountId, which names account "stgatesdev"/,
        ],
        [
            "a site id instead of a function id",
            { eventFunctionResourceId: SITE },
            /eventFunctionResourceId ".*" is not a .*\/functions\/\{function\} id/,
        ],
        ["a fleet id that is not one", { fleetId: `${FLEET}/gates/x` }, /fleetId is not a fleet resource id/],
        [
            "an incomplete existing topic",
            { existingTopic: { name: "stpc", resourceGroupName: "" } },
            /existingTopic\.name and existingTopic\.resourceGroupName are both required/,
        ],
    ])("%s", async (_l, overrides, message) => {
        await expect(plan(overrides)).rejects.toThrow(message);
    });
});

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

describe("subscriptionNameFor", () => {
    it.each([
        ["sales-check", "gate-sales-check"],
        ["a", "gate-a"],
        ["x".repeat(59), `gate-${"x".repeat(59)}`],
    ])("%s → %s", (rule, name) => {
        expect(subscriptionNameFor(rule)).toBe(name);
    });
    it.each([["x".repeat(60)], ["under_score"], ["dot.ted"]])("rejects %s", (rule) => {
        expect(() => subscriptionNameFor(rule)).toThrow(/Event Grid allows 3-64 letters, digits and '-'/);
    });
});

describe("ruleSubscriptionNames", () => {
    it("maps rule names to subscription names, independent of order", () => {
        const names = ruleSubscriptionNames([{ name: "b" }, { name: "a" }]);
        expect(Object.fromEntries(names)).toEqual({ a: "gate-a", b: "gate-b" });
    });
    it("rejects names that differ only in case (Azure names are case-insensitive)", () => {
        expect(() => ruleSubscriptionNames([{ name: "abc" }, { name: "ABC" }])).toThrow(
            'rules[1].name "ABC": event subscription "gate-ABC" is already used by rule "abc"',
        );
    });
});

describe("resolveRetryPolicy", () => {
    it.each<[object | undefined, object]>([
        [undefined, { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }],
        [{ maxDeliveryAttempts: 1 }, { maxDeliveryAttempts: 1, eventTimeToLiveInMinutes: 1440 }],
        [{ eventTimeToLiveInMinutes: 1 }, { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1 }],
        [
            { maxDeliveryAttempts: 10, eventTimeToLiveInMinutes: 120 },
            { maxDeliveryAttempts: 10, eventTimeToLiveInMinutes: 120 },
        ],
    ])("%j → %j", (retry, expected) => {
        expect(resolveRetryPolicy(retry)).toEqual(expected);
    });
    it.each<[object, string]>([
        [{ maxDeliveryAttempts: 0 }, "retry.maxDeliveryAttempts 0 is outside Event Grid's range 1-30"],
        [{ maxDeliveryAttempts: 2.5 }, "retry.maxDeliveryAttempts 2.5 is outside Event Grid's range 1-30"],
        [
            { eventTimeToLiveInMinutes: 1441 },
            "retry.eventTimeToLiveInMinutes 1441 is outside Event Grid's range 1-1440",
        ],
    ])("rejects %j", (retry, message) => {
        expect(() => resolveRetryPolicy(retry)).toThrow(message);
    });
});

describe("deadLetterContainerName", () => {
    it.each([
        ["gate-events", "gate-events-deadletter"],
        ["Gate_Events", "gate-events-deadletter"],
        ["--x--", "x-deadletter"],
        ["a".repeat(80), "a".repeat(63)],
        [`${"a".repeat(62)}-b`, "a".repeat(62)],
    ])("%s → %s", (component, name) => {
        const n = deadLetterContainerName(component);
        expect(n).toBe(name);
        expect(n).toMatch(/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/);
    });
});

describe("storageAccountRef", () => {
    it("reads resource group and name from the id (names compare ignoring case)", () => {
        expect(storageAccountRef(ACCOUNT, "STGATESDEV")).toEqual({
            resourceGroup: "rg-handler",
            accountName: "stgatesdev",
        });
    });
    it.each([
        [SITE, "stgatesdev", /is not a Microsoft\.Storage\/storageAccounts id/],
        [`${ACCOUNT}/blobServices/default`, "stgatesdev", /is not a Microsoft\.Storage\/storageAccounts id/],
        [ACCOUNT, "other", /"other" contradicts deadLetterStorageAccountId, which names account "stgatesdev"/],
        ["stgatesdev", "stgatesdev", /invalid ARM id/],
    ])("rejects %s / %s", (id, name, message) => {
        expect(() => storageAccountRef(id, name)).toThrow(message);
    });
});

describe("checkedFunctionResourceId", () => {
    it("accepts a function id", () => {
        expect(checkedFunctionResourceId(EVENT_FN, "eventFunctionResourceId")).toBe(EVENT_FN);
    });
    it.each([[SITE], [`${SITE}/slots/staging`], ["https://func-gates.azurewebsites.net/runtime/webhooks/eventgrid"]])(
        "rejects %s",
        (id) => {
            expect(() => checkedFunctionResourceId(id, "lifecycleFunctionResourceId")).toThrow(
                `lifecycleFunctionResourceId "${id}" is not a .../providers/Microsoft.Web/sites/{app}/functions/{function} id`,
            );
        },
    );
});

describe("adoptedTopicPrincipalId", () => {
    const ref = { name: "stpc", resourceGroupName: "rg-shared" };
    const good: AdoptedTopic = {
        id: `/subscriptions/${SUB}/resourceGroups/rg-shared/providers/Microsoft.EventGrid/systemTopics/stpc`,
        name: "stpc",
        topicType: "microsoft.resourcenotifications.aksresources",
        source: `/subscriptions/${SUB.toUpperCase()}`,
        identity: { type: "SystemAssigned, UserAssigned", principalId: "p-1" },
    };
    it("returns the system-assigned principal", () => {
        expect(adoptedTopicPrincipalId(good, ref, SUB)).toBe("p-1");
    });
    it.each<[string, AdoptedTopic, string]>([
        [
            "no identity",
            { ...good, identity: undefined },
            'existingTopic "stpc" in resource group "rg-shared" has no system-assigned identity (identity type "None")',
        ],
        [
            "user-assigned only",
            { ...good, identity: { type: "UserAssigned" } },
            'has no system-assigned identity (identity type "UserAssigned")',
        ],
        [
            "identity without principal",
            { ...good, identity: { type: "SystemAssigned" } },
            "has no system-assigned identity",
        ],
        [
            "another topic type",
            { ...good, topicType: "Microsoft.Resources.Subscriptions" },
            'has topic type "Microsoft.Resources.Subscriptions", expected Microsoft.ResourceNotifications.AKSResources',
        ],
        [
            "another subscription",
            { ...good, source: "/subscriptions/11111111-1111-4111-8111-111111111111" },
            `but subscriptionId is "${SUB}"`,
        ],
    ])("rejects a topic with %s", (_l, topic, message) => {
        expect(() => adoptedTopicPrincipalId(topic, ref, SUB)).toThrow(message);
    });
});
