/**
 * Deliberately insecure (hub-handler-approval-status-only): the hub ClusterRole bound to the gate
 * handler may also patch staged update runs, so the identity that approves rollouts could change them.
 */
import { ClusterRole, ClusterRoleBinding } from "@pulumi/kubernetes/rbac/v1";
import { Provider } from "@pulumi/kubernetes/provider";

const provider = new Provider("hub", { kubeconfig: "{}" });
const labels = { "fleet-gates.io/grants": "gate-handler" };
new ClusterRole(
    "hub-handler",
    {
        metadata: { name: "fleet-gates-approval-handler", labels },
        rules: [
            {
                apiGroups: ["placement.kubernetes-fleet.io"],
                resources: ["clusterapprovalrequests", "clusterstagedupdateruns"],
                verbs: ["get", "list", "watch"],
            },
            {
                apiGroups: ["placement.kubernetes-fleet.io"],
                resources: ["clusterapprovalrequests/status", "clusterstagedupdateruns"],
                verbs: ["patch"],
            },
        ],
    },
    { provider },
);
new ClusterRoleBinding(
    "hub-handler",
    {
        metadata: { name: "fleet-gates-approval-handler", labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "fleet-gates-approval-handler" },
        subjects: [
            { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "11111111-1111-4111-8111-111111111111" },
        ],
    },
    { provider },
);
