/**
 * What the deploy identity may do, and why each grant is needed for `pulumi up` of `program.ts`:
 *
 * - **Contributor at the subscription**: the program creates resource groups (a subscription-level
 *   write), AKS clusters, the fleet and its members, Event Grid, a Function App with storage, identity
 *   and insights, and may adopt a system topic in another resource group. Contributor cannot write
 *   role assignments or role definitions (`Microsoft.Authorization/*\/Write` is a notAction).
 * - **Role Based Access Control Administrator at the subscription, under an ABAC condition** that
 *   allows creating and deleting role assignments of exactly the roles the program assigns
 *   (`rolesAssignedByStack`: built-in roles plus the program's deterministic custom roles), so the
 *   identity cannot hand out Owner, Contributor or anything else.
 * - **A custom role with `Microsoft.Authorization/roleDefinitions/read|write|delete`**: the program
 *   defines the approvers' (and optionally the handler's) custom role. ABAC cannot constrain role
 *   definitions; see the README's safety notes.
 * - **Microsoft Graph `Group.Create` and `GroupMember.Read.All`** (application permissions): the program
 *   creates the approvers and subscribers groups (`components/access.ts`), owned by this identity, and
 *   checks their names are unique (`preventDuplicateNames`), which lists groups by name. With
 *   `Group.Create` an application manages only the groups it owns.
 * - **Azure Kubernetes Fleet Manager RBAC Cluster Admin at the subscription, when a stack has placements**:
 *   through the kubernetes provider the program creates cluster-scoped objects on the fleet's hub
 *   (ClusterResourcePlacements, ClusterStagedUpdateStrategies, the handler's ClusterRole and
 *   ClusterRoleBinding; Roles and RoleBindings for namespaced placements). Contributor has no data
 *   actions; RBAC Writer and Admin are namespace-scoped and cannot write cluster-scoped resources;
 *   RBAC Cluster Writer writes "most cluster-scoped resources" but no roles or bindings, and Kubernetes
 *   lets only an identity that holds a role's rights create or bind it: Cluster Admin is the narrowest
 *   built-in role that can. Its scope is the subscription, not the fleet: the bootstrap runs before the
 *   stacks' first deploy, when neither the fleet nor its resource group exists, and Azure refuses a role
 *   assignment whose scope does not exist. It adds little to Contributor on the same subscription
 *   (which can run commands on the member clusters); put production in its own subscription.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as azuread from "@pulumi/azuread";
import { CONDITION_VERSION, constrainRolesCondition } from "../core/abac";
import { FLEET_HUB_ROLES } from "../core/hub-access";
import { BUILTIN_ROLES, deterministicGuid, roleDefinitionId } from "../core/roles";
import { stableRoleAssignment } from "../components/role-assignment";

/** Microsoft Graph's application (client) id, the same in every tenant. */
export const MICROSOFT_GRAPH_CLIENT_ID = "00000003-0000-0000-c000-000000000000";

/** Microsoft Graph application permissions (app role ids, the same in every tenant) the deploy identity gets. */
export const DEPLOY_GRAPH_APP_ROLES = {
    "Group.Create": "bf7b1a76-6e77-406b-b258-bf5c7720e98f",
    "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
} as const;

/** The custom role that lets the deploy identity maintain the program's custom roles. */
export const ROLE_DEFINITION_WRITER_ACTIONS: readonly string[] = [
    "Microsoft.Authorization/roleDefinitions/read",
    "Microsoft.Authorization/roleDefinitions/write",
    "Microsoft.Authorization/roleDefinitions/delete",
];

export interface DeployAccessArgs {
    /** The subscription the stacks deploy into. */
    readonly subscriptionId: pulumi.Input<string>;
    /** Object id of the deploy identity's service principal. */
    readonly principalId: pulumi.Input<string>;
    /** Stands in for the principal in assignment names (known at preview, unlike the object id). */
    readonly principalKey: pulumi.Input<string>;
    /** Role definition GUIDs the identity may assign and unassign (at least one). */
    readonly assignableRoleGuids: pulumi.Input<string[]>;
    /** Prefix of the custom role's name, e.g. `fleet-gates-dev-prod`. */
    readonly roleNamePrefix: pulumi.Input<string>;
    /**
     * Stacks that create objects on their fleet's hub (placements): with any, the identity gets Fleet
     * Manager RBAC Cluster Admin at the subscription.
     */
    readonly hubStacks?: readonly string[];
}

/** GUID of the role-definition writer custom role of a subscription and prefix. */
export function roleDefinitionWriterGuid(subscriptionId: string, prefix: string): string {
    return deterministicGuid(`/subscriptions/${subscriptionId}`, prefix, "fleet-gates-role-definition-writer");
}

export class DeployAccess extends pulumi.ComponentResource {
    /** The ABAC condition on the identity's Role Based Access Control Administrator assignment. */
    public readonly roleAssignmentCondition: pulumi.Output<string>;
    /** Id of the custom role that lets the identity maintain custom role definitions. */
    public readonly roleDefinitionWriterId: pulumi.Output<string>;

    constructor(name: string, args: DeployAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:bootstrap:DeployAccess", name, {}, opts);
        const parent = { parent: this };
        const scope = pulumi.interpolate`/subscriptions/${args.subscriptionId}`;
        const builtin = (guid: string) =>
            pulumi.output(args.subscriptionId).apply((sub) => roleDefinitionId(sub, guid));
        const assign = (
            key: string,
            role: pulumi.Input<string>,
            description: string,
            extra: Partial<authorization.RoleAssignmentArgs> = {},
            deps: pulumi.Resource[] = [],
        ) =>
            stableRoleAssignment(
                this,
                name,
                {
                    key,
                    scope,
                    roleDefinitionId: role,
                    principalId: args.principalId,
                    principalType: "ServicePrincipal",
                    principalKey: args.principalKey,
                    description,
                    extra,
                },
                deps,
            );

        assign(
            "contributor",
            builtin(BUILTIN_ROLES.contributor),
            "fleet-gates deploys: create and change the stacks' resources (no role assignments or definitions).",
        );

        const condition = pulumi.output(args.assignableRoleGuids).apply(constrainRolesCondition);
        assign(
            "rbac-administrator",
            builtin(BUILTIN_ROLES.roleBasedAccessControlAdministrator),
            "fleet-gates deploys: assign and unassign only the roles the program assigns (ABAC condition).",
            { condition, conditionVersion: CONDITION_VERSION },
        );

        const writerGuid = pulumi
            .all([args.subscriptionId, args.roleNamePrefix])
            .apply(([sub, prefix]) => roleDefinitionWriterGuid(sub, prefix));
        const writer = new authorization.RoleDefinition(
            `${name}-role-definition-writer`,
            {
                scope,
                roleDefinitionId: writerGuid,
                roleName: pulumi.interpolate`${args.roleNamePrefix}-role-definition-writer`,
                description: "fleet-gates deploys: maintain the program's custom roles (approvers, handler).",
                roleType: "CustomRole",
                permissions: [
                    {
                        actions: [...ROLE_DEFINITION_WRITER_ACTIONS],
                        notActions: [],
                        dataActions: [],
                        notDataActions: [],
                    },
                ],
                assignableScopes: [scope],
            },
            parent,
        );
        const writerId = pulumi
            .all([writer.urn, args.subscriptionId, writerGuid])
            .apply(([, sub, guid]) => roleDefinitionId(sub, guid));
        assign("role-definition-writer", writerId, "fleet-gates deploys: maintain the program's custom roles.", {}, [
            writer,
        ]);

        if ((args.hubStacks ?? []).length > 0)
            assign(
                "hub-cluster-admin",
                builtin(FLEET_HUB_ROLES.rbacClusterAdmin),
                `fleet-gates deploys: create the placements, strategies and the gate handler's roles on the fleet hubs of ${args.hubStacks!.join(", ")}.`,
            );

        const graph = azuread.getServicePrincipalOutput({ clientId: MICROSOFT_GRAPH_CLIENT_ID }, parent);
        for (const [permission, appRoleId] of Object.entries(DEPLOY_GRAPH_APP_ROLES)) {
            new azuread.AppRoleAssignment(
                `${name}-graph-${permission.toLowerCase().replace(/\./g, "-")}`,
                { appRoleId, principalObjectId: args.principalId, resourceObjectId: graph.objectId },
                parent,
            );
        }

        this.roleAssignmentCondition = condition;
        this.roleDefinitionWriterId = writerId;
        this.registerOutputs({
            roleAssignmentCondition: this.roleAssignmentCondition,
            roleDefinitionWriterId: this.roleDefinitionWriterId,
        });
    }
}
