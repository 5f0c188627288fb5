/**
 * The bootstrap program: the two identities GitHub Actions signs in as, and what each may do in the
 * subscription. `index.ts` calls it under `pulumi up`; the offline plan calls the same function.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import {
    deployAssignableRoleGuids,
    deployTrusts,
    githubVariables,
    previewTrusts,
    type BootstrapConfig,
} from "./config";
import { DeployAccess } from "./deploy-access";
import { GithubIdentity } from "./github-identity";
import { PreviewAccess } from "./preview-access";

export interface BootstrapOutputs {
    readonly subscriptionId: pulumi.Output<string>;
    readonly tenantId: pulumi.Output<string>;
    readonly previewClientId: pulumi.Output<string>;
    readonly deployClientId: pulumi.Output<string>;
    readonly previewSubjects: pulumi.Output<string[]>;
    readonly deploySubjects: pulumi.Output<string[]>;
    /** Role definition GUIDs the deploy identity may assign (the ABAC condition's list). */
    readonly assignableRoleGuids: pulumi.Output<string[]>;
    readonly roleAssignmentCondition: pulumi.Output<string>;
    /** What to set in GitHub: repository variables and each environment's variables. */
    readonly githubVariables: pulumi.Output<ReturnType<typeof githubVariables>>;
}

export function bootstrap(cfg: BootstrapConfig): BootstrapOutputs {
    const client = authorization.getClientConfigOutput();
    const subscriptionId = client.subscriptionId;
    const repo = `${cfg.repository.owner}/${cfg.repository.name}`;
    const stacks = cfg.stacks.map((s) => s.stack);

    const preview = new GithubIdentity("preview", {
        displayName: `${cfg.namePrefix}-github-preview`,
        description: `fleet-gates: pull-request previews of ${repo} (Reader on the subscription).`,
        repository: cfg.repository,
        trusts: previewTrusts(),
        owners: [...cfg.owners],
    });
    const deploy = new GithubIdentity("deploy", {
        displayName: `${cfg.namePrefix}-github-deploy`,
        description: `fleet-gates: deployments of ${repo} to ${stacks.join(", ")}.`,
        repository: cfg.repository,
        trusts: deployTrusts(cfg),
        owners: [...cfg.owners],
    });

    new PreviewAccess("preview-access", {
        subscriptionId,
        principalId: preview.principalId,
        principalKey: `github-app:${cfg.namePrefix}-github-preview`,
    });
    const assignableRoleGuids = subscriptionId.apply((sub) => deployAssignableRoleGuids(cfg.stacks, sub));
    const deployAccess = new DeployAccess("deploy-access", {
        subscriptionId,
        principalId: deploy.principalId,
        principalKey: `github-app:${cfg.namePrefix}-github-deploy`,
        assignableRoleGuids,
        roleNamePrefix: cfg.namePrefix,
        hubStacks: cfg.stacks.filter((s) => s.hubPlacements === true).map((s) => s.stack),
    });

    return {
        subscriptionId,
        tenantId: client.tenantId,
        previewClientId: preview.clientId,
        deployClientId: deploy.clientId,
        previewSubjects: preview.subjects,
        deploySubjects: deploy.subjects,
        assignableRoleGuids,
        roleAssignmentCondition: deployAccess.roleAssignmentCondition,
        githubVariables: pulumi
            .all([client.tenantId, subscriptionId, preview.clientId, deploy.clientId])
            .apply(([tenantId, sub, previewClientId, deployClientId]) =>
                githubVariables(stacks, { tenantId, subscriptionId: sub, previewClientId, deployClientId }),
            ),
    };
}
