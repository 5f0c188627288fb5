/**
 * Every deliberately insecure program in `test/programs/` runs under the same mocks as `npm run plan
 * -- --program FILE` and violates exactly the one mandatory policy it was written against.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { OFFLINE_DEFAULTS, stableGuid } from "../../local/plan/mocks";
import { PROJECT_ROOT, planStack } from "../../local/plan/plan";
import { evaluatePolicies } from "../../local/plan/policy-harness";
import { violation } from "./fixture";

const SUB = OFFLINE_DEFAULTS.subscriptionId;
const program = (name: string) => path.join(PROJECT_ROOT, "test", "programs", `${name}.ts`);
const urn = (type: string, name: string) => `urn:pulumi:dev::fleet-gates::${type}::${name}`;
const HANDLER_PRINCIPAL = stableGuid(
    "azure-native:managedidentity:UserAssignedIdentity",
    "handler-identity",
    "principal",
);
const SUBSCRIBERS = stableGuid("azuread:index/group:Group", "subscribers", "object");

const CASES: [string, ReturnType<typeof violation>][] = [
    [
        "insecure-upgrade-topic-foreign-cluster",
        violation(
            "upgrade-event-topics-on-stack-clusters",
            urn("azure-native:eventgrid:SystemTopic", "foreign-cluster-topic"),
            'system topic "aks-shared-aks-events" (Microsoft.ContainerService.ManagedClusters) has source ' +
                '"/subscriptions/8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e/resourceGroups/rg-shared/providers/Microsoft.ContainerService/managedClusters/aks-shared", ' +
                "which is not a managed cluster of this stack",
        ),
    ],
    [
        "insecure-topic-scope",
        violation(
            "aks-resources-topic-subscription-scope",
            urn("azure-native:eventgrid:SystemTopic", "aks-topic"),
            `system topic "evgt-aks" has source "/subscriptions/${SUB}/resourceGroups/rg-events"; an AKSResources topic must have ` +
                'source exactly "/subscriptions/<subscription id>": Azure emits its events at subscription scope only',
        ),
    ],
    [
        "insecure-topic-duplicate",
        violation(
            "aks-resources-topic-singleton",
            urn("azure-native:eventgrid:SystemTopic", "evgt-aks-team"),
            `system topic "evgt-aks-team" is a second Microsoft.ResourceNotifications.AKSResources topic for subscription ${SUB} ` +
                '(the first is "evgt-aks-platform"); Azure allows one per subscription: adopt the existing topic instead',
        ),
    ],
    [
        "insecure-subscription-unscoped",
        violation(
            "gate-subscriptions-scoped-to-fleet",
            urn("azure-native:eventgrid:SystemTopicEventSubscription", "gate-dev-go"),
            'event subscription "gate-dev-go" does not filter to one fleet: set subjectBeginsWith to "<fleet id>/gates/" or a ' +
                'StringBeginsWith filter on data.resourceInfo.properties.target.id with "<fleet id>/updateRuns/"',
        ),
    ],
    [
        "insecure-handler-role-scope",
        violation(
            "handler-role-least-privilege",
            urn("azure-native:authorization:RoleAssignment", "handler-fleet-manager"),
            'role assignment "handler-fleet-manager" grants Azure Kubernetes Fleet Manager Contributor Role at resource group scope ' +
                `"/subscriptions/${SUB}/resourceGroups/rg-fleet"; assign it at the fleet (".../providers/Microsoft.ContainerService/fleets/<name>") only`,
        ),
    ],
    [
        "insecure-handler-owner",
        violation(
            "handler-role-least-privilege",
            urn("azure-native:authorization:RoleAssignment", "handler-contributor"),
            `principal ${HANDLER_PRINCIPAL} holds Azure Kubernetes Fleet Manager Contributor Role (role assignment "handler-fleet-manager") ` +
                `and also Contributor at resource group scope "/subscriptions/${SUB}/resourceGroups/rg-fleet" (role assignment ` +
                '"handler-contributor"); an identity that completes gates must hold no Owner, Contributor, User Access Administrator ' +
                "or Role Based Access Control Administrator",
        ),
    ],
    [
        "insecure-subscriber-without-reader",
        violation(
            "topic-subscribers-read-subscription",
            urn("azure-native:authorization:RoleAssignment", "subscribers-notifications"),
            `principal ${SUBSCRIBERS} is granted Microsoft.ResourceNotifications/systemTopics/subscribeToAKSResources/action ` +
                '(Azure Resource Notifications System Topics Subscriber, role assignment "subscribers-notifications") but holds no ' +
                `Reader (or other role with */read) at "/subscriptions/${SUB}"; the AKSResources topic emits subscription-wide ` +
                "events: grant Reader at the subscription too",
        ),
    ],
    [
        "insecure-rbac-management-group",
        violation(
            "rbac-within-stack-subscription",
            urn("azure-native:authorization:RoleAssignment", "operators-reader"),
            'role assignment "operators-reader": scope "/providers/Microsoft.Management/managementGroups/mg-platform" is ' +
                'management group "mg-platform"; role assignments and custom roles must stay inside the stack\'s subscription',
        ),
    ],
    [
        "insecure-custom-role-wildcard",
        violation(
            "custom-roles-no-wildcards",
            urn("azure-native:authorization:RoleDefinition", "approver-role"),
            'custom role "fleet-gates-gate-approver" grants "Microsoft.ContainerService/fleets/*" (permissions[0].actions[0]); ' +
                "list the exact actions instead of a wildcard",
        ),
    ],
    [
        "insecure-generic-fleet-member",
        violation(
            "fleet-children-not-generic",
            urn("azure-native:resources:Resource", "member"),
            'generic resource "member" creates Microsoft.ContainerService/fleets/members "aks-dev-blue-1": azure-native checks ' +
                "that it does not exist at its own api-version (2024-03-01), which the Fleet resource provider answers 400, and " +
                "adds location to its body; create it with ArmResource (components/arm-resource.ts) at apiVersion 2026-06-01",
        ),
    ],
    [
        "insecure-flex-site-config",
        violation(
            "function-app-hardened",
            urn("azure-native:web:WebApp", "handler-app"),
            'function app "func-fleet-gates" runs on Flex Consumption, which rejects siteConfig.netFrameworkVersion "v4.6", ' +
                'siteConfig.ftpsState "Disabled"; send no siteConfig (azure-native adds netFrameworkVersion to any siteConfig) ' +
                "and keep FTP off with WebAppFtpAllowed allow: false",
        ),
    ],
    [
        "insecure-role-resource-scope",
        violation(
            "custom-role-scopes-assignable",
            urn("azure-native:authorization:RoleDefinition", "approver-role"),
            `custom role "fleet-gates-gate-approver": assignableScopes[0] "/subscriptions/${SUB}/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/fleets/flt-dev" ` +
                "is a resource; Azure accepts only management groups, subscriptions or resource groups there: list " +
                `"/subscriptions/${SUB}/resourceGroups/rg-fleet" and assign the role at the resource`,
        ),
    ],
    [
        "insecure-gate-typo",
        violation(
            "gates-routed",
            urn("azure-native:eventgrid:SystemTopicEventSubscription", "gate-sales-check"),
            'rule subscription "gate-sales-check" matches no gate; the closest is gate "Check with sales team" (stage dev, Before) ' +
                'of update strategy "gated-rollout", which it rejects: advancedFilters[3] (StringIn "data.resourceInfo.properties.displayName"): ' +
                'value "Check with sales team" does not satisfy StringIn ["Check with sales teams"]',
        ),
    ],
    [
        "insecure-prod-ungated",
        violation(
            "production-stages-gated",
            urn("pulumi-nodejs:dynamic/fleet-gates:ArmResource", "strategy"),
            'stage "prod-eu" of update strategy "gated-rollout" matches the production pattern /prod/i but has no Before approval ' +
                'gate; add beforeGates: [{ displayName: "...", type: "Approval" }] to the stage',
        ),
    ],
    [
        "insecure-function-app",
        violation(
            "function-app-hardened",
            urn("azure-native:web:WebApp", "handler-app"),
            'function app "func-fleet-gates" has siteConfig.ftpsState "FtpsOnly"; set "Disabled" so neither FTP nor FTPS is served',
        ),
    ],
    [
        "insecure-cluster-local-accounts",
        violation(
            "member-clusters-entra-rbac",
            urn("azure-native:containerservice:ManagedCluster", "aks-dev-blue-1"),
            'managed cluster "aks-dev-blue-1" keeps local accounts; set disableLocalAccounts: true',
        ),
    ],
    [
        "insecure-unconstrained-rbac-admin",
        violation(
            "role-assignment-rights-constrained",
            urn("azure-native:authorization:RoleAssignment", "deploy-rbac-administrator"),
            'role assignment "deploy-rbac-administrator" grants Role Based Access Control Administrator, which can create and ' +
                'delete role assignments, without an ABAC condition; add a condition in Azure\'s "Constrain roles" form: ' +
                "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
                "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {...})) AND " +
                "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR " +
                "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {...})) " +
                'listing only the roles it must assign, with conditionVersion "2.0"',
        ),
    ],
    [
        "insecure-github-wildcard-subject",
        violation(
            "github-oidc-credentials-pinned",
            urn(
                "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential",
                "deploy-any-job",
            ),
            'federated credential "github-any-job" has subject "repo:contoso/fleet-gates:*", which contains a wildcard; trust ' +
                'exactly "repo:OWNER/REPO:pull_request", "repo:OWNER/REPO:ref:refs/heads/BRANCH" or "repo:OWNER/REPO:environment:NAME"',
        ),
    ],
    [
        "insecure-pr-identity-contributor",
        violation(
            "pull-request-identity-read-only",
            urn("azure-native:authorization:RoleAssignment", "preview-contributor"),
            'service principal "preview-sp" signs in from pull requests (federated credential "github-pull-request", subject ' +
                `"repo:contoso/fleet-gates:pull_request") and holds Contributor at "/subscriptions/${SUB}" (role assignment ` +
                '"preview-contributor"); pull-request code is unreviewed: give this identity Reader only and deploy with another identity',
        ),
    ],
    [
        "insecure-hub-handler-admin",
        violation(
            "hub-handler-approval-status-only",
            urn("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "hub-handler"),
            'role "fleet-gates-approval-handler" (bound to the gate handler by "fleet-gates-approval-handler") may patch clusterstagedupdateruns in API group "placement.kubernetes-fleet.io"; the handler may write only clusterapprovalrequests/status',
        ),
    ],
];

describe("deliberately insecure programs (plan --program)", () => {
    it("cover every mandatory policy of the pack", async () => {
        const { policies } = await import("../policies");
        const mandatory = policies.filter((p) => p.enforcementLevel === "mandatory").map((p) => p.name);
        expect(new Set(CASES.map(([, v]) => v.policy))).toEqual(new Set(mandatory));
    });

    it.each(CASES)("%s violates exactly its policy", async (name, expected) => {
        const plan = await planStack("dev", { program: program(name) });
        expect(await evaluatePolicies(plan)).toEqual([expected]);
    });
});
