/**
 * GitHub Actions OIDC towards Entra ID (workload identity federation): the subjects GitHub puts in a
 * job's token, and the GitHub variables the workflows read. Shared by the bootstrap program (which
 * creates the federated credentials), the policy pack (which checks them) and the workflow tests.
 *
 * A job's token subject is (GitHub docs, "About security hardening with OpenID Connect"):
 * - `repo:OWNER/REPO:environment:NAME` when the job references an environment;
 * - otherwise `repo:OWNER/REPO:pull_request` for `pull_request` events;
 * - otherwise `repo:OWNER/REPO:ref:refs/heads/BRANCH` (or `refs/tags/TAG`).
 * Entra ID matches the subject exactly: no wildcards.
 */

/** The issuer of GitHub Actions' OIDC tokens. */
export const GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com";

/** The audience Entra ID expects in a token exchanged for an access token. */
export const AZURE_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";

/** A GitHub repository, `owner/name`. */
export interface GithubRepository {
    readonly owner: string;
    readonly name: string;
}

/** What a federated credential trusts: pull requests, pushes to a branch, or jobs of an environment. */
export type GithubTrust =
    | { readonly kind: "pull_request" }
    | { readonly kind: "branch"; readonly branch: string }
    | { readonly kind: "environment"; readonly environment: string };

// GitHub's rules: owners are alphanumeric with single hyphens; repository names also allow `.` and `_`.
const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const REPO = /^[A-Za-z0-9._-]{1,100}$/;
// Branch and environment names: no wildcard, whitespace or `:` (the subject's separator).
const BRANCH = /^(?!\/)(?!.*\/\/)(?!.*\.\.)[A-Za-z0-9._/-]{1,255}(?<!\/)$/;
const ENVIRONMENT = /^[A-Za-z0-9._-]{1,255}$/;

/** Parses `owner/name`; throws with the reason when it is not a repository name. */
export function parseRepository(full: string): GithubRepository {
    const [owner, name, ...rest] = full.split("/");
    if (rest.length > 0 || !owner || !name || !OWNER.test(owner) || !REPO.test(name) || name === "." || name === "..")
        throw new Error(`repository "${full}" must be "owner/name" (letters, digits, '-', and '.', '_' in the name)`);
    return { owner, name };
}

/** The token subject for a trust; throws on a name that cannot appear in one exactly. */
export function githubSubject(repo: GithubRepository, trust: GithubTrust): string {
    const base = `repo:${repo.owner}/${repo.name}`;
    switch (trust.kind) {
        case "pull_request":
            return `${base}:pull_request`;
        case "branch":
            if (!BRANCH.test(trust.branch)) throw new Error(`branch "${trust.branch}" is not a plain branch name`);
            return `${base}:ref:refs/heads/${trust.branch}`;
        case "environment":
            if (!ENVIRONMENT.test(trust.environment))
                throw new Error(`environment "${trust.environment}" must be letters, digits, '.', '_' or '-'`);
            return `${base}:environment:${trust.environment}`;
    }
}

/** A subject read back: its repository and trust, or the reason it is not a pinned GitHub subject. */
export type ParsedSubject =
    | { readonly ok: true; readonly repository: GithubRepository; readonly trust: GithubTrust }
    | { readonly ok: false; readonly problem: string };

/**
 * Reads a subject as `githubSubject` writes it. Anything else (a wildcard, a tag, a missing part, a
 * customised subject claim) is reported with the reason, so a policy can name it.
 */
export function parseGithubSubject(subject: string): ParsedSubject {
    if (/[*?]/.test(subject)) return { ok: false, problem: "contains a wildcard" };
    const m = /^repo:([^/:]+)\/([^/:]+):(.+)$/.exec(subject);
    if (!m) return { ok: false, problem: 'is not of the form "repo:OWNER/REPO:..."' };
    let repository: GithubRepository;
    try {
        repository = parseRepository(`${m[1]}/${m[2]}`);
    } catch (e) {
        return { ok: false, problem: (e as Error).message };
    }
    const rest = m[3]!;
    if (rest === "pull_request") return { ok: true, repository, trust: { kind: "pull_request" } };
    const branch = /^ref:refs\/heads\/(.+)$/.exec(rest);
    if (branch && BRANCH.test(branch[1]!))
        return { ok: true, repository, trust: { kind: "branch", branch: branch[1]! } };
    const env = /^environment:(.+)$/.exec(rest);
    if (env && ENVIRONMENT.test(env[1]!))
        return { ok: true, repository, trust: { kind: "environment", environment: env[1]! } };
    return {
        ok: false,
        problem: `names "${rest}", not pull_request, ref:refs/heads/<branch> or environment:<name>`,
    };
}

/** A short, stable name for a federated credential of a trust (unique per application). */
export function credentialName(trust: GithubTrust): string {
    const clean = (s: string) => s.replace(/[^A-Za-z0-9-]/g, "-");
    switch (trust.kind) {
        case "pull_request":
            return "github-pull-request";
        case "branch":
            return `github-branch-${clean(trust.branch)}`;
        case "environment":
            return `github-environment-${clean(trust.environment)}`;
    }
}

/** The suffix of a stack's repository variables: `dev` → `DEV`, `eu-prod` → `EU_PROD`. */
export function variableSuffix(stack: string): string {
    return stack.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/**
 * Repository variables a pull request's preview of `stack` reads. Previews run without a GitHub
 * environment (their token subject is `pull_request`), so their per-stack values are repository
 * variables named after the stack.
 */
export function previewVariables(stack: string): { clientId: string; subscriptionId: string } {
    const s = variableSuffix(stack);
    return { clientId: `AZURE_PREVIEW_CLIENT_ID_${s}`, subscriptionId: `AZURE_SUBSCRIPTION_ID_${s}` };
}

/** Variables of the GitHub environment `<stack>` that a deploy job reads. */
export const DEPLOY_VARIABLES = { clientId: "AZURE_CLIENT_ID", subscriptionId: "AZURE_SUBSCRIPTION_ID" } as const;

/** Repository variables every Azure job reads. */
export const REPOSITORY_VARIABLES = { tenantId: "AZURE_TENANT_ID", pulumiOrganization: "PULUMI_ORG" } as const;
