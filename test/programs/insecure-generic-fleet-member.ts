/**
 * Deliberately wrong (fleet-children-not-generic): a fleet member created as azure-native's generic
 * resource. The mocks accept it; at `pulumi up` azure-native first checks that the member does not
 * exist with a GET at its own api-version (2024-03-01), which the Fleet resource provider answers 400
 * ("cannot check existence of resource"), and adds `location` to the body of this proxy resource.
 */
import * as pulumi from "@pulumi/pulumi";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as resources from "@pulumi/azure-native/resources";

const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-fleet" });
const fleet = new containerservice.Fleet("fleet", { resourceGroupName: rg.name, fleetName: "flt-dev" });
new resources.Resource("member", {
    resourceGroupName: rg.name,
    resourceProviderNamespace: "Microsoft.ContainerService",
    parentResourcePath: pulumi.interpolate`fleets/${fleet.name}`,
    resourceType: "members",
    resourceName: "aks-dev-blue-1",
    apiVersion: "2026-06-01",
    properties: {
        clusterResourceId:
            "/subscriptions/x/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/managedClusters/aks-dev-blue-1",
        group: "blue",
    },
});
