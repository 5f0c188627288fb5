/**
 * `handler-role-least-privilege`: whoever may complete gates (the handler's identity, approvers) gets
 * that right on the fleet only, and never together with a role that could grant itself more.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { BUILTIN_ROLES, HANDLER_START_RUN_ACTIONS, PRIVILEGED_ROLES } from "../../core/roles";
import { UPGRADE_EVENTS_SETTING } from "../../core/upgrade-events";
import {
    TYPES,
    grantsAction,
    isFleetScope,
    isResourceType,
    known,
    obj,
    parseScope,
    rbacModel,
    roleLabel,
    str,
    type Assignment,
    type Props,
} from "./common";

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

/**
 * True when a handler of the stack starts update runs: its app settings carry `UPGRADE_EVENTS` with
 * `startRun: true`; false when they say otherwise or carry none; undefined while the value is unknown
 * or when the stack has no handler.
 */
export function handlerStartsRuns(resources: readonly PolicyResource[]): boolean | undefined {
    let unknown = false;
    let handlers = 0;
    for (const r of resources) {
        if (!isResourceType(r.type, TYPES.webAppSettings)) continue;
        handlers++;
        const raw = known(() => obj((r.props as Props).properties)?.[UPGRADE_EVENTS_SETTING]);
        if (raw === undefined) {
            // Either no setting, or a value not known yet (a first preview).
            if (known(() => obj((r.props as Props).properties)) === undefined) unknown = true;
            continue;
        }
        const text = str(raw);
        if (text === undefined) continue;
        try {
            if ((JSON.parse(text) as { startRun?: unknown }).startRun === true) return true;
        } catch {
            // not JSON: the handler refuses to start with it; no run is started
        }
    }
    // Without a handler in the stack there is nothing to hold the run actions against.
    return unknown || handlers === 0 ? undefined : false;
}

/** Custom roles granting the start-run actions while no handler of the stack starts runs. */
export function startRunGrantProblems(resources: readonly PolicyResource[]): { urn: string; message: string }[] {
    const starts = handlerStartsRuns(resources);
    if (starts !== false) return [];
    return rbacModel(resources).roles.flatMap((role) => {
        // Named exactly: a wildcard is already a violation of custom-roles-no-wildcards, reported there once.
        const granted = HANDLER_START_RUN_ACTIONS.filter(
            (a) =>
                grantsAction(role.permissions, a) &&
                role.permissions.some((p) => p.actions.some((x) => x.toLowerCase() === a.toLowerCase())),
        );
        if (granted.length === 0) return [];
        return [
            {
                urn: role.resource.urn,
                message:
                    `custom role "${role.roleName}" grants ${granted.join(" and ")}, but no handler of this stack starts ` +
                    "update runs (upgradeEvents.startRun is off); remove them from the role",
            },
        ];
    });
}

export const requireLeastPrivilegeGateApproval: StackValidationPolicy = {
    name: "handler-role-least-privilege",
    description:
        "Roles that can complete fleet gates are assigned at fleet scope only, to identities without Owner, Contributor, User Access Administrator or Role Based Access Control Administrator; custom roles may start update runs only when the handler starts runs.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Scope the Fleet Manager Contributor (or gates/write custom role) assignment to the fleet id; remove privileged roles from that identity.",
    validateStack: (args, report) => {
        for (const d of leastPrivilegeProblems(rbacModel(args.resources).assignments)) report(d.message, d.urn);
        for (const d of startRunGrantProblems(args.resources)) report(d.message, d.urn);
    },
};
