/**
 * Deliberately insecure (production-stages-gated): the production stage starts without an approval;
 * the only gate is after the canary group, so a bad version rolls into production unattended.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as resources from "@pulumi/azure-native/resources";
import { ArmResource } from "../../components/arm-resource";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-fleet" });
const fleet = new containerservice.Fleet("fleet", { resourceGroupName: rg.name, fleetName: "flt-prod" });

new ArmResource("strategy", {
    subscriptionId,
    resourceGroupName: rg.name,
    resourceProviderNamespace: "Microsoft.ContainerService",
    parentResourcePath: pulumi.interpolate`fleets/${fleet.name}`,
    resourceType: "updateStrategies",
    resourceName: "gated-rollout",
    apiVersion: "2026-06-01",
    properties: {
        strategy: {
            stages: [
                {
                    name: "canary",
                    groups: [{ name: "canary", afterGates: [{ displayName: "canary healthy", type: "Approval" }] }],
                },
                { name: "prod-eu", groups: [{ name: "eu-blue" }] },
            ],
        },
    },
});
