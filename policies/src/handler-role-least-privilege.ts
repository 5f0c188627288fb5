/**
 * `handler-role-least-privilege`: whoever may complete gates (the handler's identity, approvers) gets
 * that right on the fleet only, and never together with a role that could grant itself more.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { BUILTIN_ROLES, PRIVILEGED_ROLES } from "../../core/roles";
import { grantsAction, isFleetScope, parseScope, rbacModel, roleLabel, type Assignment } from "./common";

export const GATES_WRITE_ACTION = "Microsoft.ContainerService/fleets/gates/write";

/** True when the assignment lets its principal complete gates: the Fleet Manager Contributor role or a custom role with gates/write. */
export function grantsGateApproval(a: Assignment): boolean {
    if (a.roleGuid === BUILTIN_ROLES.fleetManagerContributor) return true;
    return a.customRole !== undefined && grantsAction(a.customRole.permissions, GATES_WRITE_ACTION);
}

/** `fleet scope "..."`, `subscription scope "/subscriptions/..."`, `resource group scope "..."`, and so on. */
export function describeScope(scope: string): string {
    if (isFleetScope(scope)) return `fleet scope "${scope}"`;
    const s = parseScope(scope);
    switch (s.kind) {
        case "unrecognised":
        case "tenant":
            return `scope "${scope}"`;
        default:
            return `${s.kind} scope "${scope}"`;
    }
}

/** Findings about gate-approving assignments: scope other than a fleet, and privileged roles of the same principal. */
export function leastPrivilegeProblems(assignments: readonly Assignment[]): { urn: string; message: string }[] {
    const out: { urn: string; message: string }[] = [];
    const approvers = assignments.filter(grantsGateApproval);
    for (const a of approvers)
        if (!isFleetScope(a.scope))
            out.push({
                urn: a.resource.urn,
                message:
                    `role assignment "${a.name}" grants ${roleLabel(a)} at ${describeScope(a.scope)}; ` +
                    'assign it at the fleet (".../providers/Microsoft.ContainerService/fleets/<name>") only',
            });
    for (const p of assignments) {
        if (!p.principalId || !p.roleGuid || !PRIVILEGED_ROLES.includes(p.roleGuid)) continue;
        const approval = approvers.find((a) => a.principalId === p.principalId);
        if (!approval) continue;
        out.push({
            urn: p.resource.urn,
            message:
                `${p.principalLabel} holds ${roleLabel(approval)} (role assignment "${approval.name}") and also ` +
                `${roleLabel(p)} at ${describeScope(p.scope)} (role assignment "${p.name}"); an identity that completes ` +
                "gates must hold no Owner, Contributor, User Access Administrator or Role Based Access Control Administrator",
        });
    }
    return out;
}

export const requireLeastPrivilegeGateApproval: StackValidationPolicy = {
    name: "handler-role-least-privilege",
    description:
        "Roles that can complete fleet gates are assigned at fleet scope only, to identities without Owner, Contributor, User Access Administrator or Role Based Access Control Administrator.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Scope the Fleet Manager Contributor (or gates/write custom role) assignment to the fleet id; remove privileged roles from that identity.",
    validateStack: (args, report) => {
        for (const d of leastPrivilegeProblems(rbacModel(args.resources).assignments)) report(d.message, d.urn);
    },
};
