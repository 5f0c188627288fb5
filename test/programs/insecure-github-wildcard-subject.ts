/**
 * Deliberately insecure (github-oidc-credentials-pinned): a federated credential trusts every job of
 * the repository through a wildcard, which Entra ID would never match, inviting a broader fix.
 */
import * as azuread from "@pulumi/azuread";

const app = new azuread.Application("deploy-app", { displayName: "fleet-gates-github-deploy" });
new azuread.ApplicationFederatedIdentityCredential("deploy-any-job", {
    applicationId: app.id,
    displayName: "github-any-job",
    issuer: "https://token.actions.githubusercontent.com",
    audiences: ["api://AzureADTokenExchange"],
    subject: "repo:contoso/fleet-gates:*",
});
