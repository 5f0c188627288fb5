/**
 * Deliberately insecure (function-app-hardened): the gate handler's app still serves FTPS. Everything
 * else is hardened; a deployment endpoint with its own credentials is one more way to replace the code
 * that approves production gates.
 */
import * as resources from "@pulumi/azure-native/resources";
import * as web from "@pulumi/azure-native/web";

const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-handler" });
const app = new web.WebApp("handler-app", {
    resourceGroupName: rg.name,
    name: "func-fleet-gates",
    kind: "functionapp,linux",
    httpsOnly: true,
    identity: { type: "SystemAssigned" },
    siteConfig: { minTlsVersion: "1.2", ftpsState: "FtpsOnly" },
});
new web.WebAppScmAllowed("handler-scm-basic-auth", { resourceGroupName: rg.name, name: app.name, allow: false });
new web.WebAppFtpAllowed("handler-ftp-basic-auth", { resourceGroupName: rg.name, name: app.name, allow: false });
