/**
 * `pull-request-identity-read-only`: a workflow run for a pull request executes code nobody has
 * reviewed yet, and anyone who may push a branch can open one. An Entra ID application that GitHub
 * pull-request tokens sign in as (a federated credential with subject `repo:OWNER/REPO:pull_request`)
 * may therefore read, never write: its service principal holds Reader and no other Azure role, and no
 * Microsoft Graph (or other API) application permission.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { BUILTIN_ROLES } from "../../core/roles";
import { parseGithubSubject } from "../../core/github-oidc";
import { isGithubIssuer } from "./github-oidc-credentials-pinned";
import { TYPES, isResourceType, known, rbacModel, roleLabel, str, type Props } from "./common";

/** The only Azure role a pull-request identity may hold. */
const READ_ONLY_ROLES: readonly string[] = [BUILTIN_ROLES.reader];

const dependsOn = (r: PolicyResource, property: string, target: PolicyResource) =>
    (r.propertyDependencies[property] ?? []).some((d) => d.urn === target.urn);

const value = (r: PolicyResource, key: string): string | undefined =>
    known(() => str((r.props as Props)[key]))?.toLowerCase();

/** The application a credential belongs to: by dependency, else by its `/applications/<object id>` id. */
function applicationOf(fic: PolicyResource, apps: readonly PolicyResource[]): PolicyResource | undefined {
    const viaDependency = apps.find((a) => dependsOn(fic, "applicationId", a));
    if (viaDependency) return viaDependency;
    const id = value(fic, "applicationId");
    return id ? apps.find((a) => value(a, "objectId") && id === `/applications/${value(a, "objectId")}`) : undefined;
}

/** The service principals of an application: by dependency on it, else by client id. */
function principalsOf(app: PolicyResource, sps: readonly PolicyResource[]): PolicyResource[] {
    const clientId = value(app, "clientId");
    return sps.filter((sp) => dependsOn(sp, "clientId", app) || (clientId && value(sp, "clientId") === clientId));
}

/** True when `r`'s `property` names the service principal `sp` (by object id or by dependency). */
function refersTo(r: PolicyResource, property: string, sp: PolicyResource): boolean {
    if (dependsOn(r, property, sp)) return true;
    const id = value(r, property);
    return id !== undefined && id === value(sp, "objectId");
}

export function pullRequestIdentityProblems(resources: readonly PolicyResource[]): { urn: string; message: string }[] {
    const apps = resources.filter((r) => isResourceType(r.type, TYPES.application));
    const sps = resources.filter((r) => isResourceType(r.type, TYPES.servicePrincipal));
    const appRoles = resources.filter((r) => isResourceType(r.type, TYPES.appRoleAssignment));
    const { assignments } = rbacModel(resources);
    const out: { urn: string; message: string }[] = [];
    const seen = new Set<string>();
    for (const fic of resources.filter((r) => isResourceType(r.type, TYPES.federatedCredential))) {
        const p = fic.props as Props;
        if (!isGithubIssuer(known(() => p.issuer))) continue;
        const subject = known(() => str(p.subject)) ?? "";
        const parsed = parseGithubSubject(subject);
        if (!parsed.ok || parsed.trust.kind !== "pull_request") continue;
        const app = applicationOf(fic, apps);
        if (!app) continue;
        const because =
            `signs in from pull requests (federated credential "${known(() => str(p.displayName)) ?? fic.name}", ` +
            `subject "${subject}")`;
        for (const sp of principalsOf(app, sps)) {
            for (const a of assignments) {
                const key = `${sp.urn}|${a.resource.urn}`;
                if (seen.has(key) || !refersTo(a.resource, "principalId", sp)) continue;
                if (a.roleGuid !== undefined && !a.customRole && READ_ONLY_ROLES.includes(a.roleGuid)) continue;
                seen.add(key);
                out.push({
                    urn: a.resource.urn,
                    message:
                        `service principal "${sp.name}" ${because} and holds ${roleLabel(a)} at "${a.scope}" (role assignment ` +
                        `"${a.name}"); pull-request code is unreviewed: give this identity Reader only and deploy with another identity`,
                });
            }
            for (const r of appRoles) {
                const key = `${sp.urn}|${r.urn}`;
                if (seen.has(key) || !refersTo(r, "principalObjectId", sp)) continue;
                seen.add(key);
                out.push({
                    urn: r.urn,
                    message:
                        `service principal "${sp.name}" ${because} and holds application permission ` +
                        `${known(() => str((r.props as Props).appRoleId)) ?? "(unknown)"} (app role assignment "${r.name}"); ` +
                        "pull-request code is unreviewed: grant this identity no API permissions",
                });
            }
        }
    }
    return out;
}

export const requireReadOnlyPullRequestIdentity: StackValidationPolicy = {
    name: "pull-request-identity-read-only",
    description:
        "An application that GitHub pull-request tokens sign in as holds Reader and no other Azure role, and no API application permission.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Keep the pull_request federated credential on a separate preview application with Reader only; deploy from a GitHub environment with another identity.",
    validateStack: (args, report) => {
        for (const d of pullRequestIdentityProblems(args.resources)) report(d.message, d.urn);
    },
};
