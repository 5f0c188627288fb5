/**
 * The gate handler: a Flex Consumption Function App running `handlers/gate-approval`, its
 * user-assigned identity and the roles that identity holds (DESIGN.md, "RBAC model"), its own
 * storage (shared keys disabled), monitoring, and the code deployment itself.
 */
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as applicationinsights from "@pulumi/azure-native/applicationinsights";
import * as authorization from "@pulumi/azure-native/authorization";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as operationalinsights from "@pulumi/azure-native/operationalinsights";
import * as storage from "@pulumi/azure-native/storage";
import * as web from "@pulumi/azure-native/web";
import { fleetResourceGroupId, formatArmId } from "../core/arm-id";
import {
    BUILTIN_ROLES,
    HANDLER_CUSTOM_ROLE_ACTIONS,
    HANDLER_START_RUN_ACTIONS,
    handlerRoleGuid,
    roleDefinitionId,
} from "../core/roles";
import {
    FLEX_DEPRECATED_APP_SETTINGS,
    handlerAppSettings,
    METRICS_ENDPOINT_TEMPLATE,
    sweepSchedule,
    type HubAppSettingInputs,
} from "./handler-settings";
import { stableRoleAssignment } from "./role-assignment";
import {
    buildHandlerPackage,
    GATE_EVENT_FUNCTION,
    HANDLER_FUNCTIONS,
    HandlerPackage,
    HUB_APPROVAL_FUNCTION,
    HandlerPublish,
    scmBaseUrlFor,
} from "./handler-package";

/**
 * Data roles of the handler identity on its own storage account.
 * - Blob Data Owner: the host's identity-based `AzureWebJobsStorage` (host keys and the timer's
 *   singleton lock and schedule status are blobs) and the Flex deployment container, which the
 *   platform reads and OneDeploy writes with this identity.
 * - Table Data Contributor: the Functions host writes its diagnostic events to Table storage of
 *   `AzureWebJobsStorage` (Learn: diagnostic event AZFD0003).
 * - No Queue Data Contributor: queues serve queue and blob triggers, retries of those, and
 *   Durable Functions; this app has an Event Grid trigger (delivered over HTTP) and a timer.
 */
export const HANDLER_STORAGE_ROLES: readonly { readonly key: string; readonly role: string }[] = [
    { key: "blob-data-owner", role: BUILTIN_ROLES.storageBlobDataOwner },
    { key: "table-data-contributor", role: BUILTIN_ROLES.storageTableDataContributor },
];

export interface GateHandlerArgs {
    readonly resourceGroupName: pulumi.Input<string>;
    readonly location: pulumi.Input<string>;
    /** Environment name, used in resource names: letters, digits and `-`. */
    readonly environment: string;
    readonly subscriptionId: pulumi.Input<string>;
    /** ARM id of the fleet whose gates the handler approves. */
    readonly fleetId: pulumi.Input<string>;
    /** Member names, known at plan time: they name the per-member role assignments. */
    readonly memberNames: readonly string[];
    /**
     * Member name → managed cluster id, one Input per member (so each member's role assignments wait
     * for that cluster only); its keys must be exactly `memberNames`.
     */
    readonly memberClusterIds: Readonly<Record<string, pulumi.Input<string>>>;
    /** The compiled approval rules (JSON), handed to the handler as `APPROVAL_RULES`. */
    readonly rulesJson: pulumi.Input<string>;
    /** `UPGRADE_EVENTS` (core/upgrade-events.ts), when AKS upgrade events are routed to the handler. */
    readonly upgradeEventsJson?: pulumi.Input<string>;
    /** The handler starts update runs (`upgradeEvents.startRun`): the custom role gains HANDLER_START_RUN_ACTIONS. */
    readonly startRun?: boolean;
    /** `fleet`: Fleet Manager Contributor; `custom-role`: a role with only HANDLER_CUSTOM_ROLE_ACTIONS. */
    readonly roleScope: "fleet" | "custom-role";
    /** Reconcile sweep period in minutes (1–60): the timer schedule `0 *\/N * * * *`, hourly for 60. */
    readonly sweepMinutes: number;
    /** Escalate a held gate after this many minutes; at least one sweep period. */
    readonly escalateAfterMinutes: number;
    /** Teams/Slack-compatible webhook; a secret, stored only as an app setting. */
    readonly notifyWebhookUrl?: pulumi.Input<string>;
    /**
     * The hub approval loop's settings (`HUB_*`), when the stack has placements on a hub: the app then
     * runs the `approval-requests` timer, and the publish waits for it.
     */
    readonly hub?: HubAppSettingInputs;
    /** Flex Consumption Node.js version (default "22"). */
    readonly nodeVersion?: "20" | "22";
    readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** A package built already (default: `buildHandlerPackage()` now, once per process). */
    readonly handlerPackage?: HandlerPackage;
    /**
     * ARM-audience bearer token for the OneDeploy publish, used as given. Default: none here; the
     * publish takes one from `DefaultAzureCredential` when it runs (a token taken at program start
     * would be minutes old by then, and may expire during a long first deployment).
     */
    readonly publishToken?: pulumi.Input<string>;
}

export { FLEX_DEPRECATED_APP_SETTINGS, handlerAppSettings, METRICS_ENDPOINT_TEMPLATE, sweepSchedule };
export type { AppSettingInputs, HubAppSettingInputs } from "./handler-settings";

const NAME_PART = /^[a-z0-9][a-z0-9-]{0,19}$/;
const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** Throws on args that cannot describe a valid handler, naming the field(s) at fault. */
export function validateGateHandlerArgs(
    args: Pick<
        GateHandlerArgs,
        "environment" | "memberNames" | "roleScope" | "sweepMinutes" | "escalateAfterMinutes" | "nodeVersion"
    >,
): void {
    if (!NAME_PART.test(args.environment)) {
        throw new Error(`environment "${args.environment}" must be 1-20 lower-case letters, digits or '-'`);
    }
    if (args.roleScope !== "fleet" && args.roleScope !== "custom-role") {
        throw new Error(`roleScope "${String(args.roleScope)}" must be "fleet" or "custom-role"`);
    }
    if (!Number.isInteger(args.sweepMinutes) || args.sweepMinutes < 1 || args.sweepMinutes > 60) {
        throw new Error(`sweepMinutes ${args.sweepMinutes} must be a whole number of minutes from 1 to 60`);
    }
    if (!Number.isInteger(args.escalateAfterMinutes) || args.escalateAfterMinutes < 1) {
        throw new Error(`escalateAfterMinutes ${args.escalateAfterMinutes} must be a positive whole number`);
    }
    if (args.escalateAfterMinutes < args.sweepMinutes) {
        throw new Error(
            `escalateAfterMinutes ${args.escalateAfterMinutes} is shorter than sweepMinutes ${args.sweepMinutes}: ` +
                "a held gate would escalate before the sweep could re-check it",
        );
    }
    if (args.nodeVersion !== undefined && args.nodeVersion !== "20" && args.nodeVersion !== "22") {
        throw new Error(`nodeVersion "${String(args.nodeVersion)}" must be "20" or "22" (Flex Consumption)`);
    }
    const seen = new Set<string>();
    for (const m of args.memberNames) {
        if (!MEMBER_NAME.test(m)) throw new Error(`memberNames: "${m}" is not a valid member name`);
        if (seen.has(m.toLowerCase())) throw new Error(`memberNames: "${m}" appears twice`);
        seen.add(m.toLowerCase());
    }
}

/** Throws unless `ids` has a cluster id (or an Output of one) for exactly the members in `memberNames`. */
export function validateMemberClusterIds(
    memberNames: readonly string[],
    ids: Readonly<Record<string, pulumi.Input<string>>>,
): void {
    const missing = memberNames.filter((m) => ids[m] === undefined || ids[m] === "");
    if (missing.length > 0)
        throw new Error(`memberClusterIds has no cluster id for member(s) ${missing.map((m) => `"${m}"`).join(", ")}`);
    const names = new Set(memberNames);
    const extra = Object.keys(ids).filter((k) => !names.has(k));
    if (extra.length > 0) throw new Error(`memberClusterIds has member(s) not in memberNames: ${extra.join(", ")}`);
}

function hex(seed: string, length: number): string {
    return crypto.createHash("sha256").update(seed).digest("hex").slice(0, length);
}

/** Storage account name (3-24 lower-case alphanumerics, globally unique): `stfg<env><hash8>`. */
export function storageAccountName(environment: string, seed: string): string {
    return `stfg${environment.replace(/[^a-z0-9]/g, "").slice(0, 12)}${hex(seed, 8)}`;
}

/** Function app name (global DNS label): `func-fleet-gates-<env>-<hash6>`. */
export function functionAppName(environment: string, seed: string): string {
    return `func-fleet-gates-${environment}-${hex(seed, 6)}`;
}

let defaultPackage: HandlerPackage | undefined;

/** The handler package built once per process (the program may construct several components). */
function defaultHandlerPackage(): HandlerPackage {
    defaultPackage ??= buildHandlerPackage();
    return defaultPackage;
}

export class GateHandler extends pulumi.ComponentResource {
    public readonly functionAppName: pulumi.Output<string>;
    public readonly functionAppId: pulumi.Output<string>;
    /** `<appId>/functions/gate-event`: the Event Grid `AzureFunction` destination. */
    public readonly eventFunctionId: pulumi.Output<string>;
    public readonly principalId: pulumi.Output<string>;
    public readonly clientId: pulumi.Output<string>;
    public readonly identityId: pulumi.Output<string>;
    public readonly storageAccountId: pulumi.Output<string>;
    public readonly storageAccountName: pulumi.Output<string>;
    /** Completes when the code is deployed and its functions are registered; `dependsOn` it. */
    public readonly deployment: HandlerPublish;

    constructor(name: string, args: GateHandlerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:handler:GateHandler", name, {}, opts);
        validateGateHandlerArgs(args);
        const env = args.environment;
        const seed = pulumi.interpolate`${args.subscriptionId}/${args.resourceGroupName}/${name}`;
        const accountName = seed.apply((s) => storageAccountName(env, s));
        const appName = seed.apply((s) => functionAppName(env, s));
        const identityName = `id-fleet-gates-${env}`;
        const insightsName = `appi-fleet-gates-${env}`;

        const { account, container } = this.storage(name, args, accountName);
        const identity = new managedidentity.UserAssignedIdentity(
            `${name}-identity`,
            {
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                resourceName: identityName,
                tags: args.tags,
            },
            { parent: this },
        );
        const insights = this.monitoring(name, args, insightsName);
        const site = this.functionApp(name, args, { appName, account, container, identity, insights });

        const idOf = (resource: pulumi.Resource, provider: string, type: string, n: pulumi.Input<string>) =>
            knownArmId(resource, args, provider, type, n);
        const accountId = idOf(account, "Microsoft.Storage", "storageAccounts", accountName);
        const storageAssignments = this.assignRoles(name, args, {
            identity,
            // Stands in for the principal in assignment names: the principal id is unknown until the identity exists.
            identityId: idOf(identity, "Microsoft.ManagedIdentity", "userAssignedIdentities", identityName),
            accountId,
            insightsId: idOf(insights, "Microsoft.Insights", "components", insightsName),
        });

        // Code: built now from the working tree, published with OneDeploy once the app identity can
        // write its deployment container and basic publishing is off.
        const pkg = args.handlerPackage ?? defaultHandlerPackage();
        const { app } = site;
        this.deployment = new HandlerPublish(
            `${name}-publish`,
            {
                appId: app.id,
                scmBaseUrl: pulumi
                    .all([app.defaultHostName, app.hostNameSslStates])
                    .apply(([host, states]) => scmBaseUrlFor(host, states ?? [])),
                zipPath: pkg.zipPath,
                packageHash: pkg.sha256,
                functionNames: [...HANDLER_FUNCTIONS, ...(args.hub ? [HUB_APPROVAL_FUNCTION] : [])],
                ...(args.publishToken !== undefined ? { accessToken: args.publishToken } : {}),
            },
            {
                parent: this,
                dependsOn: [app, site.appSettings, container, site.scmPolicy, site.ftpPolicy, ...storageAssignments],
            },
        );

        this.functionAppName = app.name;
        this.functionAppId = app.id;
        // Built from names like the scopes above: a first preview shows every subscription's destination.
        this.eventFunctionId = idOf(app, "Microsoft.Web", "sites", appName).apply(
            (id) => `${id}/functions/${GATE_EVENT_FUNCTION}`,
        );
        this.principalId = identity.principalId;
        this.clientId = identity.clientId;
        this.identityId = identity.id;
        this.storageAccountId = accountId;
        this.storageAccountName = pulumi.all([account.urn, accountName]).apply(([, n]) => n);
        this.registerOutputs({
            functionAppName: this.functionAppName,
            functionAppId: this.functionAppId,
            eventFunctionId: this.eventFunctionId,
            principalId: this.principalId,
            clientId: this.clientId,
            identityId: this.identityId,
            storageAccountId: this.storageAccountId,
            storageAccountName: this.storageAccountName,
            deployment: this.deployment,
        });
    }

    /** Storage: identity-only access, private, TLS 1.2, HTTPS; the deployment container. */
    private storage(name: string, args: GateHandlerArgs, accountName: pulumi.Input<string>) {
        const parent = { parent: this };
        const account = new storage.StorageAccount(
            `${name}-storage`,
            {
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                accountName,
                kind: "StorageV2",
                sku: { name: "Standard_LRS" },
                allowSharedKeyAccess: false,
                allowBlobPublicAccess: false,
                defaultToOAuthAuthentication: true,
                minimumTlsVersion: "TLS1_2",
                enableHttpsTrafficOnly: true,
                tags: args.tags,
            },
            parent,
        );
        const container = new storage.BlobContainer(
            `${name}-deployment-container`,
            {
                resourceGroupName: args.resourceGroupName,
                accountName: account.name,
                containerName: "app-package",
                publicAccess: "None",
            },
            parent,
        );
        return { account, container };
    }

    /** Logs and Application Insights over Entra ID only. */
    private monitoring(name: string, args: GateHandlerArgs, insightsName: string) {
        const parent = { parent: this };
        const { resourceGroupName, location, tags } = args;
        const workspace = new operationalinsights.Workspace(
            `${name}-logs`,
            {
                resourceGroupName,
                location,
                workspaceName: `log-fleet-gates-${args.environment}`,
                sku: { name: "PerGB2018" },
                retentionInDays: 30,
                tags,
            },
            parent,
        );
        return new applicationinsights.Component(
            `${name}-insights`,
            {
                resourceGroupName,
                location,
                resourceName: insightsName,
                kind: "web",
                applicationType: "web",
                workspaceResourceId: workspace.id,
                ingestionMode: "LogAnalytics",
                disableLocalAuth: true,
                tags,
            },
            parent,
        );
    }

    /** The Flex Consumption plan and app, its app settings, and basic publishing turned off. */
    private functionApp(
        name: string,
        args: GateHandlerArgs,
        deps: {
            appName: pulumi.Input<string>;
            account: storage.StorageAccount;
            container: storage.BlobContainer;
            identity: managedidentity.UserAssignedIdentity;
            insights: applicationinsights.Component;
        },
    ) {
        const parent = { parent: this };
        const { resourceGroupName, location, tags } = args;
        const { account, container, identity } = deps;
        const plan = new web.AppServicePlan(
            `${name}-plan`,
            {
                resourceGroupName,
                location,
                name: `asp-fleet-gates-${args.environment}`,
                kind: "functionapp",
                reserved: true,
                sku: { name: "FC1", tier: "FlexConsumption" },
                tags,
            },
            parent,
        );

        const app = new web.WebApp(
            `${name}-app`,
            {
                resourceGroupName,
                location,
                name: deps.appName,
                kind: "functionapp,linux",
                serverFarmId: plan.id,
                httpsOnly: true,
                identity: { type: "UserAssigned", userAssignedIdentities: [identity.id] },
                // No siteConfig at all: azure-native adds `netFrameworkVersion: "v4.6"` and `localMySqlEnabled`
                // to any siteConfig it is given, and Flex Consumption answers 400 for `netFrameworkVersion` (and,
                // in some regions, `ftpsState`). TLS 1.2 is the platform's default for new apps; FTP is off
                // through the WebAppFtpAllowed policy below; app settings live in their own resource.
                functionAppConfig: {
                    deployment: {
                        storage: {
                            type: "blobContainer",
                            value: pulumi.interpolate`${account.primaryEndpoints.blob}${container.name}`,
                            authentication: {
                                type: "UserAssignedIdentity",
                                userAssignedIdentityResourceId: identity.id,
                            },
                        },
                    },
                    runtime: { name: "node", version: args.nodeVersion ?? "22" },
                    scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 },
                },
                tags,
            },
            parent,
        );

        // The whole app settings collection (`sites/config/appsettings`): owned by this resource only.
        const appSettings = new web.WebAppApplicationSettings(
            `${name}-app-settings`,
            {
                resourceGroupName,
                name: app.name,
                properties: Object.fromEntries(
                    handlerAppSettings({
                        storageAccountName: account.name,
                        clientId: identity.clientId,
                        appInsightsConnectionString: deps.insights.connectionString,
                        fleetId: args.fleetId,
                        subscriptionId: args.subscriptionId,
                        rulesJson: args.rulesJson,
                        ...(args.upgradeEventsJson !== undefined ? { upgradeEventsJson: args.upgradeEventsJson } : {}),
                        sweepMinutes: args.sweepMinutes,
                        escalateAfterMinutes: args.escalateAfterMinutes,
                        notifyWebhookUrl: args.notifyWebhookUrl,
                        ...(args.hub !== undefined ? { hub: args.hub } : {}),
                    }).map((x) => [x.name, x.value]),
                ),
            },
            parent,
        );

        // No basic (user/password) publishing: deployment goes through Microsoft Entra ID.
        const scmPolicy = new web.WebAppScmAllowed(
            `${name}-scm-basic-auth`,
            { resourceGroupName, name: app.name, allow: false },
            parent,
        );
        const ftpPolicy = new web.WebAppFtpAllowed(
            `${name}-ftp-basic-auth`,
            { resourceGroupName, name: app.name, allow: false },
            parent,
        );
        return { app, appSettings, scmPolicy, ftpPolicy };
    }

    /**
     * Role assignments of the handler identity (DESIGN.md, RBAC model). Names and scopes are known at
     * preview (see `roleAssignmentGuid`); the principal id is not, and is not part of the name.
     * Returns the storage assignments, which the publish waits for.
     */
    private assignRoles(
        name: string,
        args: GateHandlerArgs,
        ids: {
            identity: managedidentity.UserAssignedIdentity;
            identityId: pulumi.Output<string>;
            accountId: pulumi.Output<string>;
            insightsId: pulumi.Output<string>;
        },
    ): authorization.RoleAssignment[] {
        const assign = (
            key: string,
            role: pulumi.Input<string>,
            scope: pulumi.Input<string>,
            deps: pulumi.Resource[] = [],
        ) =>
            stableRoleAssignment(
                this,
                name,
                {
                    key,
                    scope,
                    roleDefinitionId: role,
                    principalId: ids.identity.principalId,
                    principalType: "ServicePrincipal",
                    principalKey: ids.identityId,
                },
                deps,
            );
        const builtin = (guid: string) =>
            pulumi.output(args.subscriptionId).apply((sub) => roleDefinitionId(sub, guid));

        if (args.roleScope === "custom-role") {
            const definitionGuid = pulumi.output(args.fleetId).apply(handlerRoleGuid);
            const definition = this.customRole(name, args, definitionGuid);
            // `<scope>/providers/Microsoft.Authorization/roleDefinitions/<guid>` with the subscription as scope:
            // the form assignments take, built from known values so the assignment is checkable at preview.
            const definitionId = pulumi
                .all([definition.urn, args.subscriptionId, definitionGuid])
                .apply(([, sub, guid]) => roleDefinitionId(sub, guid));
            assign("fleet-gates", definitionId, args.fleetId, [definition]);
        } else {
            assign("fleet-manager", builtin(BUILTIN_ROLES.fleetManagerContributor), args.fleetId);
        }

        validateMemberClusterIds(args.memberNames, args.memberClusterIds); // fail before registering more
        for (const member of args.memberNames) {
            const clusterId = args.memberClusterIds[member]!;
            assign(`reader-${member}`, builtin(BUILTIN_ROLES.reader), clusterId);
            assign(`monitoring-reader-${member}`, builtin(BUILTIN_ROLES.monitoringReader), clusterId);
        }

        const storageAssignments = HANDLER_STORAGE_ROLES.map(({ key, role }) =>
            assign(`storage-${key}`, builtin(role), ids.accountId),
        );
        assign("insights-publisher", builtin(BUILTIN_ROLES.monitoringMetricsPublisher), ids.insightsId);
        return storageAssignments;
    }

    /** The gates-only custom role (`handler.roleScope: custom-role`). */
    private customRole(name: string, args: GateHandlerArgs, definitionGuid: pulumi.Output<string>) {
        const env = args.environment;
        return new authorization.RoleDefinition(
            `${name}-gates-role`,
            {
                scope: pulumi.interpolate`/subscriptions/${args.subscriptionId}`,
                roleDefinitionId: definitionGuid,
                roleName: pulumi
                    .output(args.fleetId)
                    .apply((f) => `fleet-gates-${env}-handler-${hex(f.toLowerCase(), 8)}`),
                description:
                    "fleet-gates handler: read the fleet and its update runs, read and complete approval gates.",
                roleType: "CustomRole",
                permissions: [
                    {
                        actions: [
                            ...HANDLER_CUSTOM_ROLE_ACTIONS,
                            ...(args.startRun === true ? HANDLER_START_RUN_ACTIONS : []),
                        ],
                        notActions: [],
                        dataActions: [],
                        notDataActions: [],
                    },
                ],
                // Assignable in the fleet's resource group (Azure refuses a resource here), assigned at the fleet.
                assignableScopes: [pulumi.output(args.fleetId).apply(fleetResourceGroupId)],
            },
            { parent: this },
        );
    }
}

/**
 * The ARM id of a resource created here, from names known at preview and chained on its URN (known
 * at preview too), as `Fleet` does: consumers still wait for the resource, and a first preview
 * already shows the role assignment scopes, so the policy pack can check them.
 */
function knownArmId(
    resource: pulumi.Resource,
    args: Pick<GateHandlerArgs, "subscriptionId" | "resourceGroupName">,
    provider: string,
    type: string,
    resourceName: pulumi.Input<string>,
): pulumi.Output<string> {
    return pulumi
        .all([resource.urn, args.subscriptionId, args.resourceGroupName, resourceName])
        .apply(([, sub, group, n]) =>
            formatArmId({ subscriptionId: sub, resourceGroup: group, provider, segments: [[type, n]] }),
        );
}
