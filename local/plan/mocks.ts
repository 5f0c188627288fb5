/**
 * Runs a Pulumi program in-process under Pulumi's official mocks and records the resource graph:
 * every registration with its URN, parent, dependencies and fully resolved inputs. The mocks
 * synthesise ARM ids the way Azure shapes them, so ids flowing between resources (scopes, parent
 * paths, destinations) are realistic, and unknown invokes fail loudly instead of returning nothing.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export interface PlannedResource {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly parent: string | null;
    readonly id: string | null;
    readonly custom: boolean;
    readonly inputs: Record<string, unknown>;
    /** URNs this resource depends on (explicit `dependsOn` and inputs from other resources). */
    readonly dependencies: string[];
    readonly propertyDependencies: Record<string, string[]>;
    /** Output state the mock returned, for components their registered outputs. */
    readonly outputs: Record<string, unknown>;
}

export interface MockEnvironment {
    readonly project: string;
    readonly stack: string;
    readonly subscriptionId: string;
    readonly tenantId: string;
    /** Object id of the deploying principal (answer of getClientConfig). */
    readonly clientObjectId: string;
    readonly clientId: string;
    /** Pulumi config, keys namespaced (`fleet-gates:fleet`), values as Pulumi passes them (strings). */
    readonly config: Record<string, string>;
    readonly secretKeys: readonly string[];
    /**
     * Plan as a first `pulumi preview` sees it: nothing exists yet, so ids and every output that is
     * not an input are unknown.
     */
    readonly preview?: boolean;
}

/**
 * Made-up identities for offline runs; a stack may override them with `azure-native:subscriptionId` /
 * `azure-native:tenantId`. The subscription is the one of the published sample events in
 * `shared/fixtures/events/resolved`, so they replay against the dev stack as events of its fleet.
 */
export const OFFLINE_DEFAULTS = {
    subscriptionId: "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e",
    tenantId: "00000000-0000-4000-8000-0000000000aa",
    clientObjectId: "00000000-0000-4000-8000-0000000000cc",
    clientId: "00000000-0000-4000-8000-0000000000dd",
} as const;

export const SECRET_PLACEHOLDER = "[secret]";
/** How a plan shows a value known only after deployment. */
export const UNKNOWN_PLACEHOLDER = "[unknown]";

/** A GUID derived from its inputs, so mock ids and principal ids are stable across runs. */
export function stableGuid(...parts: string[]): string {
    const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

type Inputs = Record<string, unknown>;
interface Synth {
    id: string;
    state?: Inputs;
}

function str(v: unknown, fallback: string): string {
    return typeof v === "string" && v.length > 0 ? v : fallback;
}

/** ARM id and computed outputs per resource type, as Azure would return them. */
function synthesise(type: string, name: string, inputs: Inputs, env: MockEnvironment): Synth {
    const sub = `/subscriptions/${env.subscriptionId}`;
    const rg = `${sub}/resourceGroups/${str(inputs.resourceGroupName, "rg")}`;
    const guid = (k: string) => stableGuid(type, name, k);
    const identity = (): Inputs | undefined => {
        const id = inputs.identity as { type?: string } | undefined;
        if (!id?.type || !/SystemAssigned/i.test(id.type)) return id as Inputs | undefined;
        return { ...id, principalId: guid("principal"), tenantId: env.tenantId };
    };
    switch (type) {
        case "azure-native:resources:ResourceGroup":
            return { id: `${sub}/resourceGroups/${str(inputs.resourceGroupName, name)}` };
        case "azure-native:resources:Resource": {
            const parent =
                typeof inputs.parentResourcePath === "string" && inputs.parentResourcePath
                    ? `/${inputs.parentResourcePath}`
                    : "";
            const rn = str(inputs.resourceName, name);
            return {
                id: `${rg}/providers/${str(inputs.resourceProviderNamespace, "Unknown")}${parent}/${str(inputs.resourceType, "unknown")}/${rn}`,
                state: { name: rn },
            };
        }
        case "pulumi-nodejs:dynamic/fleet-gates:ArmResource": {
            // The id `ArmResource` returns: built from its parts, in the subscription it names.
            const parent =
                typeof inputs.parentResourcePath === "string" && inputs.parentResourcePath
                    ? `/${inputs.parentResourcePath}`
                    : "";
            const rn = str(inputs.resourceName, name);
            const id =
                `/subscriptions/${str(inputs.subscriptionId, env.subscriptionId)}/resourceGroups/${str(inputs.resourceGroupName, "rg")}` +
                `/providers/${str(inputs.resourceProviderNamespace, "Unknown")}${parent}/${str(inputs.resourceType, "unknown")}/${rn}`;
            return { id, state: { armId: id, provisioningState: "Succeeded" } };
        }
        case "azure-native:containerservice:Fleet":
            return {
                id: `${rg}/providers/Microsoft.ContainerService/fleets/${str(inputs.fleetName, name)}`,
                state: { identity: identity() },
            };
        case "azure-native:containerservice:ManagedCluster": {
            const rn = str(inputs.resourceName, name);
            return {
                id: `${rg}/providers/Microsoft.ContainerService/managedClusters/${rn}`,
                state: {
                    name: rn,
                    identity: identity(),
                    fqdn: `${rn}-${guid("dns").slice(0, 8)}.hcp.westeurope.azmk8s.io`,
                },
            };
        }
        case "azure-native:eventgrid:SystemTopic": {
            const rn = str(inputs.systemTopicName, name);
            return {
                id: `${rg}/providers/Microsoft.EventGrid/systemTopics/${rn}`,
                state: { name: rn, identity: identity(), metricResourceId: guid("metric") },
            };
        }
        case "azure-native:eventgrid:SystemTopicEventSubscription": {
            const rn = str(inputs.eventSubscriptionName, name);
            return {
                id: `${rg}/providers/Microsoft.EventGrid/systemTopics/${str(inputs.systemTopicName, "topic")}/eventSubscriptions/${rn}`,
                state: { name: rn },
            };
        }
        case "azure-native:storage:StorageAccount": {
            const rn = str(inputs.accountName, name);
            return {
                id: `${rg}/providers/Microsoft.Storage/storageAccounts/${rn}`,
                state: {
                    name: rn,
                    primaryEndpoints: {
                        blob: `https://${rn}.blob.core.windows.net/`,
                        queue: `https://${rn}.queue.core.windows.net/`,
                        table: `https://${rn}.table.core.windows.net/`,
                    },
                },
            };
        }
        case "azure-native:storage:BlobContainer": {
            const rn = str(inputs.containerName, name);
            return {
                id: `${rg}/providers/Microsoft.Storage/storageAccounts/${str(inputs.accountName, "account")}/blobServices/default/containers/${rn}`,
                state: { name: rn },
            };
        }
        case "azure-native:storage:Blob": {
            const rn = str(inputs.blobName, name);
            const url = `https://${str(inputs.accountName, "account")}.blob.core.windows.net/${str(inputs.containerName, "container")}/${rn}`;
            return { id: url, state: { name: rn, url } };
        }
        case "azure-native:managedidentity:UserAssignedIdentity": {
            const rn = str(inputs.resourceName, name);
            return {
                id: `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${rn}`,
                state: { name: rn, principalId: guid("principal"), clientId: guid("client"), tenantId: env.tenantId },
            };
        }
        case "azure-native:web:AppServicePlan": {
            const rn = str(inputs.name, name);
            return { id: `${rg}/providers/Microsoft.Web/serverfarms/${rn}`, state: { name: rn } };
        }
        case "azure-native:web:WebApp": {
            const rn = str(inputs.name, name);
            return {
                id: `${rg}/providers/Microsoft.Web/sites/${rn}`,
                state: { name: rn, defaultHostName: `${rn}.azurewebsites.net`, identity: identity() },
            };
        }
        case "azure-native:web:WebAppApplicationSettings":
            return {
                id: `${rg}/providers/Microsoft.Web/sites/${str(inputs.name, "site")}/config/appsettings`,
                state: { name: "appsettings" },
            };
        case "azure-native:web:WebAppScmAllowed":
        case "azure-native:web:WebAppFtpAllowed": {
            const policy = type.endsWith("ScmAllowed") ? "scm" : "ftp";
            return {
                id: `${rg}/providers/Microsoft.Web/sites/${str(inputs.name, "site")}/basicPublishingCredentialsPolicies/${policy}`,
                state: { name: policy },
            };
        }
        case "azure-native:operationalinsights:Workspace": {
            const rn = str(inputs.workspaceName, name);
            return {
                id: `${rg}/providers/Microsoft.OperationalInsights/workspaces/${rn}`,
                state: { name: rn, customerId: guid("customer") },
            };
        }
        case "azure-native:applicationinsights:Component": {
            const rn = str(inputs.resourceName, name);
            const key = guid("ikey");
            return {
                id: `${rg}/providers/Microsoft.Insights/components/${rn}`,
                state: {
                    name: rn,
                    instrumentationKey: key,
                    connectionString: `InstrumentationKey=${key};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/`,
                },
            };
        }
        case "azure-native:authorization:RoleAssignment": {
            const rn = str(inputs.roleAssignmentName, guid("assignment"));
            return {
                id: `${str(inputs.scope, sub)}/providers/Microsoft.Authorization/roleAssignments/${rn}`,
                state: { name: rn },
            };
        }
        case "azure-native:authorization:RoleDefinition": {
            const rn = str(inputs.roleDefinitionId, guid("definition"));
            return {
                id: `${str(inputs.scope, sub)}/providers/Microsoft.Authorization/roleDefinitions/${rn}`,
                state: { name: rn },
            };
        }
        case "azuread:index/group:Group": {
            const objectId = guid("object");
            return { id: objectId, state: { objectId } };
        }
        case "azuread:index/application:Application": {
            const objectId = guid("object");
            return { id: `/applications/${objectId}`, state: { objectId, clientId: guid("client") } };
        }
        case "azuread:index/servicePrincipal:ServicePrincipal": {
            const objectId = guid("object");
            return { id: `/servicePrincipals/${objectId}`, state: { objectId } };
        }
        case "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential": {
            const credentialId = guid("credential");
            return {
                id: `${str(inputs.applicationId, "/applications/app")}/federatedIdentityCredential/${credentialId}`,
                state: { credentialId },
            };
        }
        case "azuread:index/appRoleAssignment:AppRoleAssignment": {
            const assignment = guid("assignment");
            return {
                id: `/servicePrincipals/${str(inputs.resourceObjectId, "resource")}/appRoleAssignedTo/${assignment}`,
                state: { principalType: "ServicePrincipal" },
            };
        }
        default:
            if (type.startsWith("pulumi:providers:")) return { id: guid("provider") };
            // Programs given with --program may use any type: a stable, clearly synthetic id.
            return { id: `${rg}/providers/Offline.Mock/${type.replace(/[^A-Za-z0-9]+/g, "_")}/${name}` };
    }
}

/**
 * What a preview returns for a new resource: its inputs, and every output the provider would compute
 * (present in `computed` but not in `inputs`) unknown, in Pulumi's wire form for unknowns.
 */
export function unknownComputed(inputs: Inputs, computed: Inputs): Inputs {
    const out: Inputs = { ...inputs };
    for (const [k, v] of Object.entries(computed)) {
        const given = inputs[k];
        if (given === undefined) out[k] = pulumi.runtime.unknownValue;
        else if (isPlainObject(given) && isPlainObject(v)) out[k] = unknownComputed(given, v);
    }
    return out;
}

function isPlainObject(v: unknown): v is Inputs {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function invoke(token: string, env: MockEnvironment, args: Inputs = {}): Record<string, unknown> {
    switch (token) {
        case "azure-native:eventgrid:getSystemTopic": {
            // An existing AKSResources topic of this subscription, with its system-assigned identity.
            const rn = str(args.systemTopicName, "topic");
            const rg = str(args.resourceGroupName, "rg");
            const type = "azure-native:eventgrid:SystemTopic";
            return {
                id: `/subscriptions/${env.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.EventGrid/systemTopics/${rn}`,
                name: rn,
                type: "Microsoft.EventGrid/systemTopics",
                location: "global",
                source: `/subscriptions/${env.subscriptionId}`,
                topicType: "Microsoft.ResourceNotifications.AKSResources",
                identity: {
                    type: "SystemAssigned",
                    principalId: stableGuid(type, rn, "principal"),
                    tenantId: env.tenantId,
                },
                metricResourceId: stableGuid(type, rn, "metric"),
                provisioningState: "Succeeded",
                azureApiVersion: "2025-02-15",
                systemData: {},
            };
        }
        case "azure-native:authorization:getClientConfig":
            return {
                clientId: env.clientId,
                objectId: env.clientObjectId,
                subscriptionId: env.subscriptionId,
                tenantId: env.tenantId,
            };
        case "azuread:index/getClientConfig:getClientConfig":
            return { clientId: env.clientId, objectId: env.clientObjectId, tenantId: env.tenantId };
        case "azuread:index/getServicePrincipal:getServicePrincipal": {
            // A first-party service principal of the tenant (e.g. Microsoft Graph), found by its client id.
            const clientId = str(args.clientId, "");
            if (!clientId) {
                const message = "offline plan: the getServicePrincipal mock answers lookups by clientId only";
                throw Object.assign(new Error(message), { details: message });
            }
            const objectId = stableGuid("azuread:index/getServicePrincipal", env.tenantId, clientId);
            return { id: `/servicePrincipals/${objectId}`, objectId, clientId, appRoleIds: {} };
        }
        default: {
            // Pulumi rebuilds invoke errors from the gRPC `details` field.
            const message = `offline plan: no mock answers the invoke "${token}"; add it to local/plan/mocks.ts`;
            throw Object.assign(new Error(message), { details: message });
        }
    }
}

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getObject(): unknown;
    getDependenciesList(): string[];
    getPropertydependenciesMap(): { forEach(cb: (v: { getUrnsList(): string[] }, k: string) => void): void };
}

type Callback = (err: unknown, resp: { getUrn(): string; getId(): string } | undefined) => void;
interface MonitorLike {
    registerResource(req: RegisterRequest, cb: Callback): Promise<void>;
    resources: Map<string, { urn: string; id: string | null; state: unknown }>;
}

/** Replaces Pulumi secret wrappers with a placeholder, so a plan never prints a secret; unknowns in wire form. */
function redactSecrets(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(redactSecrets);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return SECRET_PLACEHOLDER;
        // In-process unknowns deserialize as `{ __pulumiUnknown: true }`; the engine (and so the
        // policy analyzer) sees the wire sentinel, which `@pulumi/policy` recognises.
        if (o.__pulumiUnknown === true && Object.keys(o).length === 1) return pulumi.runtime.unknownValue;
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, redactSecrets(x)]));
    }
    return v;
}

/**
 * Components may register resources as outputs. Deserializing such a reference would rehydrate the
 * resource through the engine (`getResource`), which mocks never answer: keep its URN instead.
 */
function resourceRefsToUrns(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(resourceRefsToUrns);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[pulumi.runtime.specialSigKey] === pulumi.runtime.specialResourceSig) return o.urn;
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resourceRefsToUrns(x)]));
    }
    return v;
}

export interface MockRun<T> {
    readonly resources: PlannedResource[];
    readonly result: T;
}

/**
 * Runs `program` under mocks with `env`'s config and returns every registered resource, in
 * registration order, once all registrations have settled.
 */
export async function runUnderMocks<T>(program: () => T | Promise<T>, env: MockEnvironment): Promise<MockRun<T>> {
    pulumi.runtime.setAllConfig(env.config, [...env.secretKeys]);
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const s = synthesise(args.type, args.name, args.inputs as Inputs, env);
                if (env.preview) return { id: undefined, state: unknownComputed(args.inputs as Inputs, s.state ?? {}) };
                // Azure returns every resource's `name`: the last segment of its id.
                const armName = s.id.split("/").pop() ?? args.name;
                return { id: s.id, state: { name: armName, ...(args.inputs as Inputs), ...s.state } };
            },
            call: (args) => invoke(args.token, env, args.inputs as Inputs),
        },
        env.project,
        env.stack,
        env.preview ?? false,
    );
    const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
    const records = new Map<string, Omit<PlannedResource, "id" | "outputs">>();
    const order: string[] = [];
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = async (req, cb) => {
        const propertyDependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((v, k) => {
            propertyDependencies[k] = v.getUrnsList();
        });
        const struct = req.getObject() as { toJavaScript(): unknown } | undefined;
        const inputs = redactSecrets(pulumi.runtime.deserializeProperties(struct as never, true)) as Record<
            string,
            unknown
        >;
        return original(req, (err, resp) => {
            if (!err && resp) {
                const urn = resp.getUrn();
                const allDeps = new Set([...req.getDependenciesList(), ...Object.values(propertyDependencies).flat()]);
                records.set(urn, {
                    urn,
                    type: req.getType(),
                    name: req.getName(),
                    parent: req.getParent() || null,
                    custom: req.getCustom(),
                    inputs,
                    dependencies: [...allDeps].filter((d) => d !== req.getParent()),
                    propertyDependencies,
                });
                order.push(urn);
            }
            cb(err, resp);
        });
    };

    // An exception inside an `apply` surfaces only as an unhandled rejection: collect them, so a
    // broken program fails the run with its message instead of planning a partial graph.
    const errors: unknown[] = [];
    let failed: () => void = () => undefined;
    const firstError = new Promise<void>((resolve) => (failed = resolve));
    const onRejection = (e: unknown) => {
        errors.push(e);
        failed();
    };
    process.on("unhandledRejection", onRejection);
    // Pulumi records a stack trace for every promise it creates, read only by its leak debugging;
    // formatting them (through source maps) is most of a large plan's time. Keep them when asked.
    const stackTraceLimit = Error.stackTraceLimit;
    if (!process.env.PULUMI_DEBUG_PROMISE_LEAKS) Error.stackTraceLimit = 0;
    let result: T;
    try {
        result = await program();
        // After an error some registrations never complete; give the rest a moment, then report.
        await Promise.race([waitForRegistrations(), firstError.then(() => delay(500))]);
        await delay(0);
    } finally {
        Error.stackTraceLimit = stackTraceLimit;
        process.off("unhandledRejection", onRejection);
    }
    if (errors.length > 0) throw new ProgramError(errors);
    const resources = order.map((urn): PlannedResource => {
        const r = records.get(urn)!;
        const m = monitor.resources.get(urn);
        // Custom resources hold the mock's serialized state; components the Struct of their registered outputs.
        const raw =
            m?.state && typeof m.state === "object" && "toJavaScript" in m.state
                ? (m.state as { toJavaScript(): unknown }).toJavaScript()
                : m?.state;
        return {
            ...r,
            id: r.custom ? (m?.id ?? null) : null,
            outputs: redactSecrets(pulumi.runtime.deserializeProperty(resourceRefsToUrns(raw ?? {}))) as Record<
                string,
                unknown
            >,
        };
    });
    return { resources, result };
}

/** The program failed while it ran: every distinct error, in order. */
export class ProgramError extends Error {
    constructor(readonly causes: readonly unknown[]) {
        const messages = [...new Set(causes.map((e) => (e instanceof Error ? e.message : String(e))))];
        super(`the program failed:\n  - ${messages.join("\n  - ")}`);
        this.name = "ProgramError";
    }
}

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until the Pulumi runtime has no RPC in flight (every registration answered). */
async function waitForRegistrations(): Promise<void> {
    // `waitForRPCs` is what `pulumi up` itself awaits before exiting; it is not in the public typings.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
    await settings.waitForRPCs();
}

/** Resolves every Output nested in `value` (program exports), redacting secrets. */
export async function resolveOutputs(value: unknown): Promise<unknown> {
    if (pulumi.Output.isInstance(value)) {
        // `apply` never runs on an unknown value (preview), so read the Output's own state instead;
        // `isKnown` and `promise` are what Pulumi's runtime uses internally, not in the public typings.
        const o = value as unknown as { isKnown: Promise<boolean>; promise(withUnknowns?: boolean): Promise<unknown> };
        if (!(await o.isKnown)) return UNKNOWN_PLACEHOLDER;
        const secret = await pulumi.isSecret(value as pulumi.Output<unknown>);
        return secret ? SECRET_PLACEHOLDER : resolveOutputs(await o.promise(true));
    }
    if (value === pulumi.runtime.unknownValue) return UNKNOWN_PLACEHOLDER;
    if (value instanceof Promise) return resolveOutputs(await value);
    if (Array.isArray(value)) return Promise.all(value.map(resolveOutputs));
    if (value && typeof value === "object" && !(value instanceof pulumi.Resource)) {
        const entries = await Promise.all(
            Object.entries(value).map(async ([k, v]) => [k, await resolveOutputs(v)] as const),
        );
        return Object.fromEntries(entries);
    }
    return value;
}
