/**
 * Deliberately wrong (function-app-hardened): a Flex Consumption handler app given a `siteConfig`, as on
 * a classic plan. The mocks accept it; azure-native adds `netFrameworkVersion: "v4.6"` to any siteConfig,
 * and Flex Consumption answers 400 for it (and, in some regions, for `ftpsState`).
 */
import * as resources from "@pulumi/azure-native/resources";
import * as web from "@pulumi/azure-native/web";

const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-handler" });
const plan = new web.AppServicePlan("plan", {
    resourceGroupName: rg.name,
    kind: "functionapp",
    reserved: true,
    sku: { name: "FC1", tier: "FlexConsumption" },
});
const app = new web.WebApp("handler-app", {
    resourceGroupName: rg.name,
    name: "func-fleet-gates",
    kind: "functionapp,linux",
    serverFarmId: plan.id,
    httpsOnly: true,
    identity: { type: "SystemAssigned" },
    siteConfig: { minTlsVersion: "1.2", ftpsState: "Disabled" },
    functionAppConfig: { runtime: { name: "node", version: "22" } },
});
new web.WebAppScmAllowed("handler-scm-basic-auth", { resourceGroupName: rg.name, name: app.name, allow: false });
new web.WebAppFtpAllowed("handler-ftp-basic-auth", { resourceGroupName: rg.name, name: app.name, allow: false });
