/**
 * Deliberately insecure (member-clusters-entra-rbac): a member cluster with Entra ID and Azure RBAC
 * that still allows local accounts, whose certificate credentials bypass both.
 */
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as resources from "@pulumi/azure-native/resources";

const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-fleet" });
new containerservice.ManagedCluster("aks-dev-blue-1", {
    resourceGroupName: rg.name,
    resourceName: "aks-dev-blue-1",
    dnsPrefix: "aks-dev-blue-1",
    identity: { type: "SystemAssigned" },
    aadProfile: { managed: true, enableAzureRBAC: true },
    disableLocalAccounts: false,
    agentPoolProfiles: [{ name: "system", mode: "System", count: 1, vmSize: "Standard_D2s_v5" }],
});
