/**
 * Azure role ids and the actions this project grants, from `shared/reference/azure-facts.md` §4.
 * Components assign them; the policy pack checks them; both read them here.
 */

import { createHash } from "node:crypto";

export const BUILTIN_ROLES = {
    /** `Microsoft.ContainerService/fleets/*`: approves gates at fleet scope. */
    fleetManagerContributor: "63bb64ad-9799-4770-b5c3-24ed299a07bf",
    /** Grants `Microsoft.ResourceNotifications/systemTopics/subscribeToAKSResources/action`. */
    resourceNotificationsSubscriber: "0b962ed2-6d56-471c-bd5f-3477d83a7ba4",
    reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    monitoringReader: "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
    /** Lets the handler send telemetry to Application Insights with local auth disabled (Entra ID only). */
    monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
    storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
    userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    roleBasedAccessControlAdministrator: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
} as const;

/** Roles nobody in this project may hold: the policy pack rejects any assignment of them to the handler. */
export const PRIVILEGED_ROLES: readonly string[] = [
    BUILTIN_ROLES.owner,
    BUILTIN_ROLES.contributor,
    BUILTIN_ROLES.userAccessAdministrator,
    BUILTIN_ROLES.roleBasedAccessControlAdministrator,
];

/** The subscribe action the AKSResources system topic requires, in the spelling of the role definition. */
export const SUBSCRIBE_TO_AKS_RESOURCES_ACTION =
    "Microsoft.ResourceNotifications/systemTopics/subscribeToAKSResources/action";

/** The handler's custom role (`handler.roleScope: custom-role`): only what approving gates needs. */
export const HANDLER_CUSTOM_ROLE_ACTIONS: readonly string[] = [
    "Microsoft.ContainerService/fleets/read",
    "Microsoft.ContainerService/fleets/gates/read",
    "Microsoft.ContainerService/fleets/gates/write",
    "Microsoft.ContainerService/fleets/updateRuns/read",
];

/** Added to the handler's custom role when it starts update runs (`upgradeEvents.startRun`), and only then. */
export const HANDLER_START_RUN_ACTIONS: readonly string[] = [
    "Microsoft.ContainerService/fleets/updateRuns/write",
    "Microsoft.ContainerService/fleets/updateRuns/start/action",
];

/** The approvers' custom role: read and approve gates, nothing else. */
export const APPROVER_ROLE_ACTIONS: readonly string[] = [
    "Microsoft.ContainerService/fleets/gates/read",
    "Microsoft.ContainerService/fleets/gates/write",
];

/** The subscription-scoped id Azure uses in role assignments: `/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}`. */
export function roleDefinitionId(subscriptionId: string, roleGuid: string): string {
    return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`;
}

/** The role GUID at the end of a role definition id, lower-cased; undefined when it is not one. */
export function roleGuidOf(roleDefinitionIdValue: string): string | undefined {
    const m = /\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-f-]{36})$/i.exec(roleDefinitionIdValue);
    return m?.[1]?.toLowerCase();
}

/**
 * A GUID derived from its parts (SHA-256, version nibble 5, RFC 4122 variant). Parts compare
 * case-insensitively, as ARM ids do. Role definition and role assignment names must be GUIDs.
 */
export function deterministicGuid(...parts: string[]): string {
    const h = createHash("sha256").update(parts.join("\u0000").toLowerCase()).digest("hex");
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Deterministic GUID of the approvers' custom role for a fleet (`components/access.ts`). */
export function approverRoleGuid(fleetId: string): string {
    return deterministicGuid(fleetId, "fleet-gates-approver");
}

/** Deterministic GUID of the handler's custom role for a fleet (`handler.roleScope: custom-role`). */
export function handlerRoleGuid(fleetId: string): string {
    return deterministicGuid(fleetId, "fleet-gates-handler");
}

/** What decides which roles a stack assigns: its fleet and the handler's role scope. */
export interface StackRoleInputs {
    readonly fleetId: string;
    readonly handlerRoleScope: "fleet" | "custom-role";
}

/** A role the program assigns: its GUID and what it is, for conditions and documentation. */
export interface AssignedRole {
    readonly guid: string;
    readonly name: string;
}

/**
 * Every role definition the program (`program.ts`) assigns for a stack: the built-in roles of the
 * handler, the system topic's dead-letter writer and the access groups, plus the custom roles it
 * defines, whose GUIDs are deterministic per fleet. `test/stack-roles.test.ts` checks this list
 * against the role assignments of the planned stacks, so it cannot drift from the program.
 */
export function rolesAssignedByStack(stack: StackRoleInputs): AssignedRole[] {
    const roles: AssignedRole[] = [
        stack.handlerRoleScope === "custom-role"
            ? { guid: handlerRoleGuid(stack.fleetId), name: "fleet-gates handler (custom, per fleet)" }
            : { guid: BUILTIN_ROLES.fleetManagerContributor, name: "Azure Kubernetes Fleet Manager Contributor Role" },
        { guid: BUILTIN_ROLES.reader, name: "Reader" },
        { guid: BUILTIN_ROLES.monitoringReader, name: "Monitoring Reader" },
        { guid: BUILTIN_ROLES.monitoringMetricsPublisher, name: "Monitoring Metrics Publisher" },
        { guid: BUILTIN_ROLES.storageBlobDataOwner, name: "Storage Blob Data Owner" },
        { guid: BUILTIN_ROLES.storageTableDataContributor, name: "Storage Table Data Contributor" },
        { guid: BUILTIN_ROLES.storageBlobDataContributor, name: "Storage Blob Data Contributor" },
        {
            guid: BUILTIN_ROLES.resourceNotificationsSubscriber,
            name: "Azure Resource Notifications System Topics Subscriber",
        },
        { guid: approverRoleGuid(stack.fleetId), name: "fleet-gates gate approver (custom, per fleet)" },
    ];
    return roles;
}

/**
 * The `roleAssignmentName` of an assignment: a GUID of its scope, its role definition id, a stand-in
 * for its principal and its key within the component. All four are known before anything is deployed,
 * so a first `pulumi preview` shows the name and the policy pack can check the assignment; none of them
 * is the principal id, which stays unknown until the identity exists.
 *
 * - `principalKey` names the principal by something stable and known at preview (a user-assigned
 *   identity's ARM id, a group's display name): two stacks granting the same role at the same scope
 *   (Reader on a shared subscription) then get different names instead of fighting over one.
 * - `assignmentKey` is the assignment's logical key in its component (`reader-<member>`, not an index),
 *   so reordering members or rules renames nothing.
 *
 * The principal id is not part of the name, so a replaced principal keeps the name: assign with
 * `deleteBeforeReplace` (Azure refuses to move an assignment to another principal, and refuses a second
 * assignment of the same role, scope and principal under a new name).
 */
export function roleAssignmentGuid(
    scope: string,
    roleDefinitionIdValue: string,
    principalKey: string,
    assignmentKey: string,
): string {
    return deterministicGuid("role-assignment", scope, roleDefinitionIdValue, principalKey, assignmentKey);
}
