/**
 * `function-app-hardened`: the gate handler holds a role that completes production gates. Its app
 * serves HTTPS only with TLS 1.2+, has no FTP/FTPS endpoint, no basic (user/password) publishing
 * credentials, and authenticates to Azure with a managed identity instead of secrets.
 *
 * Flex Consumption apps differ: the platform answers 400 for site config fields it does not support
 * (`netFrameworkVersion`, and in some regions `ftpsState`, `use32BitWorkerProcess`,
 * `functionsRuntimeScaleMonitoringEnabled`, even when null), and azure-native 3.28 adds
 * `netFrameworkVersion: "v4.6"` and `localMySqlEnabled: false` to any `siteConfig` it is given
 * (`siteConfigArgsProvideDefaults`). So a Flex app sends no `siteConfig` at all; FTP stays off through
 * its `WebAppFtpAllowed` (`basicPublishingCredentialsPolicies/ftp`) with `allow: false`, and TLS is the
 * platform's default for new apps, 1.2.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { eq } from "../../core/arm-id";
import { TYPES, azureName, isResourceType, obj, shown, str, type Props } from "./common";

/** Site config fields a Flex Consumption app must not send (Flex answers 400 for them). */
export const FLEX_REJECTED_SITE_CONFIG: readonly string[] = [
    "netFrameworkVersion",
    "ftpsState",
    "use32BitWorkerProcess",
    "functionsRuntimeScaleMonitoringEnabled",
    "linuxFxVersion",
];

const BASIC_PUBLISHING = [
    { endpoint: "scm", token: TYPES.scmAllowed, typeName: "WebAppScmAllowed" },
    { endpoint: "ftp", token: TYPES.ftpAllowed, typeName: "WebAppFtpAllowed" },
] as const;

/** True for a function app (`kind` contains `functionapp`). */
export function isFunctionApp(props: Props): boolean {
    return (str(props.kind) ?? "").toLowerCase().includes("functionapp");
}

/**
 * True for a Flex Consumption app: it has a `functionAppConfig` (only Flex takes one), or its plan in the
 * stack is an FC1 / FlexConsumption plan.
 */
export function isFlexApp(app: PolicyResource, resources: readonly PolicyResource[]): boolean {
    const p = app.props as Props;
    if (obj(p.functionAppConfig) !== undefined) return true;
    const plans = (app.propertyDependencies.serverFarmId ?? [])
        .map((d) => resources.find((r) => r.urn === d.urn))
        .filter((r): r is PolicyResource => r !== undefined && isResourceType(r.type, TYPES.appServicePlan));
    return plans.some((plan) => {
        const sku = obj((plan.props as Props).sku);
        return eq(str(sku?.tier), "FlexConsumption") || eq(str(sku?.name), "FC1");
    });
}

/** Findings about the app's own settings: HTTPS, TLS, FTP(S) and identity; for Flex, the site config it must not send. */
export function appSettingsProblems(name: string, props: Props, flex = false): string[] {
    const subject = `function app "${name}"`;
    const problems: string[] = [];
    if (props.httpsOnly !== true) problems.push(`${subject} does not set httpsOnly: true`);
    const site = obj(props.siteConfig) ?? {};
    const tls = str(site.minTlsVersion);
    if (flex) {
        const sent = FLEX_REJECTED_SITE_CONFIG.filter((k) => k in site);
        if (sent.length > 0)
            problems.push(
                `${subject} runs on Flex Consumption, which rejects ${sent.map((k) => `siteConfig.${k} ${shown(site[k])}`).join(", ")}; ` +
                    "send no siteConfig (azure-native adds netFrameworkVersion to any siteConfig) and keep FTP off with WebAppFtpAllowed allow: false",
            );
        if (tls !== undefined && !(Number.parseFloat(tls) >= 1.2))
            problems.push(`${subject} allows TLS ${tls} (siteConfig.minTlsVersion); set "1.2" or later`);
    } else {
        if (tls === undefined) problems.push(`${subject} does not set siteConfig.minTlsVersion; set "1.2" or later`);
        else if (!(Number.parseFloat(tls) >= 1.2))
            problems.push(`${subject} allows TLS ${tls} (siteConfig.minTlsVersion); set "1.2" or later`);
        if (!eq(str(site.ftpsState), "Disabled"))
            problems.push(
                `${subject} has siteConfig.ftpsState ${shown(site.ftpsState)}; set "Disabled" so neither FTP nor FTPS is served`,
            );
    }
    const identityType = str(obj(props.identity)?.type);
    if (!identityType || !/SystemAssigned|UserAssigned/i.test(identityType))
        problems.push(
            `${subject} has no managed identity (identity.type ${shown(identityType)}); give it a system- or user-assigned identity`,
        );
    return problems;
}

function publishingPolicyFor(app: PolicyResource, policies: readonly PolicyResource[]): PolicyResource | undefined {
    const p = app.props as Props;
    const name = azureName(p, "name", app.name);
    const rg = str(p.resourceGroupName);
    return (
        policies.find((r) => (r.propertyDependencies.name ?? []).some((d) => d.urn === app.urn)) ??
        policies.find((r) => {
            const rp = r.props as Props;
            const rrg = str(rp.resourceGroupName);
            return eq(str(rp.name), name) && (rg === undefined || rrg === undefined || eq(rg, rrg));
        })
    );
}

/** All findings for the stack's function apps, with the URN to report each at. */
export function functionAppProblems(resources: readonly PolicyResource[]): { urn: string; message: string }[] {
    const out: { urn: string; message: string }[] = [];
    for (const app of resources) {
        if (!isResourceType(app.type, TYPES.webApp) || !isFunctionApp(app.props as Props)) continue;
        const name = azureName(app.props as Props, "name", app.name);
        const flex = isFlexApp(app, resources);
        for (const message of appSettingsProblems(name, app.props as Props, flex)) out.push({ urn: app.urn, message });
        for (const b of BASIC_PUBLISHING) {
            const policy = publishingPolicyFor(
                app,
                resources.filter((r) => isResourceType(r.type, b.token)),
            );
            const allow = policy ? (policy.props as Props).allow : undefined;
            if (!policy)
                out.push({
                    urn: app.urn,
                    message:
                        `function app "${name}" allows basic publishing credentials for ${b.endpoint}: ` +
                        `add a ${b.typeName} resource for it with allow: false`,
                });
            else if (allow !== false)
                out.push({
                    urn: policy.urn,
                    message:
                        `function app "${name}" allows basic publishing credentials for ${b.endpoint}: ` +
                        `its ${b.typeName} "${policy.name}" sets allow: ${shown(allow)}; set allow: false`,
                });
        }
    }
    return out;
}

export const requireHardenedFunctionApp: StackValidationPolicy = {
    name: "function-app-hardened",
    description:
        "Function apps serve HTTPS only with TLS 1.2 or later, disable FTP and FTPS and basic publishing credentials, and use a managed identity; Flex Consumption apps send none of the site config fields Flex rejects.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        'Set httpsOnly, an identity, and WebAppScmAllowed/WebAppFtpAllowed with allow: false; on classic plans also siteConfig.minTlsVersion "1.2" and ftpsState "Disabled"; on Flex Consumption no siteConfig at all.',
    validateStack: (args, report) => {
        for (const d of functionAppProblems(args.resources)) report(d.message, d.urn);
    },
};
