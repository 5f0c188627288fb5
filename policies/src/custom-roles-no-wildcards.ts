/**
 * `custom-roles-no-wildcards`: a wildcard in a custom role grants every action Azure adds to that
 * namespace later, unreviewed. The project's roles list exact actions (`core/roles.ts`).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES, arr, azureName, obj, strings, validateResourceOfToken, type Props } from "./common";

/** One finding per action or data action containing `*`. */
export function wildcardProblems(props: Props, pulumiName: string): string[] {
    const subject = `custom role "${azureName(props, "roleName", pulumiName)}"`;
    const problems: string[] = [];
    arr(props.permissions).forEach((p, i) => {
        for (const field of ["actions", "dataActions"] as const)
            strings(obj(p)?.[field]).forEach((action, j) => {
                if (action.includes("*"))
                    problems.push(
                        `${subject} grants "${action}" (permissions[${i}].${field}[${j}]); list the exact actions instead of a wildcard`,
                    );
            });
    });
    return problems;
}

export const disallowCustomRoleWildcards: ResourceValidationPolicy = {
    name: "custom-roles-no-wildcards",
    description: "Custom role definitions grant no action or data action containing a wildcard (*).",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: "Replace each wildcard with the exact actions the role needs (see core/roles.ts).",
    validateResource: validateResourceOfToken(TYPES.roleDefinition, (props, args, report) => {
        for (const p of wildcardProblems(props, args.name)) report(p);
    }),
};
