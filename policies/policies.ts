/**
 * The pack's policies, in the order they run and are listed. `index.ts` serves them as a policy
 * pack; the offline harness (`local/plan/policy-harness.ts`) evaluates the same list over mocked plans.
 */
import type { EnforcementLevel, Policies } from "@pulumi/policy";
import { requireAssignableCustomRoleScopes } from "./src/custom-role-scopes-assignable";
import { disallowCustomRoleWildcards } from "./src/custom-roles-no-wildcards";
import { disallowGenericFleetChildren } from "./src/fleet-children-not-generic";
import { requireHardenedFunctionApp } from "./src/function-app-hardened";
import { recommendReliableGateSubscriptions } from "./src/gate-subscriptions-reliable";
import { requireFleetScopedGateSubscriptions } from "./src/gate-subscriptions-scoped-to-fleet";
import { requireRoutedGates } from "./src/gates-routed";
import { requireLeastPrivilegeGateApproval } from "./src/handler-role-least-privilege";
import { requireHubHandlerApprovalStatusOnly } from "./src/hub-handler-approval-only";
import { requireEntraRbacClusters } from "./src/member-clusters-entra-rbac";
import { requirePinnedGithubCredentials } from "./src/github-oidc-credentials-pinned";
import { requireGatedProductionStages } from "./src/production-stages-gated";
import { requireReadOnlyPullRequestIdentity } from "./src/pull-request-identity-read-only";
import { requireRbacWithinStackSubscription } from "./src/rbac-within-stack-subscription";
import { requireConstrainedRoleAssignmentRights } from "./src/role-assignment-rights-constrained";
import { requireSingleAksTopic } from "./src/topic-singleton";
import { requireTopicSubscriptionScope } from "./src/topic-subscription-scope";
import { requireSubscriberSubscriptionRead } from "./src/topic-subscribers-read-subscription";
import { recommendReliableUpgradeEventSubscriptions } from "./src/upgrade-event-subscriptions-reliable";
import { requireUpgradeEventTopicsOnStackClusters } from "./src/upgrade-event-topics-on-stack-clusters";

/** The policy pack's name: `pulumi preview --policy-pack policies` reports violations under it. */
export const POLICY_PACK_NAME = "fleet-gates";

export const POLICY_PACK_DESCRIPTION =
    "fleet-gates: subscription-scoped RBAC for the AKSResources topic, least privilege for the gate handler, and every automated gate routed to it.";

/** The pack's default level; every policy also sets its own. */
export const POLICY_PACK_ENFORCEMENT_LEVEL: EnforcementLevel = "mandatory";

export const policies: Policies = [
    requireTopicSubscriptionScope,
    requireSingleAksTopic,
    requireFleetScopedGateSubscriptions,
    recommendReliableGateSubscriptions,
    requireLeastPrivilegeGateApproval,
    requireSubscriberSubscriptionRead,
    requireRbacWithinStackSubscription,
    disallowCustomRoleWildcards,
    requireAssignableCustomRoleScopes,
    requireRoutedGates,
    requireGatedProductionStages,
    disallowGenericFleetChildren,
    requireHardenedFunctionApp,
    requireEntraRbacClusters,
    requireConstrainedRoleAssignmentRights,
    requirePinnedGithubCredentials,
    requireReadOnlyPullRequestIdentity,
    requireHubHandlerApprovalStatusOnly,
    requireUpgradeEventTopicsOnStackClusters,
    recommendReliableUpgradeEventSubscriptions,
];
