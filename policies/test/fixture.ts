/**
 * A compliant stack as plain planned resources (the shapes the program registers), and helpers to
 * mutate one field and evaluate the pack through the offline harness. Inputs double as outputs, as
 * under the mocks.
 */
import { CONDITION_VERSION, constrainRolesCondition } from "../../core/abac";
import { compileLifecycleFilter, compileRuleFilter } from "../../core/event-filter";
import { AZURE_TOKEN_EXCHANGE_AUDIENCE, GITHUB_OIDC_ISSUER } from "../../core/github-oidc";
import { APPROVER_ROLE_ACTIONS, BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";
import type { ApprovalRule } from "../../core/rules";
import type { PlannedResource } from "../../local/plan/mocks";
import type { Plan, PolicyViolation } from "../../local/plan/plan";
import { evaluatePolicies, type EvaluateOptions } from "../../local/plan/policy-harness";

export const SUB = "00000000-0000-4000-8000-000000000001";
export const OTHER_SUB = "00000000-0000-4000-8000-000000000002";
export const RG = "rg-fleet";
export const FLEET_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/flt-dev`;
export const HANDLER = "11111111-1111-4111-8111-111111111111";
export const APPROVERS = "22222222-2222-4222-8222-222222222222";
export const SUBSCRIBERS = "33333333-3333-4333-8333-333333333333";
export const APPROVER_ROLE_GUID = "44444444-4444-4444-8444-444444444444";
export const CLUSTER_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/managedClusters/aks-blue`;
export const FUNCTION_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Web/sites/func-gates/functions/gate-event`;
export const ACCOUNT_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/stgates`;

export const RULES: ApprovalRule[] = [
    {
        name: "sales-check",
        match: { displayName: "Check with sales team", stage: "dev", timing: "Before" },
        checks: [{ type: "clusterHealth" }],
    },
    { name: "blue-healthy", match: { group: "blue", timing: "After" }, checks: [{ type: "clusterHealth" }] },
    { name: "prod-go", match: { displayName: "prod go", timing: "Before" }, checks: [{ type: "clusterHealth" }] },
];

export const STAGES = [
    {
        name: "dev",
        beforeGates: [{ displayName: "Check with sales team", type: "Approval" }],
        groups: [{ name: "blue", afterGates: [{ displayName: "blue healthy", type: "Approval" }] }],
    },
    { name: "prod", beforeGates: [{ displayName: "prod go", type: "Approval" }], groups: [{ name: "green" }] },
];

/** One resource of a fixture: its Pulumi name is its key; dependencies are given by Pulumi name. */
export interface FixtureResource {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    custom?: boolean;
    parent?: string;
    /** Property name → Pulumi names of the resources it depends on. */
    propertyDependencies?: Record<string, string[]>;
}

export const T = {
    rg: "azure-native:resources:ResourceGroup",
    fleet: "azure-native:containerservice:Fleet",
    cluster: "azure-native:containerservice:ManagedCluster",
    generic: "azure-native:resources:Resource",
    arm: "pulumi-nodejs:dynamic/fleet-gates:ArmResource",
    topic: "azure-native:eventgrid:SystemTopic",
    subscription: "azure-native:eventgrid:SystemTopicEventSubscription",
    assignment: "azure-native:authorization:RoleAssignment",
    definition: "azure-native:authorization:RoleDefinition",
    webApp: "azure-native:web:WebApp",
    appSettings: "azure-native:web:WebAppApplicationSettings",
    scm: "azure-native:web:WebAppScmAllowed",
    ftp: "azure-native:web:WebAppFtpAllowed",
} as const;

const role = (guid: string) => roleDefinitionId(SUB, guid);

function subscription(name: string, filter: object): FixtureResource {
    return {
        type: T.subscription,
        name,
        inputs: {
            resourceGroupName: RG,
            systemTopicName: "evgt-aks",
            eventSubscriptionName: name,
            eventDeliverySchema: "EventGridSchema",
            filter: { ...filter, isSubjectCaseSensitive: false },
            destination: { endpointType: "AzureFunction", resourceId: FUNCTION_ID, maxEventsPerBatch: 1 },
            retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
            deadLetterWithResourceIdentity: {
                identity: { type: "SystemAssigned" },
                deadLetterDestination: {
                    endpointType: "StorageBlob",
                    resourceId: ACCOUNT_ID,
                    blobContainerName: "deadletter",
                },
            },
        },
        propertyDependencies: { systemTopicName: ["topic"] },
    };
}

function assignment(name: string, guid: string, scope: string, principalId: string, deps?: string[]): FixtureResource {
    return {
        type: T.assignment,
        name,
        inputs: { scope, roleDefinitionId: role(guid), principalId, principalType: "ServicePrincipal" },
        ...(deps ? { propertyDependencies: { roleDefinitionId: deps } } : {}),
    };
}

/** The compliant stack: every policy of the pack passes on it, advisory ones too. */
export function compliantStack(rules: readonly ApprovalRule[] = RULES): FixtureResource[] {
    return [
        { type: T.rg, name: "rg", inputs: { resourceGroupName: RG, location: "westeurope" } },
        {
            type: T.fleet,
            name: "fleet",
            inputs: { resourceGroupName: RG, fleetName: "flt-dev", location: "westeurope" },
        },
        {
            type: T.cluster,
            name: "aks-blue",
            inputs: {
                resourceGroupName: RG,
                resourceName: "aks-blue",
                aadProfile: { managed: true, enableAzureRBAC: true },
                disableLocalAccounts: true,
                enableRBAC: true,
            },
        },
        {
            type: T.arm,
            name: "strategy",
            inputs: {
                subscriptionId: SUB,
                resourceGroupName: RG,
                resourceProviderNamespace: "Microsoft.ContainerService",
                parentResourcePath: "fleets/flt-dev",
                resourceType: "updateStrategies",
                resourceName: "gated-rollout",
                apiVersion: "2026-06-01",
                properties: { strategy: { stages: STAGES } },
            },
            propertyDependencies: { parentResourcePath: ["fleet"] },
        },
        {
            type: T.topic,
            name: "topic",
            inputs: {
                resourceGroupName: RG,
                systemTopicName: "evgt-aks",
                location: "global",
                source: `/subscriptions/${SUB}`,
                topicType: "Microsoft.ResourceNotifications.AKSResources",
                identity: { type: "SystemAssigned" },
            },
        },
        ...rules.map((r) => subscription(`gate-${r.name}`, compileRuleFilter(r, FLEET_ID))),
        subscription("gate-lifecycle", compileLifecycleFilter(FLEET_ID)),
        assignment("handler-fleet-manager", BUILTIN_ROLES.fleetManagerContributor, FLEET_ID, HANDLER),
        assignment("handler-reader-aks-blue", BUILTIN_ROLES.reader, CLUSTER_ID, HANDLER),
        {
            type: T.definition,
            name: "approver-role",
            inputs: {
                scope: `/subscriptions/${SUB}`,
                roleDefinitionId: APPROVER_ROLE_GUID,
                roleName: "fleet-gates-gate-approver",
                roleType: "CustomRole",
                permissions: [
                    { actions: [...APPROVER_ROLE_ACTIONS], notActions: [], dataActions: [], notDataActions: [] },
                ],
                assignableScopes: [`/subscriptions/${SUB}/resourceGroups/${RG}`],
            },
        },
        assignment("approvers-gates", APPROVER_ROLE_GUID, FLEET_ID, APPROVERS, ["approver-role"]),
        assignment(
            "subscribers-notifications",
            BUILTIN_ROLES.resourceNotificationsSubscriber,
            `/subscriptions/${SUB}`,
            SUBSCRIBERS,
        ),
        assignment("subscribers-reader", BUILTIN_ROLES.reader, `/subscriptions/${SUB}`, SUBSCRIBERS),
        {
            type: T.webApp,
            name: "handler-app",
            inputs: {
                resourceGroupName: RG,
                name: "func-gates",
                kind: "functionapp,linux",
                httpsOnly: true,
                identity: { type: "UserAssigned", userAssignedIdentities: ["id"] },
                siteConfig: { minTlsVersion: "1.2", scmMinTlsVersion: "1.2", ftpsState: "Disabled" },
            },
        },
        {
            type: T.appSettings,
            name: "handler-app-settings",
            inputs: {
                resourceGroupName: RG,
                name: "func-gates",
                properties: { APPROVAL_RULES: JSON.stringify(rules), FLEET_ID },
            },
            propertyDependencies: { name: ["handler-app"] },
        },
        {
            type: T.scm,
            name: "handler-scm-basic-auth",
            inputs: { resourceGroupName: RG, name: "func-gates", allow: false },
            propertyDependencies: { name: ["handler-app"] },
        },
        {
            type: T.ftp,
            name: "handler-ftp-basic-auth",
            inputs: { resourceGroupName: RG, name: "func-gates", allow: false },
            propertyDependencies: { name: ["handler-app"] },
        },
    ];
}

export const TB = {
    app: "azuread:index/application:Application",
    sp: "azuread:index/servicePrincipal:ServicePrincipal",
    credential: "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential",
    flexible:
        "azuread:index/applicationFlexibleFederatedIdentityCredential:ApplicationFlexibleFederatedIdentityCredential",
    appRole: "azuread:index/appRoleAssignment:AppRoleAssignment",
} as const;

export const PREVIEW_APP = "55555555-5555-4555-8555-555555555501";
export const PREVIEW_CLIENT = "55555555-5555-4555-8555-555555555502";
export const PREVIEW_SP = "55555555-5555-4555-8555-555555555503";
export const DEPLOY_APP = "66666666-6666-4666-8666-666666666601";
export const DEPLOY_CLIENT = "66666666-6666-4666-8666-666666666602";
export const DEPLOY_SP = "66666666-6666-4666-8666-666666666603";
export const GRAPH_SP = "77777777-7777-4777-8777-777777777701";
/** What the deploy identity of the fixture may assign: Reader and the approvers' custom role. */
export const DEPLOY_ASSIGNABLE = [BUILTIN_ROLES.reader, APPROVER_ROLE_GUID];

function github(app: string, name: string, subject: string): FixtureResource {
    return {
        type: TB.credential,
        name: `${app}-${name}`,
        inputs: {
            applicationId: `/applications/${app === "preview" ? PREVIEW_APP : DEPLOY_APP}`,
            displayName: name,
            issuer: GITHUB_OIDC_ISSUER,
            audiences: [AZURE_TOKEN_EXCHANGE_AUDIENCE],
            subject,
        },
        propertyDependencies: { applicationId: [`${app}-app`] },
    };
}

/**
 * A compliant bootstrap (the shapes `bootstrap/` registers): a preview application trusted by pull
 * requests with Reader, and a deploy application trusted by two environments with Contributor and
 * Role Based Access Control Administrator under a constrain-roles condition, plus a Graph permission.
 */
export function compliantBootstrap(): FixtureResource[] {
    const sub = `/subscriptions/${SUB}`;
    const identity = (app: string, objectId: string, clientId: string, spId: string): FixtureResource[] => [
        { type: TB.app, name: `${app}-app`, inputs: { displayName: `fleet-gates-${app}`, objectId, clientId } },
        {
            type: TB.sp,
            name: `${app}-sp`,
            inputs: { clientId, objectId: spId },
            propertyDependencies: { clientId: [`${app}-app`] },
        },
    ];
    const grant = (
        name: string,
        guid: string,
        principal: string,
        extra: Record<string, unknown> = {},
    ): FixtureResource => ({
        type: T.assignment,
        name,
        inputs: {
            scope: sub,
            roleDefinitionId: role(guid),
            principalId: principal,
            principalType: "ServicePrincipal",
            ...extra,
        },
        propertyDependencies: { principalId: [principal === PREVIEW_SP ? "preview-sp" : "deploy-sp"] },
    });
    return [
        ...identity("preview", PREVIEW_APP, PREVIEW_CLIENT, PREVIEW_SP),
        github("preview", "github-pull-request", "repo:contoso/fleet-gates:pull_request"),
        ...identity("deploy", DEPLOY_APP, DEPLOY_CLIENT, DEPLOY_SP),
        github("deploy", "github-environment-dev", "repo:contoso/fleet-gates:environment:dev"),
        github("deploy", "github-environment-prod", "repo:contoso/fleet-gates:environment:prod"),
        grant("preview-reader", BUILTIN_ROLES.reader, PREVIEW_SP),
        grant("deploy-contributor", BUILTIN_ROLES.contributor, DEPLOY_SP),
        grant("deploy-rbac-administrator", BUILTIN_ROLES.roleBasedAccessControlAdministrator, DEPLOY_SP, {
            condition: constrainRolesCondition(DEPLOY_ASSIGNABLE),
            conditionVersion: CONDITION_VERSION,
        }),
        {
            type: TB.appRole,
            name: "deploy-graph-group-create",
            inputs: {
                appRoleId: "bf7b1a76-6e77-406b-b258-bf5c7720e98f",
                principalObjectId: DEPLOY_SP,
                resourceObjectId: GRAPH_SP,
            },
            propertyDependencies: { principalObjectId: ["deploy-sp"] },
        },
    ];
}

export function urnOf(type: string, name: string): string {
    return `urn:pulumi:test::fleet-gates::${type}::${name}`;
}

/** A plan of the fixture resources, in order; outputs equal inputs (as under the mocks). */
export function planOf(resources: readonly FixtureResource[]): Plan {
    const urns = new Map(resources.map((r) => [r.name, urnOf(r.type, r.name)]));
    const urn = (name: string) => {
        const u = urns.get(name);
        if (!u) throw new Error(`fixture: no resource "${name}"`);
        return u;
    };
    const planned = resources.map((r): PlannedResource => {
        const propertyDependencies = Object.fromEntries(
            Object.entries(r.propertyDependencies ?? {}).map(([k, names]) => [k, names.map(urn)]),
        );
        return {
            urn: urn(r.name),
            type: r.type,
            name: r.name,
            parent: r.parent ? urn(r.parent) : null,
            id: null,
            custom: r.custom ?? true,
            inputs: r.inputs,
            dependencies: [...new Set(Object.values(propertyDependencies).flat())],
            propertyDependencies,
            outputs: structuredClone(r.inputs),
        };
    });
    return {
        stack: "test",
        stackFile: { stack: "test", path: "Pulumi.test.yaml", config: {}, secretKeys: [] },
        resources: planned,
        outputs: {},
    };
}

/** A copy of the fixture with `edit` applied to the inputs of resource `name`. */
export function mutate(
    resources: readonly FixtureResource[],
    name: string,
    edit: (inputs: Record<string, unknown>) => void,
): FixtureResource[] {
    const copy = structuredClone(resources) as FixtureResource[];
    const r = copy.find((x) => x.name === name);
    if (!r) throw new Error(`fixture: no resource "${name}"`);
    edit(r.inputs);
    return copy;
}

/** A copy of the fixture without the named resources (and the dependencies on them). */
export function without(resources: readonly FixtureResource[], ...names: string[]): FixtureResource[] {
    const kept = structuredClone(resources.filter((r) => !names.includes(r.name))) as FixtureResource[];
    for (const r of kept)
        if (r.propertyDependencies)
            r.propertyDependencies = Object.fromEntries(
                Object.entries(r.propertyDependencies).map(([k, deps]) => [k, deps.filter((d) => !names.includes(d))]),
            );
    return kept;
}

/** Evaluates the whole pack over the fixture. */
export async function evaluate(
    resources: readonly FixtureResource[],
    opts?: EvaluateOptions,
): Promise<PolicyViolation[]> {
    return evaluatePolicies(planOf(resources), opts);
}

/** The violations of one policy only. */
export async function violationsOf(
    policy: string,
    resources: readonly FixtureResource[],
    opts?: EvaluateOptions,
): Promise<PolicyViolation[]> {
    return (await evaluate(resources, opts)).filter((v) => v.policy === policy);
}

/** Shorthand for the expected violation object. */
export function violation(
    policy: string,
    urn: string | null,
    message: string,
    level: PolicyViolation["level"] = "mandatory",
): PolicyViolation {
    return { policy, level, urn, message };
}
