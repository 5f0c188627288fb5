/**
 * `rbac-within-stack-subscription`: the stack manages one subscription. Role assignments and custom
 * roles that reach into a management group, the tenant root or another subscription grant far more
 * than the fleet needs and outlive the stack's blast radius.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { GUID_PATTERN } from "../../core/arm-id";
import {
    GUID_SCHEMA_PATTERN,
    TYPES,
    azureName,
    isResourceType,
    known,
    parseScope,
    str,
    strings,
    type Props,
} from "./common";

export interface SubscriptionConfig {
    /** The stack's subscription; default: the provider's `subscriptionId`, else the resource's own subscription. */
    readonly subscriptionId?: string;
}

const TAIL = "role assignments and custom roles must stay inside the stack's subscription";

/** The finding for one scope value, or undefined when it is inside `expected` (or any subscription if unknown). */
export function scopeProblem(subject: string, field: string, raw: string, expected?: string): string | undefined {
    const s = parseScope(raw);
    const at = `${subject}: ${field} "${raw}"`;
    switch (s.kind) {
        case "tenant root":
            return `${at} is the tenant root; ${TAIL}`;
        case "management group":
            return `${at} is management group "${s.managementGroup}"; ${TAIL}`;
        case "tenant":
        case "unrecognised":
            return `${at} is not inside a subscription; ${TAIL}`;
        default:
            if (expected && s.subscriptionId !== expected.toLowerCase())
                return `${at} is in subscription ${s.subscriptionId}, outside the stack's subscription ${expected.toLowerCase()}`;
            return undefined;
    }
}

/** Findings for a RoleAssignment or RoleDefinition's scopes; `stackSubscription` as configured or known from the provider. */
export function rbacScopeProblems(
    type: string,
    props: Props,
    pulumiName: string,
    stackSubscription?: string,
): string[] {
    const problems: (string | undefined)[] = [];
    if (isResourceType(type, TYPES.roleAssignment)) {
        // Names are for the message only: one unknown at preview must not stop the check of the scope.
        const subject = `role assignment "${known(() => azureName(props, "roleAssignmentName", pulumiName)) ?? pulumiName}"`;
        const expected = stackSubscription ?? parseScope(str(props.roleDefinitionId) ?? "").subscriptionId;
        problems.push(scopeProblem(subject, "scope", str(props.scope) ?? "", expected));
    } else if (isResourceType(type, TYPES.roleDefinition)) {
        const subject = `custom role "${known(() => azureName(props, "roleName", pulumiName)) ?? pulumiName}"`;
        const scope = str(props.scope) ?? "";
        const expected = stackSubscription ?? parseScope(scope).subscriptionId;
        problems.push(scopeProblem(subject, "scope", scope, expected));
        strings(props.assignableScopes).forEach((s, i) =>
            problems.push(scopeProblem(subject, `assignableScopes[${i}]`, s, expected)),
        );
    }
    return problems.filter((p): p is string => p !== undefined);
}

export const requireRbacWithinStackSubscription: ResourceValidationPolicy = {
    name: "rbac-within-stack-subscription",
    description:
        "Role assignments and custom-role assignable scopes stay inside the stack's subscription, never at a management group or the tenant root.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: {
        properties: { subscriptionId: { type: "string", pattern: GUID_SCHEMA_PATTERN } },
    },
    remediationSteps:
        "Scope role assignments and assignableScopes to the subscription, a resource group or a resource of it.",
    validateResource: (args, report) => {
        if (!isResourceType(args.type, TYPES.roleAssignment) && !isResourceType(args.type, TYPES.roleDefinition))
            return args.notApplicable(
                `Policy only applies to resources of type '${TYPES.roleAssignment}' or '${TYPES.roleDefinition}'`,
            );
        const configured = args.getConfig<SubscriptionConfig>().subscriptionId;
        const fromProvider = str(args.provider?.props.subscriptionId);
        const stackSubscription =
            configured ?? (fromProvider && GUID_PATTERN.test(fromProvider) ? fromProvider : undefined);
        for (const p of rbacScopeProblems(args.type, args.props as Props, args.name, stackSubscription)) report(p);
    },
};
