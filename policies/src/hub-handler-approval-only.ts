/**
 * `hub-handler-approval-status-only`: on the fleet hub, the gate handler may read placements, runs
 * and approval requests and write only the status of approval requests (`clusterapprovalrequests/status`,
 * and `approvalrequests/status` through a Role of a namespaced placement's namespace). It must not
 * hold a Fleet Manager RBAC Writer/Admin/Cluster Admin role, nor be bound to `cluster-admin`/`admin`/
 * `edit` or to a role that writes anything else: an identity that approves rollouts must not be able
 * to change them.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import {
    HANDLER_WRITABLE_RESOURCES,
    HUB_WRITE_ROLES,
    KUBERNETES_WRITE_ROLES,
    WRITE_VERBS,
} from "../../core/hub-access";
import { PLACEMENT_GROUP } from "../../core/placement";
import { arr, known, obj, rbacModel, str, strings, type Props } from "./common";
import { grantsGateApproval } from "./handler-role-least-privilege";

const K8S = {
    clusterRole: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    clusterRoleBinding: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
    roleBinding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
} as const;

/** Label the program puts on the hub RBAC objects of the gate handler (components/hub-placements.ts). */
export const HANDLER_GRANT_LABEL = "fleet-gates.io/grants";

/** Principal key of a binding's subjects: their names when known, else the resources they come from. */
function subjectKeys(r: PolicyResource): string[] {
    const names = known(() => arr((r.props as Props).subjects).map((s) => str(obj(s)?.name)));
    if (names && names.every((n) => n !== undefined)) return (names as string[]).map((n) => n.toLowerCase());
    const deps = (r.propertyDependencies.subjects ?? []).filter((d) => !d.type.startsWith("pulumi:providers:"));
    return deps.length > 0
        ? [
              `from:${deps
                  .map((d) => d.urn)
                  .sort()
                  .join(",")}`,
          ]
        : [];
}

export interface HubRule {
    readonly apiGroups: readonly string[];
    readonly resources: readonly string[];
    readonly verbs: readonly string[];
}

/** What a role's rules let it write beyond approval-request status, as `verbs resources` phrases. */
export function excessWrites(rules: readonly HubRule[]): string[] {
    const out: string[] = [];
    for (const r of rules) {
        const writes = r.verbs.filter((v) => WRITE_VERBS.includes(v));
        if (writes.length === 0) continue;
        const groupsOk = r.apiGroups.length > 0 && r.apiGroups.every((g) => g === PLACEMENT_GROUP);
        const bad = r.resources.filter((res) => !HANDLER_WRITABLE_RESOURCES.includes(res));
        if (!groupsOk || bad.length > 0 || r.resources.length === 0)
            out.push(
                `${writes.join("/")} ${(groupsOk ? bad : r.resources).join(", ") || "(no resources)"} in API group${r.apiGroups.length === 1 ? "" : "s"} ${r.apiGroups.map((g) => `"${g}"`).join(", ")}`,
            );
    }
    return out;
}

/** The namespace of a namespaced RBAC object, when known. */
function namespaceOf(r: PolicyResource): string | undefined {
    return known(() => str(obj((r.props as Props).metadata)?.namespace));
}

function rulesOf(r: PolicyResource): HubRule[] {
    return arr((r.props as Props).rules).map((x) => {
        const p = obj(x) ?? {};
        return { apiGroups: strings(p.apiGroups), resources: strings(p.resources), verbs: strings(p.verbs) };
    });
}

/** Findings: hub write roles held by the handler, and bindings that give it more than approval status. */
export function hubHandlerProblems(resources: readonly PolicyResource[]): { urn: string; message: string }[] {
    const out: { urn: string; message: string }[] = [];
    const { assignments } = rbacModel(resources);
    const isBinding = (r: PolicyResource) => r.type === K8S.clusterRoleBinding || r.type === K8S.roleBinding;
    const labelled = (r: PolicyResource) =>
        str(obj(obj((r.props as Props).metadata)?.labels)?.[HANDLER_GRANT_LABEL]) === "gate-handler";

    // The handler: service principals that can complete Fleet gates, and subjects of the handler's hub bindings.
    const handler = new Set<string>();
    for (const a of assignments)
        if (grantsGateApproval(a) && a.principalId && str((a.resource.props as Props).principalType) !== "Group")
            handler.add(a.principalId);
    for (const b of resources.filter((r) => isBinding(r) && labelled(r)))
        for (const k of subjectKeys(b)) handler.add(k);
    if (handler.size === 0) return out;

    for (const a of assignments) {
        const role = a.roleGuid ? HUB_WRITE_ROLES.get(a.roleGuid) : undefined;
        if (role && a.principalId && handler.has(a.principalId))
            out.push({
                urn: a.resource.urn,
                message: `role assignment "${a.name}" grants the gate handler (${a.principalLabel}) ${role}; on the hub it may only read placements and runs and patch clusterapprovalrequests/status (the program's fleet-gates-approval-handler ClusterRole)`,
            });
    }

    const roles = resources.filter((r) => r.type === K8S.clusterRole || r.type === K8S.role);
    const roleName = (r: PolicyResource) => known(() => str(obj((r.props as Props).metadata)?.name)) ?? r.name;
    for (const b of resources.filter(isBinding)) {
        if (!labelled(b) && !subjectKeys(b).some((k) => handler.has(k))) continue;
        const ref = obj((b.props as Props).roleRef) ?? {};
        const name = known(() => str(ref.name));
        const bname = known(() => str(obj((b.props as Props).metadata)?.name)) ?? b.name;
        if (name === undefined) continue; // computed from a role of the stack during preview: checked on that role
        if (KUBERNETES_WRITE_ROLES.includes(name)) {
            out.push({
                urn: b.urn,
                message: `binding "${bname}" gives the gate handler the hub's "${name}" role; bind it to a role that writes only ${b.type === K8S.roleBinding ? "approvalrequests/status" : "clusterapprovalrequests/status"}`,
            });
            continue;
        }
        // A Role reference names a Role of the binding's namespace; a ClusterRole reference a ClusterRole.
        const namespaced = str(ref.kind) === "Role";
        const role = roles.find(
            (r) =>
                roleName(r) === name &&
                r.type === (namespaced ? K8S.role : K8S.clusterRole) &&
                (!namespaced || namespaceOf(r) === namespaceOf(b)),
        );
        if (!role) {
            out.push({
                urn: b.urn,
                message: `binding "${bname}" gives the gate handler role "${name}", which this stack does not define; its rights cannot be checked`,
            });
            continue;
        }
        const excess = excessWrites(rulesOf(role));
        if (excess.length > 0)
            out.push({
                urn: role.urn,
                message: `role "${name}" (bound to the gate handler by "${bname}") may ${excess.join("; ")}; the handler may write only ${role.type === K8S.role ? `approvalrequests/status in namespace "${namespaceOf(role) ?? ""}"` : "clusterapprovalrequests/status"}`,
            });
    }
    return out;
}

export const requireHubHandlerApprovalStatusOnly: StackValidationPolicy = {
    name: "hub-handler-approval-status-only",
    description:
        "On the fleet hub the gate handler holds no Fleet Manager RBAC Writer, Admin or Cluster Admin role and no Kubernetes role that writes anything but approval-request status.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Bind the handler only to the program's fleet-gates-approval-handler ClusterRole; remove Fleet Manager RBAC Writer/Admin/Cluster Admin assignments of its identity.",
    validateStack: (args, report) => {
        for (const d of hubHandlerProblems(args.resources)) report(d.message, d.urn);
    },
};
