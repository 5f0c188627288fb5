/**
 * Access to the fleet hub's Kubernetes API: the Entra ID application AKS issues hub tokens for, the
 * Fleet Manager data-plane roles (too broad for the gate handler, which gets a Kubernetes ClusterRole
 * instead), and what the handler may write there. Shared by the program, the handler and the policy pack.
 */

/** The AKS Entra ID server application: hub tokens are issued for it (what kubelogin requests). */
export const AKS_AAD_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630";
export const AKS_TOKEN_SCOPE = `${AKS_AAD_SERVER_APP}/.default`;

/** Fleet Manager data-plane roles on the hub (reference/azure-facts.md), by GUID. */
export const FLEET_HUB_ROLES = {
    rbacReader: "30b27cfc-9c84-438e-b0ce-70e35255df80",
    rbacWriter: "5af6afb3-c06c-4fa4-8848-71a8aee05683",
    rbacAdmin: "434fb43a-c01c-447e-9f67-c3ad923cfaba",
    rbacClusterAdmin: "18ab4d3d-a1bf-4477-8ad9-8359bc988f69",
    hubClusterUser: "850c5848-fc51-4a9a-8823-f220370626e3",
} as const;

/** Hub roles that write far beyond approval-request status: never the handler's. */
export const HUB_WRITE_ROLES: ReadonlyMap<string, string> = new Map([
    [FLEET_HUB_ROLES.rbacWriter, "Azure Kubernetes Fleet Manager RBAC Writer"],
    [FLEET_HUB_ROLES.rbacAdmin, "Azure Kubernetes Fleet Manager RBAC Admin"],
    [FLEET_HUB_ROLES.rbacClusterAdmin, "Azure Kubernetes Fleet Manager RBAC Cluster Admin"],
]);

/** Kubernetes built-in ClusterRoles that write broadly. */
export const KUBERNETES_WRITE_ROLES: readonly string[] = ["cluster-admin", "admin", "edit"];

/** The only resources the handler may write on the hub. */
export const HANDLER_WRITABLE_RESOURCES: readonly string[] = [
    "clusterapprovalrequests/status",
    "approvalrequests/status",
];

/** Verbs that change something. */
export const WRITE_VERBS: readonly string[] = [
    "*",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "escalate",
    "bind",
    "impersonate",
];
