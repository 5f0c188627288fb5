/**
 * The bootstrap program (`bootstrap/`): config validation, the federated credentials' subjects, what
 * each identity may do, and that the policy pack passes it (at a first preview too).
 */
import { describe, expect, it } from "vitest";
import {
    BootstrapConfigError,
    deployAssignableRoleGuids,
    deployTrusts,
    githubVariables,
    parseBootstrapConfig,
    previewTrusts,
    readStackTarget,
    type StackTarget,
} from "../bootstrap/config";
import { DEPLOY_GRAPH_APP_ROLES, ROLE_DEFINITION_WRITER_ACTIONS } from "../bootstrap/deploy-access";
import { federatedCredentials } from "../bootstrap/github-identity";
import { bootstrap } from "../bootstrap/program";
import { CONDITION_VERSION, constrainRolesCondition } from "../core/abac";
import { fleetId } from "../core/arm-id";
import { FLEET_HUB_ROLES } from "../core/hub-access";
import { AZURE_TOKEN_EXCHANGE_AUDIENCE, GITHUB_OIDC_ISSUER } from "../core/github-oidc";
import {
    BUILTIN_ROLES,
    PRIVILEGED_ROLES,
    approverRoleGuid,
    handlerRoleGuid,
    roleDefinitionId,
    roleGuidOf,
} from "../core/roles";
import { OFFLINE_DEFAULTS, resolveOutputs, runUnderMocks, type PlannedResource } from "../local/plan/mocks";

const SUB = OFFLINE_DEFAULTS.subscriptionId;
const REPO = { owner: "contoso", name: "fleet-gates" };
const DEV: StackTarget = {
    stack: "dev",
    resourceGroupName: "rg-fleet-dev",
    fleetName: "flt-dev",
    handlerRoleScope: "fleet",
    hubPlacements: true,
};
const PROD: StackTarget = {
    stack: "prod",
    resourceGroupName: "rg-fleet-gates-prod",
    fleetName: "flt-prod",
    handlerRoleScope: "custom-role",
    hubPlacements: false,
};
const targets: Record<string, StackTarget> = { dev: DEV, prod: PROD };
const readFake = (s: string) => {
    const t = targets[s];
    if (!t) throw new Error(`no stack file Pulumi.${s}.yaml`);
    return t;
};
const ENV = { ...OFFLINE_DEFAULTS, project: "fleet-gates-bootstrap", stack: "test", config: {}, secretKeys: [] };

describe("bootstrap config", () => {
    it("reads the repository, the stacks' fleets from their stack files, and defaults", () => {
        const cfg = parseBootstrapConfig({ repository: "contoso/fleet-gates", stacks: ["dev", "prod"] });
        expect(cfg).toEqual({
            repository: REPO,
            stacks: [DEV, PROD],
            deployBranches: [],
            namePrefix: "fleet-gates-dev-prod",
            owners: [],
        });
    });

    it("reads a stack's fleet, resource group and handler role scope from Pulumi.<stack>.yaml", () => {
        expect(readStackTarget("dev")).toEqual(DEV);
        expect(readStackTarget("prod")).toEqual(PROD);
    });

    it("collects every problem, each naming its key", () => {
        let err: unknown;
        try {
            parseBootstrapConfig(
                { repository: "contoso", stacks: ["dev", "qa", "dev"], deployBranches: ["feature/*"] },
                readFake,
            );
        } catch (e) {
            err = e;
        }
        expect(err).toBeInstanceOf(BootstrapConfigError);
        expect((err as BootstrapConfigError).problems).toEqual([
            "fleet-gates-bootstrap:repository repository \"contoso\" must be \"owner/name\" (letters, digits, '-', and '.', '_' in the name)",
            'fleet-gates-bootstrap:stacks lists "dev" twice',
            'fleet-gates-bootstrap:stacks "qa": no stack file Pulumi.qa.yaml',
        ]);
        expect(() =>
            parseBootstrapConfig({ repository: "contoso/x", stacks: ["dev"], deployBranches: ["feature/*"] }, readFake),
        ).toThrow('fleet-gates-bootstrap:deployBranches branch "feature/*" is not a plain branch name');
        expect(() => parseBootstrapConfig({ repository: "contoso/x", stacks: [] }, readFake)).toThrow(
            /fleet-gates-bootstrap:stacks/,
        );
        expect(() =>
            parseBootstrapConfig({ repository: "contoso/x", stacks: ["dev"], owners: ["me"] }, readFake),
        ).toThrow(/fleet-gates-bootstrap:owners\.0 must be an object id/);
    });

    it("trusts pull requests for previews, and the stacks' environments (plus configured branches) for deploys", () => {
        expect(previewTrusts()).toEqual([{ kind: "pull_request" }]);
        expect(deployTrusts({ stacks: [DEV, PROD], deployBranches: ["main"] })).toEqual([
            { kind: "environment", environment: "dev" },
            { kind: "environment", environment: "prod" },
            { kind: "branch", branch: "main" },
        ]);
    });

    it("gives each trust one federated credential with its exact subject, and refuses duplicates", () => {
        expect(federatedCredentials(REPO, deployTrusts({ stacks: [DEV, PROD], deployBranches: ["main"] }))).toEqual([
            { name: "github-environment-dev", subject: "repo:contoso/fleet-gates:environment:dev" },
            { name: "github-environment-prod", subject: "repo:contoso/fleet-gates:environment:prod" },
            { name: "github-branch-main", subject: "repo:contoso/fleet-gates:ref:refs/heads/main" },
        ]);
        expect(() => federatedCredentials(REPO, [])).toThrow(/at least one trusted subject/);
        expect(() => federatedCredentials(REPO, [{ kind: "pull_request" }, { kind: "pull_request" }])).toThrow(
            /two trusts give the federated credential "github-pull-request"/,
        );
    });

    it("lets the deploy identity assign exactly the stacks' roles: built-in ones and their custom roles, nothing privileged", () => {
        const guids = deployAssignableRoleGuids([DEV, PROD], SUB);
        const devFleet = fleetId({ subscriptionId: SUB, resourceGroup: "rg-fleet-dev", fleetName: "flt-dev" });
        const prodFleet = fleetId({ subscriptionId: SUB, resourceGroup: "rg-fleet-gates-prod", fleetName: "flt-prod" });
        expect(guids).toContain(BUILTIN_ROLES.fleetManagerContributor); // dev: roleScope fleet
        expect(guids).toContain(handlerRoleGuid(prodFleet)); // prod: custom-role
        expect(guids).not.toContain(handlerRoleGuid(devFleet));
        expect(guids).toContain(approverRoleGuid(devFleet));
        expect(guids).toContain(approverRoleGuid(prodFleet));
        for (const p of PRIVILEGED_ROLES) expect(guids).not.toContain(p);
        expect(guids).toEqual([...guids].sort());
        expect(deployAssignableRoleGuids([PROD], SUB)).not.toContain(BUILTIN_ROLES.fleetManagerContributor);
    });

    it("names the GitHub variables the workflows read", () => {
        const ids = { tenantId: "t", subscriptionId: "s", previewClientId: "p", deployClientId: "d" };
        expect(githubVariables(["dev", "prod"], ids)).toEqual({
            repository: {
                AZURE_TENANT_ID: "t",
                AZURE_PREVIEW_CLIENT_ID_DEV: "p",
                AZURE_SUBSCRIPTION_ID_DEV: "s",
                AZURE_PREVIEW_CLIENT_ID_PROD: "p",
                AZURE_SUBSCRIPTION_ID_PROD: "s",
            },
            environments: {
                dev: { AZURE_CLIENT_ID: "d", AZURE_SUBSCRIPTION_ID: "s" },
                prod: { AZURE_CLIENT_ID: "d", AZURE_SUBSCRIPTION_ID: "s" },
            },
        });
    });
});

async function planBootstrap(
    stacks: string[] = ["dev", "prod"],
): Promise<{ resources: PlannedResource[]; outputs: Record<string, unknown> }> {
    const cfg = parseBootstrapConfig({ repository: "contoso/fleet-gates", stacks }, readFake);
    const run = await runUnderMocks(() => bootstrap(cfg), ENV);
    return { resources: run.resources, outputs: (await resolveOutputs(run.result)) as Record<string, unknown> };
}

const ofType = (rs: PlannedResource[], type: string) => rs.filter((r) => r.type === type);
const named = (rs: PlannedResource[], name: string) => {
    const r = rs.find((x) => x.name === name);
    expect(r, name).toBeDefined();
    return r!;
};

describe("bootstrap under mocks", () => {
    it("creates one application per identity, with federated credentials for exactly the trusted subjects", async () => {
        const { resources } = await planBootstrap();
        const creds = ofType(
            resources,
            "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential",
        );
        const byApp = (app: string) =>
            creds
                .filter((c) => c.inputs.applicationId === named(resources, `${app}-app`).id)
                .map((c) => c.inputs.subject);
        expect(byApp("preview")).toEqual(["repo:contoso/fleet-gates:pull_request"]);
        expect(byApp("deploy")).toEqual([
            "repo:contoso/fleet-gates:environment:dev",
            "repo:contoso/fleet-gates:environment:prod",
        ]);
        for (const c of creds) {
            expect(c.inputs.issuer).toBe(GITHUB_OIDC_ISSUER);
            expect(c.inputs.audiences).toEqual([AZURE_TOKEN_EXCHANGE_AUDIENCE]);
        }
        expect(ofType(resources, "azuread:index/application:Application").map((a) => a.inputs.displayName)).toEqual([
            "fleet-gates-dev-prod-github-preview",
            "fleet-gates-dev-prod-github-deploy",
        ]);
        // No client secret or certificate anywhere: OIDC only.
        expect(resources.map((r) => r.type).filter((t) => /Password|Certificate/.test(t))).toEqual([]);
    });

    it("gives the preview identity Reader on the subscription and nothing else", async () => {
        const { resources } = await planBootstrap();
        const previewSp = named(resources, "preview-sp").outputs.objectId;
        const grants = ofType(resources, "azure-native:authorization:RoleAssignment").filter(
            (a) => a.inputs.principalId === previewSp,
        );
        expect(grants.map((g) => [roleGuidOf(String(g.inputs.roleDefinitionId)), g.inputs.scope])).toEqual([
            [BUILTIN_ROLES.reader, `/subscriptions/${SUB}`],
        ]);
        const graph = ofType(resources, "azuread:index/appRoleAssignment:AppRoleAssignment");
        expect(graph.filter((g) => g.inputs.principalObjectId === previewSp)).toEqual([]);
    });

    it("gives the deploy identity Contributor, RBAC Administrator under the constrain-roles condition, the role-definition writer, hub Cluster Admin (a stack has placements) and Graph Group.Create/GroupMember.Read.All", async () => {
        const { resources, outputs } = await planBootstrap();
        const deploySp = named(resources, "deploy-sp").outputs.objectId;
        const grants = ofType(resources, "azure-native:authorization:RoleAssignment").filter(
            (a) => a.inputs.principalId === deploySp,
        );
        const writer = named(resources, "deploy-access-role-definition-writer");
        expect(writer.inputs).toMatchObject({
            scope: `/subscriptions/${SUB}`,
            assignableScopes: [`/subscriptions/${SUB}`],
            permissions: [{ actions: [...ROLE_DEFINITION_WRITER_ACTIONS], notActions: [], dataActions: [] }],
        });
        expect(grants.map((g) => roleGuidOf(String(g.inputs.roleDefinitionId))).sort()).toEqual(
            [
                BUILTIN_ROLES.contributor,
                BUILTIN_ROLES.roleBasedAccessControlAdministrator,
                String(writer.inputs.roleDefinitionId),
                // dev has placements on its fleet's hub: the deploy creates objects there.
                FLEET_HUB_ROLES.rbacClusterAdmin,
            ].sort(),
        );
        // At the subscription: the bootstrap runs before the fleets (and their resource groups) exist.
        for (const g of grants) expect(g.inputs.scope).toBe(`/subscriptions/${SUB}`);
        expect(named(resources, "deploy-access-hub-cluster-admin").inputs.description).toBe(
            "fleet-gates deploys: create the placements, strategies and the gate handler's roles on the fleet hubs of dev.",
        );
        const admin = named(resources, "deploy-access-rbac-administrator");
        const allowed = deployAssignableRoleGuids([DEV, PROD], SUB);
        expect(admin.inputs.condition).toBe(constrainRolesCondition(allowed));
        expect(admin.inputs.conditionVersion).toBe(CONDITION_VERSION);
        for (const g of grants.filter((x) => x !== admin)) expect(g.inputs.condition).toBeUndefined();
        expect(outputs.assignableRoleGuids).toEqual(allowed);
        expect(outputs.roleAssignmentCondition).toBe(admin.inputs.condition);

        const graph = ofType(resources, "azuread:index/appRoleAssignment:AppRoleAssignment");
        expect(graph.map((g) => [g.inputs.appRoleId, g.inputs.principalObjectId])).toEqual(
            Object.values(DEPLOY_GRAPH_APP_ROLES).map((id) => [id, deploySp]),
        );
        expect(new Set(graph.map((g) => g.inputs.resourceObjectId)).size).toBe(1);
        expect(roleDefinitionId(SUB, String(writer.inputs.roleDefinitionId))).toBe(writer.id);
    });

    it("gives no hub role when no stack of the subscription has placements", async () => {
        const { resources } = await planBootstrap(["prod"]);
        const roles = ofType(resources, "azure-native:authorization:RoleAssignment").map((a) =>
            roleGuidOf(String(a.inputs.roleDefinitionId)),
        );
        expect(roles).not.toContain(FLEET_HUB_ROLES.rbacClusterAdmin);
        expect(roles).toContain(BUILTIN_ROLES.contributor);
    });

    it("parents every resource to its component, named after it, and registers the component's public outputs", async () => {
        const { resources } = await planBootstrap();
        const components = resources.filter((r) => r.type.startsWith("fleet-gates:bootstrap:"));
        expect(components.map((c) => `${c.type}::${c.name}`)).toEqual([
            "fleet-gates:bootstrap:GithubIdentity::preview",
            "fleet-gates:bootstrap:GithubIdentity::deploy",
            "fleet-gates:bootstrap:PreviewAccess::preview-access",
            "fleet-gates:bootstrap:DeployAccess::deploy-access",
        ]);
        for (const r of resources.filter((x) => x.custom)) {
            const parent = components.find((c) => c.urn === r.parent);
            expect(parent, r.name).toBeDefined();
            expect(r.name.startsWith(`${parent!.name}-`), r.name).toBe(true);
        }
        const keys = (name: string) => Object.keys(named(resources, name).outputs).sort();
        expect(keys("preview")).toEqual(["clientId", "principalId", "subjects"]);
        expect(keys("preview-access")).toEqual(["readerAssignmentId"]);
        expect(keys("deploy-access")).toEqual(["roleAssignmentCondition", "roleDefinitionWriterId"]);
    });

    it("exports the GitHub variables with the identities' client ids", async () => {
        const { resources, outputs } = await planBootstrap();
        const vars = outputs.githubVariables as ReturnType<typeof githubVariables>;
        expect(vars.repository.AZURE_PREVIEW_CLIENT_ID_PROD).toBe(named(resources, "preview-app").outputs.clientId);
        expect(vars.environments.prod!.AZURE_CLIENT_ID).toBe(named(resources, "deploy-app").outputs.clientId);
        expect(vars.repository.AZURE_TENANT_ID).toBe(OFFLINE_DEFAULTS.tenantId);
    });
});
