/**
 * `topic-subscribers-read-subscription`: the AKSResources topic publishes events about every AKS
 * resource of the subscription. Only principals that may read the whole subscription may subscribe,
 * or subscribing becomes a way to learn about clusters one cannot read.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { BUILTIN_ROLES, SUBSCRIBE_TO_AKS_RESOURCES_ACTION } from "../../core/roles";
import {
    grantsAction,
    grantsReadEverything,
    parseScope,
    rbacModel,
    roleLabel,
    subscriptionScope,
    type Assignment,
} from "./common";

/** Built-in roles that include `*\/read`. */
const READ_EVERYTHING_ROLES: readonly string[] = [BUILTIN_ROLES.reader, BUILTIN_ROLES.contributor, BUILTIN_ROLES.owner];

/** True when the assignment grants the AKSResources subscribe action (built-in subscriber role or a custom role). */
export function grantsSubscribe(a: Assignment): boolean {
    if (a.roleGuid === BUILTIN_ROLES.resourceNotificationsSubscriber) return true;
    return a.customRole !== undefined && grantsAction(a.customRole.permissions, SUBSCRIBE_TO_AKS_RESOURCES_ACTION);
}

/** True when the assignment grants read on everything in its scope (Reader, or a role with `*\/read`). */
export function grantsReadAll(a: Assignment): boolean {
    if (a.customRole) return grantsReadEverything(a.customRole.permissions);
    return a.roleGuid !== undefined && READ_EVERYTHING_ROLES.includes(a.roleGuid);
}

/** One finding per subscribe grant whose principal lacks read on the same whole subscription. */
export function subscriberReadProblems(assignments: readonly Assignment[]): { urn: string; message: string }[] {
    const out: { urn: string; message: string }[] = [];
    for (const a of assignments.filter(grantsSubscribe)) {
        const sub = parseScope(a.scope).subscriptionId;
        // A grant outside any subscription is rbac-within-stack-subscription's finding.
        if (!a.principalId || !sub) continue;
        const reads = assignments.some((b) => {
            const s = parseScope(b.scope);
            return (
                b.principalId === a.principalId &&
                s.kind === "subscription" &&
                s.subscriptionId === sub &&
                grantsReadAll(b)
            );
        });
        if (reads) continue;
        out.push({
            urn: a.resource.urn,
            message:
                `${a.principalLabel} is granted ${SUBSCRIBE_TO_AKS_RESOURCES_ACTION} (${roleLabel(a)}, role assignment ` +
                `"${a.name}") but holds no Reader (or other role with */read) at "${subscriptionScope(sub)}"; the AKSResources ` +
                "topic emits subscription-wide events: grant Reader at the subscription too",
        });
    }
    return out;
}

export const requireSubscriberSubscriptionRead: StackValidationPolicy = {
    name: "topic-subscribers-read-subscription",
    description:
        "Every principal granted the AKSResources subscribe action also holds Reader (or a role with */read) at the same subscription.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: "Assign Reader at /subscriptions/<id> to every principal that holds the subscriber role there.",
    validateStack: (args, report) => {
        for (const d of subscriberReadProblems(rbacModel(args.resources).assignments)) report(d.message, d.urn);
    },
};
