/**
 * `member-clusters-entra-rbac`: member clusters authenticate people with Microsoft Entra ID and
 * authorise them with Azure RBAC, without local (certificate) accounts that bypass both, so the
 * handler's read access and everyone else's are governed in one place.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES, azureName, obj, validateResourceOfToken, type Props } from "./common";

/** What is missing from a managed cluster's identity settings; empty when nothing is. */
export function clusterAuthProblems(props: Props, pulumiName: string): string[] {
    const subject = `managed cluster "${azureName(props, "resourceName", pulumiName)}"`;
    const aad = obj(props.aadProfile) ?? {};
    const problems: string[] = [];
    if (aad.managed !== true)
        problems.push(`${subject} does not use Microsoft Entra ID integration; set aadProfile.managed: true`);
    if (aad.enableAzureRBAC !== true)
        problems.push(
            `${subject} does not use Azure RBAC for Kubernetes authorization; set aadProfile.enableAzureRBAC: true`,
        );
    if (props.disableLocalAccounts !== true)
        problems.push(`${subject} keeps local accounts; set disableLocalAccounts: true`);
    return problems;
}

export const requireEntraRbacClusters: ResourceValidationPolicy = {
    name: "member-clusters-entra-rbac",
    description: "Managed clusters use Microsoft Entra ID with Azure RBAC and disable local accounts.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: "Set aadProfile { managed: true, enableAzureRBAC: true } and disableLocalAccounts: true.",
    validateResource: validateResourceOfToken(TYPES.managedCluster, (props, args, report) => {
        for (const p of clusterAuthProblems(props, args.name)) report(p);
    }),
};
