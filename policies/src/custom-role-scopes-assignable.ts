/**
 * `custom-role-scopes-assignable`: Azure accepts only management groups, subscriptions and resource
 * groups as a custom role's assignable scopes; a resource id there (a fleet, a cluster) fails the role
 * definition at `pulumi up` although every offline check passes. Keep the role assignable in the
 * resource's resource group and narrow each assignment to the resource instead.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES, azureName, known, parseScope, strings, validateResourceOfToken, type Props } from "./common";

/** The resource group part of a resource scope, for the fix in the message. */
function resourceGroupOf(raw: string): string | undefined {
    const m = /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+)\/providers\//i.exec(raw);
    return m?.[1];
}

/** One finding per assignable scope that is a resource. */
export function assignableScopeProblems(props: Props, pulumiName: string): string[] {
    const subject = `custom role "${known(() => azureName(props, "roleName", pulumiName)) ?? pulumiName}"`;
    const problems: string[] = [];
    strings(props.assignableScopes).forEach((raw, i) => {
        if (parseScope(raw).kind !== "resource") return;
        const group = resourceGroupOf(raw);
        problems.push(
            `${subject}: assignableScopes[${i}] "${raw}" is a resource; Azure accepts only management groups, ` +
                `subscriptions or resource groups there: list ${group ? `"${group}"` : "its resource group"} and assign the role at the resource`,
        );
    });
    return problems;
}

export const requireAssignableCustomRoleScopes: ResourceValidationPolicy = {
    name: "custom-role-scopes-assignable",
    description:
        "Custom roles list only management groups, subscriptions or resource groups as assignable scopes, as Azure requires.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps:
        "Use the resource's resource group as the assignable scope and keep the role assignment at the resource.",
    validateResource: validateResourceOfToken(TYPES.roleDefinition, (props, args, report) => {
        for (const p of assignableScopeProblems(props, args.name)) report(p);
    }),
};
