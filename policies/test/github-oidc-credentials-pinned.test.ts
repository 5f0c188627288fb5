/**
 * Policy github-oidc-credentials-pinned through the offline policy harness, on the bootstrap: GitHub
 * federated credentials name one repository and one pull-request, branch or environment subject, for the
 * token exchange audience.
 */
import { describe, expect, it } from "vitest";
import { TB, compliantBootstrap, mutate, urnOf, violation, violationsOf, type FixtureResource } from "./fixture";

const POLICY = "github-oidc-credentials-pinned";
const PR = urnOf(TB.credential, "preview-github-pull-request");
const EXACT =
    'trust exactly "repo:OWNER/REPO:pull_request", "repo:OWNER/REPO:ref:refs/heads/BRANCH" or "repo:OWNER/REPO:environment:NAME"';

const withSubject = (subject: string) =>
    mutate(compliantBootstrap(), "preview-github-pull-request", (i) => {
        i.subject = subject;
    });

describe(POLICY, () => {
    it("passes pull-request and environment subjects for the token exchange audience", async () => {
        expect(await violationsOf(POLICY, compliantBootstrap())).toEqual([]);
    });

    it.each([
        ["repo:contoso/*:pull_request", "contains a wildcard"],
        [
            "repo:contoso/fleet-gates:ref:refs/tags/v1",
            'names "ref:refs/tags/v1", not pull_request, ref:refs/heads/<branch> or environment:<name>',
        ],
        ["repo:contoso/fleet-gates", 'is not of the form "repo:OWNER/REPO:..."'],
        ["fleet-gates:pull_request", 'is not of the form "repo:OWNER/REPO:..."'],
    ])("rejects subject %s", async (subject, why) => {
        expect(await violationsOf(POLICY, withSubject(subject))).toEqual([
            violation(
                POLICY,
                PR,
                `federated credential "github-pull-request" has subject ${JSON.stringify(subject)}, which ${why}; ${EXACT}`,
            ),
        ]);
    });

    it("passes a pinned branch subject", async () => {
        expect(await violationsOf(POLICY, withSubject("repo:contoso/fleet-gates:ref:refs/heads/main"))).toEqual([]);
    });

    it("rejects any audience but api://AzureADTokenExchange", async () => {
        const stack = mutate(compliantBootstrap(), "deploy-github-environment-prod", (i) => {
            i.audiences = ["api://AzureADTokenExchange", "https://example.invalid"];
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(TB.credential, "deploy-github-environment-prod"),
                'federated credential "github-environment-prod" accepts audiences ["api://AzureADTokenExchange","https://example.invalid"]; ' +
                    'accept exactly ["api://AzureADTokenExchange"]',
            ),
        ]);
    });

    it("ignores credentials of other issuers", async () => {
        const stack = mutate(compliantBootstrap(), "preview-github-pull-request", (i) => {
            i.issuer = "https://login.example.invalid/issuer";
            i.subject = "anything*";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });

    it("applies to user-assigned identities' federated credentials too", async () => {
        const stack: FixtureResource[] = [
            ...compliantBootstrap(),
            {
                type: "azure-native:managedidentity:FederatedIdentityCredential",
                name: "uami-github",
                inputs: {
                    resourceGroupName: "rg-ci",
                    resourceName: "id-ci",
                    federatedIdentityCredentialResourceName: "github-main",
                    issuer: "https://token.actions.githubusercontent.com",
                    audiences: ["api://AzureADTokenExchange"],
                    subject: "repo:contoso/fleet-gates:ref:refs/heads/*",
                },
            },
        ];
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf("azure-native:managedidentity:FederatedIdentityCredential", "uami-github"),
                'federated credential "github-main" has subject "repo:contoso/fleet-gates:ref:refs/heads/*", which contains ' +
                    `a wildcard; ${EXACT}`,
            ),
        ]);
    });

    it("rejects flexible (claims-matching) credentials for GitHub's issuer", async () => {
        const stack: FixtureResource[] = [
            ...compliantBootstrap(),
            {
                type: TB.flexible,
                name: "deploy-any-branch",
                inputs: {
                    applicationId: "/applications/66666666-6666-4666-8666-666666666601",
                    displayName: "any-branch",
                    issuer: "https://token.actions.githubusercontent.com/",
                    audience: "api://AzureADTokenExchange",
                    claimsMatchingExpression: "claims['sub'] matches 'repo:contoso/fleet-gates:ref:refs/heads/*'",
                },
            },
        ];
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(TB.flexible, "deploy-any-branch"),
                'federated credential "any-branch" trusts GitHub Actions through a claims-matching expression, which can match many ' +
                    "subjects; use an ApplicationFederatedIdentityCredential with one exact subject per trusted pull request, branch or environment",
            ),
        ]);
    });
});
