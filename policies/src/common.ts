/**
 * Shared reading of resource properties for the pack: type tokens, ARM scopes, role grants and the
 * relations between resources of a stack (which event subscription sits on which topic, which role
 * assignment assigns which custom role). Pure functions over plain property bags, so every policy
 * decides the same way; Azure facts (role ids, actions, filters) come from `../../core`.
 */
import {
    UnknownValueError,
    type PolicyResource,
    type ReportViolation,
    type ResourceValidation,
    type ResourceValidationArgs,
} from "@pulumi/policy";
import { GUID_PATTERN, eq, parseFleetId } from "../../core/arm-id";
import { BUILTIN_ROLES, roleGuidOf } from "../../core/roles";

export type Props = Record<string, unknown>;

/** The azure-native type tokens the pack reads. */
export const TYPES = {
    systemTopic: "azure-native:eventgrid:SystemTopic",
    eventSubscription: "azure-native:eventgrid:SystemTopicEventSubscription",
    roleAssignment: "azure-native:authorization:RoleAssignment",
    roleDefinition: "azure-native:authorization:RoleDefinition",
    genericResource: "azure-native:resources:Resource",
    /** `ArmResource` (components/arm-resource.ts): the generic resource's inputs, created at its own api-version. */
    armResource: "pulumi-nodejs:dynamic/fleet-gates:ArmResource",
    fleetUpdateStrategy: "azure-native:containerservice:FleetUpdateStrategy",
    managedCluster: "azure-native:containerservice:ManagedCluster",
    webApp: "azure-native:web:WebApp",
    appServicePlan: "azure-native:web:AppServicePlan",
    webAppSettings: "azure-native:web:WebAppApplicationSettings",
    scmAllowed: "azure-native:web:WebAppScmAllowed",
    ftpAllowed: "azure-native:web:WebAppFtpAllowed",
    application: "azuread:index/application:Application",
    servicePrincipal: "azuread:index/servicePrincipal:ServicePrincipal",
    appRoleAssignment: "azuread:index/appRoleAssignment:AppRoleAssignment",
    federatedCredential: "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential",
    flexibleFederatedCredential:
        "azuread:index/applicationFlexibleFederatedIdentityCredential:ApplicationFlexibleFederatedIdentityCredential",
    identityFederatedCredential: "azure-native:managedidentity:FederatedIdentityCredential",
} as const;

export const AKS_RESOURCES_TOPIC_TYPE = "Microsoft.ResourceNotifications.AKSResources";
const AKS_EVENT_TYPE_PREFIX = `${AKS_RESOURCES_TOPIC_TYPE}.`.toLowerCase();

/**
 * True when `type` is the token `token`, also in a versioned module (`azure-native:eventgrid/v20250215:SystemTopic`,
 * as older SDKs and locally generated ones spell it).
 */
export function isResourceType(type: string, token: string): boolean {
    if (type === token) return true;
    const [pkg, mod, name] = token.split(":");
    const m = /^([^:]+):([^:/]+)\/v[0-9a-z]+:([^:]+)$/.exec(type);
    return m !== null && m[1] === pkg && m[2] === mod && m[3] === name;
}

export function isObject(v: unknown): v is Props {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Props | undefined {
    return isObject(v) ? v : undefined;
}

export function str(v: unknown): string | undefined {
    return typeof v === "string" ? v : undefined;
}

export function arr(v: unknown): unknown[] {
    return Array.isArray(v) ? v : [];
}

/** The strings of a list property; other entries are skipped. */
export function strings(v: unknown): string[] {
    return arr(v).filter((x): x is string => typeof x === "string");
}

/** The Azure name of a resource for messages: its name property if set, else the Pulumi name. */
export function azureName(props: Props, key: string, fallback: string): string {
    return str(props[key]) ?? fallback;
}

/** A string for messages: quoted when present, `(not set)` otherwise. */
export function shown(v: unknown): string {
    return v === undefined || v === null ? "(not set)" : JSON.stringify(v);
}

/** True when `topicType` is the AKSResources topic type (ARM compares it ignoring case). */
export function isAksTopicType(topicType: unknown): boolean {
    return typeof topicType === "string" && eq(topicType, AKS_RESOURCES_TOPIC_TYPE);
}

/** True when an event type string belongs to the AKSResources topic (either spelling). */
export function isAksEventType(type: string): boolean {
    return type.toLowerCase().startsWith(AKS_EVENT_TYPE_PREFIX);
}

// ---------------------------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------------------------

export type ScopeKind =
    "tenant root" | "tenant" | "management group" | "subscription" | "resource group" | "resource" | "unrecognised";

export interface Scope {
    readonly raw: string;
    readonly kind: ScopeKind;
    readonly subscriptionId?: string;
    readonly resourceGroup?: string;
    readonly managementGroup?: string;
}

const MANAGEMENT_GROUP = /^\/providers\/Microsoft\.Management\/managementGroups\/([^/]+)$/i;
const IN_SUBSCRIPTION = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?(\/providers\/.+)?$/i;

/** Classifies an ARM scope: tenant root, management group, subscription, resource group or resource. */
export function parseScope(raw: string): Scope {
    const s = raw.length > 1 ? raw.replace(/\/+$/, "") : raw;
    if (s === "" || s === "/") return { raw, kind: "tenant root" };
    const mg = MANAGEMENT_GROUP.exec(s);
    if (mg) return { raw, kind: "management group", managementGroup: mg[1]! };
    if (/^\/providers\//i.test(s)) return { raw, kind: "tenant" };
    const m = IN_SUBSCRIPTION.exec(s);
    if (!m || !GUID_PATTERN.test(m[1]!)) return { raw, kind: "unrecognised" };
    const subscriptionId = m[1]!.toLowerCase();
    if (m[3] !== undefined) return { raw, kind: "resource", subscriptionId, resourceGroup: m[2] };
    if (m[2] !== undefined) return { raw, kind: "resource group", subscriptionId, resourceGroup: m[2] };
    return { raw, kind: "subscription", subscriptionId };
}

/** True when `scope` is exactly a Fleet (`.../Microsoft.ContainerService/fleets/{name}`). */
export function isFleetScope(scope: string): boolean {
    try {
        parseFleetId(scope.replace(/\/+$/, ""));
        return true;
    } catch {
        return false;
    }
}

/** `/subscriptions/{id}` of a subscription id. */
export function subscriptionScope(subscriptionId: string): string {
    return `/subscriptions/${subscriptionId}`;
}

/** The subscription named by a source like `/subscriptions/{guid}` (exactly), lower-cased. */
export function subscriptionOfSource(source: unknown): string | undefined {
    if (typeof source !== "string") return undefined;
    const m = /^\/subscriptions\/([0-9a-f-]{36})$/i.exec(source);
    return m && GUID_PATTERN.test(m[1]!) ? m[1]!.toLowerCase() : undefined;
}

// ---------------------------------------------------------------------------------------------
// Roles and actions
// ---------------------------------------------------------------------------------------------

/** Display names of the built-in roles this project knows (`core/roles.ts`). */
export const BUILTIN_ROLE_NAMES: ReadonlyMap<string, string> = new Map([
    [BUILTIN_ROLES.fleetManagerContributor, "Azure Kubernetes Fleet Manager Contributor Role"],
    [BUILTIN_ROLES.resourceNotificationsSubscriber, "Azure Resource Notifications System Topics Subscriber"],
    [BUILTIN_ROLES.reader, "Reader"],
    [BUILTIN_ROLES.monitoringReader, "Monitoring Reader"],
    [BUILTIN_ROLES.storageBlobDataOwner, "Storage Blob Data Owner"],
    [BUILTIN_ROLES.storageBlobDataContributor, "Storage Blob Data Contributor"],
    [BUILTIN_ROLES.storageQueueDataContributor, "Storage Queue Data Contributor"],
    [BUILTIN_ROLES.storageTableDataContributor, "Storage Table Data Contributor"],
    [BUILTIN_ROLES.owner, "Owner"],
    [BUILTIN_ROLES.contributor, "Contributor"],
    [BUILTIN_ROLES.userAccessAdministrator, "User Access Administrator"],
    [BUILTIN_ROLES.roleBasedAccessControlAdministrator, "Role Based Access Control Administrator"],
]);

/** Azure's action wildcard: `*` stands for any run of characters; actions compare ignoring case. */
export function actionMatches(pattern: string, action: string): boolean {
    const re = pattern
        .split("*")
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*");
    return new RegExp(`^${re}$`, "i").test(action);
}

export interface Permission {
    readonly actions: string[];
    readonly notActions: string[];
    readonly dataActions: string[];
    readonly notDataActions: string[];
}

export function permissionsOf(props: Props): Permission[] {
    return arr(props.permissions)
        .map(obj)
        .filter((p): p is Props => p !== undefined)
        .map((p) => ({
            actions: strings(p.actions),
            notActions: strings(p.notActions),
            dataActions: strings(p.dataActions),
            notDataActions: strings(p.notDataActions),
        }));
}

/** True when a permission block grants `action` (an action minus the block's notActions). */
export function grantsAction(permissions: readonly Permission[], action: string): boolean {
    return permissions.some(
        (p) => p.actions.some((a) => actionMatches(a, action)) && !p.notActions.some((n) => actionMatches(n, action)),
    );
}

/** True when a permission block grants read on everything (`*\/read` or broader). */
export function grantsReadEverything(permissions: readonly Permission[]): boolean {
    return permissions.some(
        (p) =>
            p.actions.some((a) => a === "*" || a.toLowerCase() === "*/read") &&
            // Any notAction that can remove a read (`.../read`, `.../*`, `*`) breaks "read everything".
            !p.notActions.some((n) => n === "*" || n.toLowerCase().endsWith("/read") || n.endsWith("/*")),
    );
}

export interface CustomRole {
    readonly resource: PolicyResource;
    /** The role's GUID (`roleDefinitionId` input, or the `name` output), lower-cased. */
    readonly guid?: string;
    readonly roleName: string;
    readonly permissions: Permission[];
}

export interface Assignment {
    readonly resource: PolicyResource;
    /** `roleAssignmentName` or the Pulumi name. */
    readonly name: string;
    /**
     * Who the assignment is for: the principal id (lower-cased), or, while it is unknown (a preview of
     * a new identity), the resources it is computed from. Undefined when neither is known.
     */
    readonly principalId?: string;
    /** `principal <id>` or `the principal of "<resource>"`, for messages. */
    readonly principalLabel: string;
    readonly scope: string;
    readonly roleDefinitionId: string;
    /** The built-in or custom role's GUID, lower-cased. */
    readonly roleGuid?: string;
    /** The custom role of this stack it assigns, if it assigns one. */
    readonly customRole?: CustomRole;
}

/** `read()`, or undefined when it reads a value that is unknown during preview. */
export function known<T>(read: () => T): T | undefined {
    try {
        return read();
    } catch (e) {
        if (e instanceof UnknownValueError) return undefined;
        throw e;
    }
}

function principalOf(r: PolicyResource): { key: string; label: string } | undefined {
    const id = known(() => str((r.props as Props).principalId));
    if (id) return { key: id.toLowerCase(), label: `principal ${id.toLowerCase()}` };
    const sources = (r.propertyDependencies.principalId ?? []).filter((d) => !d.type.startsWith("pulumi:providers:"));
    if (sources.length === 0) return undefined;
    return {
        key: `from:${sources
            .map((d) => d.urn)
            .sort()
            .join(",")}`,
        label: `the principal of ${sources.map((d) => `"${d.name}"`).join(", ")}`,
    };
}

function customRoleOf(r: PolicyResource): CustomRole {
    const p = r.props as Props;
    // The `name` output is unknown while the role is being created (a first preview): read it only when
    // the `roleDefinitionId` input does not give the GUID, and then only if it is known.
    const isGuid = (g: string | undefined): g is string => g !== undefined && GUID_PATTERN.test(g);
    const input = str(p.roleDefinitionId);
    const guid = isGuid(input) ? input : known(() => str(p.name));
    return {
        resource: r,
        guid: isGuid(guid) ? guid.toLowerCase() : undefined,
        roleName: known(() => str(p.roleName)) ?? r.name,
        permissions: permissionsOf(p),
    };
}

/** Role definitions and assignments of the stack, each assignment linked to the custom role it assigns. */
export function rbacModel(resources: readonly PolicyResource[]): { roles: CustomRole[]; assignments: Assignment[] } {
    const roles = resources.filter((r) => isResourceType(r.type, TYPES.roleDefinition)).map(customRoleOf);
    const byUrn = new Map(roles.map((d) => [d.resource.urn, d]));
    const assignments = resources
        .filter((r) => isResourceType(r.type, TYPES.roleAssignment))
        .map((r): Assignment => {
            const p = r.props as Props;
            // Ids computed from other resources are unknown during a preview that creates them: fall back
            // to the dependency graph instead of giving up on the whole stack.
            const roleDefinitionId = known(() => str(p.roleDefinitionId)) ?? "";
            const roleGuid = roleGuidOf(roleDefinitionId);
            const viaDependency = (r.propertyDependencies.roleDefinitionId ?? [])
                .map((d) => byUrn.get(d.urn))
                .find((d) => d !== undefined);
            const customRole = viaDependency ?? roles.find((d) => d.guid !== undefined && d.guid === roleGuid);
            const principal = principalOf(r);
            return {
                resource: r,
                name: known(() => str(p.roleAssignmentName)) ?? r.name,
                principalId: principal?.key,
                principalLabel: principal?.label ?? "an unknown principal",
                scope: str(p.scope) ?? "",
                roleDefinitionId,
                roleGuid: roleGuid ?? customRole?.guid,
                customRole,
            };
        });
    return { roles, assignments };
}

/** `Reader`, `custom role "x"`, or the role definition id for roles this project does not know. */
export function roleLabel(a: Assignment): string {
    if (a.customRole) return `custom role "${a.customRole.roleName}"`;
    const builtin = a.roleGuid ? BUILTIN_ROLE_NAMES.get(a.roleGuid) : undefined;
    return builtin ?? `role ${a.roleDefinitionId}`;
}

// ---------------------------------------------------------------------------------------------
// Event subscriptions on the AKSResources topic
// ---------------------------------------------------------------------------------------------

export interface TopicSubscription {
    readonly resource: PolicyResource;
    /** `eventSubscriptionName` or the Pulumi name. */
    readonly name: string;
    /** The topic resource when it is part of the stack. */
    readonly topic?: PolicyResource;
}

/** The system topic resource of the stack an event subscription sits on. */
export function topicOf(sub: PolicyResource, topics: readonly PolicyResource[]): PolicyResource | undefined {
    const isTopic = (r: PolicyResource) => isResourceType(r.type, TYPES.systemTopic);
    const viaProperty = (sub.propertyDependencies.systemTopicName ?? []).filter(isTopic);
    if (viaProperty.length === 1) return viaProperty[0];
    const p = sub.props as Props;
    const wanted = str(p.systemTopicName);
    const rg = str(p.resourceGroupName);
    if (wanted === undefined) return undefined;
    return topics.find((t) => {
        const tp = t.props as Props;
        const name = str(tp.systemTopicName) ?? str(tp.name);
        const trg = str(tp.resourceGroupName);
        return eq(name, wanted) && (rg === undefined || trg === undefined || eq(rg, trg));
    });
}

/**
 * The stack's event subscriptions on an AKSResources system topic: those whose topic is an AKSResources
 * topic of the stack, and those on a topic outside the stack (an adopted one) that ask for AKSResources
 * event types.
 */
export function aksTopicSubscriptions(resources: readonly PolicyResource[]): TopicSubscription[] {
    const topics = resources.filter((r) => isResourceType(r.type, TYPES.systemTopic));
    const out: TopicSubscription[] = [];
    for (const r of resources) {
        if (!isResourceType(r.type, TYPES.eventSubscription)) continue;
        const p = r.props as Props;
        const name = azureName(p, "eventSubscriptionName", r.name);
        const topic = topicOf(r, topics);
        if (topic) {
            if (isAksTopicType((topic.props as Props).topicType)) out.push({ resource: r, name, topic });
            continue;
        }
        const types = strings(obj(p.filter)?.includedEventTypes);
        if (types.some(isAksEventType)) out.push({ resource: r, name });
    }
    return out;
}

/** The AKSResources system topics of the stack. */
export function aksTopics(resources: readonly PolicyResource[]): PolicyResource[] {
    return resources.filter(
        (r) => isResourceType(r.type, TYPES.systemTopic) && isAksTopicType((r.props as Props).topicType),
    );
}

/**
 * The Azure subscription the stack deploys to, from (in order): the policy's `subscriptionId` config,
 * the source of an AKSResources topic, the azure-native provider's `subscriptionId`, and the
 * subscription of role definition ids. Undefined when nothing tells.
 */
export function stackSubscriptionId(resources: readonly PolicyResource[], configured?: string): string | undefined {
    if (configured) return configured.toLowerCase();
    for (const t of aksTopics(resources)) {
        const sub = subscriptionOfSource((t.props as Props).source);
        if (sub) return sub;
    }
    for (const r of resources) {
        const sub = str(r.provider?.props.subscriptionId);
        if (r.type.startsWith("azure-native:") && sub && GUID_PATTERN.test(sub)) return sub.toLowerCase();
    }
    for (const r of resources) {
        const p = r.props as Props;
        const id = isResourceType(r.type, TYPES.roleAssignment)
            ? str(p.roleDefinitionId)
            : isResourceType(r.type, TYPES.roleDefinition)
              ? str(p.scope)
              : undefined;
        const sub = id ? parseScope(id).subscriptionId : undefined;
        if (sub) return sub;
    }
    return undefined;
}

/**
 * A resource validation for one type token: other types are reported not applicable, as
 * `validateResourceOfType` does, without loading the provider SDK into the pack.
 */
export function validateResourceOfToken(
    token: string,
    validate: (props: Props, args: ResourceValidationArgs, report: ReportViolation) => void,
): ResourceValidation {
    return (args, report) => {
        if (!isResourceType(args.type, token))
            return args.notApplicable(`Policy only applies to resources of type '${token}'`);
        validate(args.props as Props, args, report);
    };
}

/** A GUID for JSON schema `pattern` (no regex flags there). */
export const GUID_SCHEMA_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
