/**
 * An Entra ID application and its service principal that GitHub Actions jobs of one repository sign in
 * as, through OIDC federated credentials: no client secret exists, and only tokens whose subject is one
 * of the listed trusts (pull requests, a branch, an environment) are accepted.
 */
import * as pulumi from "@pulumi/pulumi";
import * as azuread from "@pulumi/azuread";
import {
    AZURE_TOKEN_EXCHANGE_AUDIENCE,
    GITHUB_OIDC_ISSUER,
    credentialName,
    githubSubject,
    type GithubRepository,
    type GithubTrust,
} from "../core/github-oidc";

export interface GithubIdentityArgs {
    /** Display name of the application and service principal. */
    readonly displayName: pulumi.Input<string>;
    /** What the identity is for, shown in Entra ID. */
    readonly description: pulumi.Input<string>;
    /** The repository whose workflows sign in. Plain value: it names the child credentials. */
    readonly repository: GithubRepository;
    /** The token subjects to trust, at least one; each becomes one federated credential. Plain value: it names them. */
    readonly trusts: readonly GithubTrust[];
    /** Object ids of further owners of the application and service principal (the caller always is one). */
    readonly owners?: pulumi.Input<pulumi.Input<string>[]>;
}

/** One federated credential: its name (unique per application) and the exact subject it trusts. */
export interface FederatedCredentialSpec {
    readonly name: string;
    readonly subject: string;
}

/** The federated credentials of a set of trusts; throws on none, or on two with the same subject. */
export function federatedCredentials(
    repo: GithubRepository,
    trusts: readonly GithubTrust[],
): FederatedCredentialSpec[] {
    if (trusts.length === 0) throw new Error("a GitHub identity needs at least one trusted subject");
    const specs = trusts.map((t) => ({ name: credentialName(t), subject: githubSubject(repo, t) }));
    const seen = new Set<string>();
    for (const s of specs) {
        if (seen.has(s.name)) throw new Error(`two trusts give the federated credential "${s.name}" (${s.subject})`);
        seen.add(s.name);
    }
    return specs;
}

export class GithubIdentity extends pulumi.ComponentResource {
    /** The application's client id: `client-id` of `azure/login`, `ARM_CLIENT_ID`. */
    public readonly clientId: pulumi.Output<string>;
    /** The service principal's object id: the principal of role assignments. */
    public readonly principalId: pulumi.Output<string>;
    /** The exact subjects trusted, in the order given. */
    public readonly subjects: pulumi.Output<string[]>;

    constructor(name: string, args: GithubIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:bootstrap:GithubIdentity", name, {}, opts);
        const specs = federatedCredentials(args.repository, args.trusts);
        const caller = azuread.getClientConfigOutput({ parent: this }).objectId;
        const owners = pulumi.all([caller, args.owners ?? []]).apply(([self, more]) => [...new Set([self, ...more])]);

        const app = new azuread.Application(
            `${name}-app`,
            {
                displayName: args.displayName,
                description: args.description,
                signInAudience: "AzureADMyOrg",
                owners,
            },
            { parent: this },
        );
        const sp = new azuread.ServicePrincipal(
            `${name}-sp`,
            { clientId: app.clientId, description: args.description, owners },
            { parent: this },
        );
        for (const spec of specs) {
            new azuread.ApplicationFederatedIdentityCredential(
                `${name}-${spec.name}`,
                {
                    applicationId: app.id,
                    displayName: spec.name,
                    description: `GitHub Actions jobs with subject ${spec.subject}`,
                    issuer: GITHUB_OIDC_ISSUER,
                    audiences: [AZURE_TOKEN_EXCHANGE_AUDIENCE],
                    subject: spec.subject,
                },
                { parent: this },
            );
        }

        this.clientId = app.clientId;
        this.principalId = sp.objectId;
        this.subjects = pulumi.output(specs.map((s) => s.subject));
        this.registerOutputs({ clientId: this.clientId, principalId: this.principalId, subjects: this.subjects });
    }
}
