/**
 * Deliberately insecure (pull-request-identity-read-only): the identity that pull-request workflows
 * sign in as holds Contributor, so unreviewed code could change the subscription.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import { BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";
import { GithubIdentity } from "../../bootstrap/github-identity";

const subscriptionId = authorization.getClientConfigOutput().subscriptionId;
const preview = new GithubIdentity("preview", {
    displayName: "fleet-gates-github-preview",
    description: "pull-request previews",
    repository: { owner: "contoso", name: "fleet-gates" },
    trusts: [{ kind: "pull_request" }],
});

new authorization.RoleAssignment("preview-contributor", {
    scope: pulumi.interpolate`/subscriptions/${subscriptionId}`,
    principalId: preview.principalId,
    principalType: "ServicePrincipal",
    roleDefinitionId: subscriptionId.apply((s) => roleDefinitionId(s, BUILTIN_ROLES.contributor)),
});
