/**
 * The gate handler's app settings and timer schedules: what the Function App is configured with, as
 * pure functions of the stack (tested with tables), apart from the component that creates the app;
 * with placements on a hub, the approval loop's `HUB_*` settings too.
 */
import * as pulumi from "@pulumi/pulumi";

/**
 * App settings a Flex Consumption app must not have: the runtime, its version and the content
 * location live in `functionAppConfig` (azure-facts §6; Learn "Flex Consumption plan deprecations").
 */
export const FLEX_DEPRECATED_APP_SETTINGS: readonly string[] = [
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_USE_PLACEHOLDER_DOTNETISOLATED",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "AzureWebJobsStorage",
    "APPINSIGHTS_INSTRUMENTATIONKEY",
];

/**
 * NCRONTAB (six fields, seconds first) for a sweep every `minutes` minutes: on the minutes of the hour
 * that are multiples of `minutes`, so 60 is the top of every hour (`*\/60` is outside the minute
 * field's 0-59 range, hence spelled `0`).
 */
export function sweepSchedule(minutes: number): string {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) {
        throw new Error(`sweepMinutes ${minutes} must be a whole number of minutes from 1 to 60`);
    }
    return minutes === 60 ? "0 0 * * * *" : `0 */${minutes} * * * *`;
}

export interface AppSettingInputs {
    readonly storageAccountName: pulumi.Input<string>;
    readonly clientId: pulumi.Input<string>;
    readonly appInsightsConnectionString: pulumi.Input<string>;
    readonly fleetId: pulumi.Input<string>;
    readonly subscriptionId: pulumi.Input<string>;
    readonly rulesJson: pulumi.Input<string>;
    /** `UPGRADE_EVENTS` (core/upgrade-events.ts), when AKS upgrade events are routed to the handler. */
    readonly upgradeEventsJson?: pulumi.Input<string>;
    readonly sweepMinutes: number;
    readonly escalateAfterMinutes: number;
    readonly notifyWebhookUrl?: pulumi.Input<string>;
    /** The hub approval loop's settings, when the stack has placements on a hub. */
    readonly hub?: HubAppSettingInputs;
}

/**
 * What the hub approval loop reads (`handlers/gate-approval/src/hub/settings.ts`): where the hub is,
 * which placements are the stack's, and the members' clusters by member name.
 */
export interface HubAppSettingInputs {
    /** `HUB_SERVER`: the hub's API server URL (https), from the fleet's `listCredentials`. */
    readonly server: pulumi.Input<string>;
    /** `HUB_CA_DATA`: the CA the hub's server certificate chains to (base64 PEM), from the same kubeconfig. */
    readonly caData?: pulumi.Input<string>;
    /** `HUB_PLACEMENTS`: JSON `[{ name, strategyName, namespace? }]` (`hubPlacementsSetting`). */
    readonly placementsJson: pulumi.Input<string>;
    /** `HUB_MEMBER_CLUSTERS`: JSON member name → AKS cluster id (`hubMemberClustersSetting`). */
    readonly memberClustersJson: pulumi.Input<string>;
}

/**
 * NCRONTAB of the hub approval loop's timer (`HUB_SCHEDULE`): every 30 seconds. The README's staged
 * rollouts section weighs this period: decision latency against executions and GB-s.
 */
export const HUB_SCHEDULE = "*/30 * * * * *";

/** `HUB_PLACEMENTS`: the handler's placements as JSON, in config order. */
export function hubPlacementsSetting(
    placements: readonly { readonly name: string; readonly strategyName: string; readonly namespace?: string }[],
): string {
    if (placements.length === 0) throw new Error("HUB_PLACEMENTS needs at least one placement");
    return JSON.stringify(
        placements.map((p) => ({
            name: p.name,
            strategyName: p.strategyName,
            ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
        })),
    );
}

/**
 * `HUB_MEMBER_CLUSTERS`: member (MemberCluster) name → its AKS cluster's ARM id, as JSON sorted by
 * member name (reordering members in config changes nothing).
 */
export function hubMemberClustersSetting(
    memberNames: readonly string[],
    clusterIds: Readonly<Record<string, string>>,
): string {
    const missing = memberNames.filter((m) => !clusterIds[m]);
    if (missing.length > 0) throw new Error(`HUB_MEMBER_CLUSTERS: no cluster id for member(s) ${missing.join(", ")}`);
    return JSON.stringify(Object.fromEntries([...memberNames].sort().map((m) => [m, clusterIds[m]!])));
}

/** The hub loop's app settings; the loop's timer is registered only when `HUB_SERVER` is set. */
function hubAppSettings(hub: HubAppSettingInputs): { name: string; value: pulumi.Input<string> }[] {
    return [
        { name: "HUB_SERVER", value: hub.server },
        ...(hub.caData !== undefined ? [{ name: "HUB_CA_DATA", value: hub.caData }] : []),
        { name: "HUB_PLACEMENTS", value: hub.placementsJson },
        { name: "HUB_MEMBER_CLUSTERS", value: hub.memberClustersJson },
        { name: "HUB_SCHEDULE", value: HUB_SCHEDULE },
    ];
}

/**
 * Azure Monitor's metrics (data plane) endpoint, one per region: the handler resolves `{region}`
 * for each member cluster, since the batch API answers only for resources of its own region.
 */
export const METRICS_ENDPOINT_TEMPLATE = "https://{region}.metrics.monitor.azure.com";

/**
 * The handler's app settings, in a stable order. Host storage and telemetry go through the
 * user-assigned identity (no keys, no connection strings with secrets); the webhook, when given,
 * is wrapped as a secret whatever the caller passed.
 */
export function handlerAppSettings(s: AppSettingInputs): { name: string; value: pulumi.Input<string> }[] {
    const settings: { name: string; value: pulumi.Input<string> }[] = [
        { name: "AzureWebJobsStorage__accountName", value: s.storageAccountName },
        { name: "AzureWebJobsStorage__credential", value: "managedidentity" },
        { name: "AzureWebJobsStorage__clientId", value: s.clientId },
        { name: "APPLICATIONINSIGHTS_CONNECTION_STRING", value: s.appInsightsConnectionString },
        {
            name: "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
            value: pulumi.interpolate`Authorization=AAD;ClientId=${s.clientId}`,
        },
        { name: "AZURE_CLIENT_ID", value: s.clientId },
        { name: "FLEET_ID", value: s.fleetId },
        { name: "SUBSCRIPTION_ID", value: s.subscriptionId },
        { name: "APPROVAL_RULES", value: s.rulesJson },
        { name: "SWEEP_SCHEDULE", value: sweepSchedule(s.sweepMinutes) },
        { name: "ESCALATE_AFTER_MINUTES", value: String(s.escalateAfterMinutes) },
        { name: "METRICS_ENDPOINT", value: METRICS_ENDPOINT_TEMPLATE },
    ];
    if (s.upgradeEventsJson !== undefined) settings.push({ name: "UPGRADE_EVENTS", value: s.upgradeEventsJson });
    if (s.hub !== undefined) settings.push(...hubAppSettings(s.hub));
    if (s.notifyWebhookUrl !== undefined) {
        settings.push({ name: "NOTIFY_WEBHOOK_URL", value: pulumi.secret(s.notifyWebhookUrl) });
    }
    const deprecated = settings.filter((x) => FLEX_DEPRECATED_APP_SETTINGS.includes(x.name));
    if (deprecated.length > 0)
        throw new Error(`Flex Consumption rejects app settings ${deprecated.map((x) => x.name).join(", ")}`);
    return settings;
}
