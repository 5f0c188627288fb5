/**
 * Who may do what, for people (DESIGN.md, "RBAC model"): an approvers group that may read and
 * complete gates of this fleet and nothing else, and a subscribers group that may subscribe to
 * the AKSResources system topic. That topic emits subscription-wide events, so subscribing is
 * granted with Reader on the whole subscription: nobody learns about clusters they cannot read.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as azuread from "@pulumi/azuread";
import { APPROVER_ROLE_ACTIONS, BUILTIN_ROLES, approverRoleGuid, roleDefinitionId } from "../core/roles";
import { fleetResourceGroupId } from "../core/arm-id";
import { stableRoleAssignment } from "./role-assignment";

export interface AccessArgs {
    /** Environment name, used in group and role names: letters, digits and `-`. */
    readonly environment: string;
    readonly subscriptionId: pulumi.Input<string>;
    /** ARM id of the fleet the approvers act on. */
    readonly fleetId: pulumi.Input<string>;
    /** Default `fleet-gates-<environment>-approvers`. */
    readonly approversGroupName?: string;
    /** Default `fleet-gates-<environment>-subscribers`. */
    readonly subscribersGroupName?: string;
    /** Object ids of the groups' owners (default: the provider's caller, as Entra ID does). */
    readonly owners?: pulumi.Input<string>[];
}

export interface AccessGroupNames {
    readonly approvers: string;
    readonly subscribers: string;
}

/** Group display names, defaults applied; throws when they are unusable or the same group. */
export function accessGroupNames(
    args: Pick<AccessArgs, "environment" | "approversGroupName" | "subscribersGroupName">,
): AccessGroupNames {
    if (!/^[a-z0-9][a-z0-9-]{0,19}$/.test(args.environment)) {
        throw new Error(`environment "${args.environment}" must be 1-20 lower-case letters, digits or '-'`);
    }
    const approvers = (args.approversGroupName ?? `fleet-gates-${args.environment}-approvers`).trim();
    const subscribers = (args.subscribersGroupName ?? `fleet-gates-${args.environment}-subscribers`).trim();
    for (const [field, value] of [
        ["approversGroupName", approvers],
        ["subscribersGroupName", subscribers],
    ] as const) {
        if (value.length === 0 || value.length > 256) throw new Error(`${field} "${value}" must be 1-256 characters`);
    }
    if (approvers.toLowerCase() === subscribers.toLowerCase()) {
        throw new Error(
            `approversGroupName and subscribersGroupName are both "${approvers}": approving gates and ` +
                "subscribing to subscription-wide events are separate duties and need separate groups",
        );
    }
    return { approvers, subscribers };
}

/**
 * Stands in for a group in its role assignment names: its display name, unique in the tenant
 * (`preventDuplicateNames`) and known at preview, unlike the object id.
 */
export function groupPrincipalKey(displayName: string): string {
    return `group:${displayName}`;
}

export class Access extends pulumi.ComponentResource {
    public readonly approversGroupId: pulumi.Output<string>;
    public readonly subscribersGroupId: pulumi.Output<string>;
    /** `/subscriptions/<sub>/providers/Microsoft.Authorization/roleDefinitions/<guid>`. */
    public readonly approverRoleDefinitionId: pulumi.Output<string>;

    constructor(name: string, args: AccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:access:Access", name, {}, opts);
        const names = accessGroupNames(args);
        const env = args.environment;
        const parent = { parent: this };
        const subscriptionScope = pulumi.interpolate`/subscriptions/${args.subscriptionId}`;

        const approvers = new azuread.Group(
            `${name}-approvers`,
            {
                displayName: names.approvers,
                description: `fleet-gates (${env}): may read and complete approval gates of the fleet, nothing else.`,
                securityEnabled: true,
                mailEnabled: false,
                preventDuplicateNames: true,
                owners: args.owners,
            },
            parent,
        );
        const subscribers = new azuread.Group(
            `${name}-subscribers`,
            {
                displayName: names.subscribers,
                description:
                    `fleet-gates (${env}): may subscribe to the subscription's AKSResources system topic; ` +
                    "holds Reader on the subscription because the topic's events are subscription-wide.",
                securityEnabled: true,
                mailEnabled: false,
                preventDuplicateNames: true,
                owners: args.owners,
            },
            parent,
        );

        const approverRole = new authorization.RoleDefinition(
            `${name}-approver-role`,
            {
                scope: subscriptionScope,
                roleDefinitionId: pulumi.output(args.fleetId).apply(approverRoleGuid),
                roleName: pulumi
                    .output(args.fleetId)
                    .apply((f) => `fleet-gates-${env}-gate-approver-${approverRoleGuid(f).slice(0, 8)}`),
                description: "fleet-gates: read and complete the fleet's approval gates; nothing else.",
                roleType: "CustomRole",
                permissions: [
                    { actions: [...APPROVER_ROLE_ACTIONS], notActions: [], dataActions: [], notDataActions: [] },
                ],
                // Azure takes management groups, subscriptions or resource groups here, not the fleet itself:
                // the role is assignable in the fleet's resource group and assigned at the fleet below.
                assignableScopes: [pulumi.output(args.fleetId).apply(fleetResourceGroupId)],
            },
            parent,
        );

        // `<scope>/providers/Microsoft.Authorization/roleDefinitions/<guid>` with the subscription as scope,
        // built from known values (chained on the URN, so consumers still wait for the role): the approvers'
        // assignment is then checkable at a first preview.
        const approverRoleDefinitionId = pulumi
            .all([approverRole.urn, args.subscriptionId, args.fleetId])
            .apply(([, sub, fleetId]) => roleDefinitionId(sub, approverRoleGuid(fleetId)));

        // Names and scopes are known at preview (see `roleAssignmentGuid`); group object ids are not.
        const assign = (
            key: string,
            role: pulumi.Input<string>,
            scope: pulumi.Input<string>,
            principal: azuread.Group,
            displayName: string,
            deps: pulumi.Resource[] = [],
        ) =>
            stableRoleAssignment(
                this,
                name,
                {
                    key,
                    scope,
                    roleDefinitionId: role,
                    principalId: principal.objectId,
                    principalType: "Group",
                    principalKey: groupPrincipalKey(displayName),
                },
                deps,
            );
        const builtin = (guid: string) =>
            pulumi.output(args.subscriptionId).apply((sub) => roleDefinitionId(sub, guid));

        assign("approvers-gates", approverRoleDefinitionId, args.fleetId, approvers, names.approvers, [approverRole]);
        assign(
            "subscribers-notifications",
            builtin(BUILTIN_ROLES.resourceNotificationsSubscriber),
            subscriptionScope,
            subscribers,
            names.subscribers,
        );
        assign("subscribers-reader", builtin(BUILTIN_ROLES.reader), subscriptionScope, subscribers, names.subscribers);

        this.approversGroupId = approvers.objectId;
        this.subscribersGroupId = subscribers.objectId;
        this.approverRoleDefinitionId = approverRoleDefinitionId;
        this.registerOutputs({
            approversGroupId: this.approversGroupId,
            subscribersGroupId: this.subscribersGroupId,
            approverRoleDefinitionId: this.approverRoleDefinitionId,
        });
    }
}
