/**
 * `github-oidc-credentials-pinned`: a federated credential that trusts GitHub Actions tokens hands an
 * Azure identity to every job whose token matches it. Entra ID matches the subject exactly, so the
 * subject must name one repository and one of: its pull requests, one branch, or one environment.
 * Flexible credentials (claims-matching expressions) can match many subjects and are refused for
 * GitHub's issuer; the audience must be Entra ID's token exchange audience only.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { AZURE_TOKEN_EXCHANGE_AUDIENCE, GITHUB_OIDC_ISSUER, parseGithubSubject } from "../../core/github-oidc";
import { TYPES, isResourceType, known, str, strings, type Props } from "./common";

/** True when `issuer` is GitHub Actions' OIDC issuer (a trailing slash is the same issuer). */
export function isGithubIssuer(issuer: unknown): boolean {
    return typeof issuer === "string" && issuer.replace(/\/+$/, "").toLowerCase() === GITHUB_OIDC_ISSUER;
}

/** Findings for one credential resource of type `type`; empty when it does not trust GitHub or is pinned. */
export function githubCredentialProblems(type: string, props: Props, pulumiName: string): string[] {
    const name = known(() => str(props.displayName) ?? str(props.federatedIdentityCredentialResourceName));
    const subject = `federated credential "${name ?? pulumiName}"`;
    if (!isGithubIssuer(props.issuer)) return [];
    if (isResourceType(type, TYPES.flexibleFederatedCredential)) {
        return [
            `${subject} trusts GitHub Actions through a claims-matching expression, which can match many subjects; ` +
                "use an ApplicationFederatedIdentityCredential with one exact subject per trusted pull request, branch or environment",
        ];
    }
    const problems: string[] = [];
    const raw = str(props.subject) ?? "";
    const parsed = parseGithubSubject(raw);
    if (!parsed.ok) {
        problems.push(
            `${subject} has subject ${JSON.stringify(raw)}, which ${parsed.problem}; trust exactly ` +
                '"repo:OWNER/REPO:pull_request", "repo:OWNER/REPO:ref:refs/heads/BRANCH" or "repo:OWNER/REPO:environment:NAME"',
        );
    }
    const audiences = strings(props.audiences);
    if (audiences.length !== 1 || audiences[0] !== AZURE_TOKEN_EXCHANGE_AUDIENCE) {
        problems.push(
            `${subject} accepts audiences ${JSON.stringify(audiences)}; accept exactly ["${AZURE_TOKEN_EXCHANGE_AUDIENCE}"]`,
        );
    }
    return problems;
}

const CREDENTIAL_TYPES = [
    TYPES.federatedCredential,
    TYPES.flexibleFederatedCredential,
    TYPES.identityFederatedCredential,
] as const;

export const requirePinnedGithubCredentials: ResourceValidationPolicy = {
    name: "github-oidc-credentials-pinned",
    description:
        "Federated credentials that trust GitHub Actions name one repository and exactly one pull-request, branch or environment subject, without wildcards, for Entra ID's token exchange audience.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        'Set subject to "repo:OWNER/REPO:pull_request", "repo:OWNER/REPO:ref:refs/heads/BRANCH" or ' +
        '"repo:OWNER/REPO:environment:NAME" and audiences to ["api://AzureADTokenExchange"]; one credential per subject.',
    validateResource: (args, report) => {
        if (!CREDENTIAL_TYPES.some((t) => isResourceType(args.type, t)))
            return args.notApplicable("Policy only applies to federated identity credentials");
        for (const p of githubCredentialProblems(args.type, args.props as Props, args.name)) report(p);
    },
};
