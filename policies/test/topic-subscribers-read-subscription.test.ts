/**
 * Policy topic-subscribers-read-subscription through the offline policy harness: every principal that may
 * subscribe to the AKSResources topic also holds Reader at the same subscription.
 */
import { describe, expect, it } from "vitest";
import { BUILTIN_ROLES, SUBSCRIBE_TO_AKS_RESOURCES_ACTION, roleDefinitionId } from "../../core/roles";
import {
    RG,
    SUB,
    SUBSCRIBERS,
    T,
    compliantStack,
    mutate,
    urnOf,
    violation,
    violationsOf,
    without,
    type FixtureResource,
} from "./fixture";

const POLICY = "topic-subscribers-read-subscription";
const NOTIFICATIONS = urnOf(T.assignment, "subscribers-notifications");
const missingReader = (label: string, assignment: string, principal = SUBSCRIBERS) =>
    `principal ${principal} is granted ${SUBSCRIBE_TO_AKS_RESOURCES_ACTION} (${label}, role assignment "${assignment}") but ` +
    `holds no Reader (or other role with */read) at "/subscriptions/${SUB}"; the AKSResources topic emits subscription-wide ` +
    "events: grant Reader at the subscription too";

describe(POLICY, () => {
    it("passes subscriber role plus Reader at the subscription", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects the subscriber role without Reader", async () => {
        const stack = without(compliantStack(), "subscribers-reader");
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                NOTIFICATIONS,
                missingReader("Azure Resource Notifications System Topics Subscriber", "subscribers-notifications"),
            ),
        ]);
    });

    it("rejects Reader at a narrower scope than the subscription", async () => {
        const stack = mutate(compliantStack(), "subscribers-reader", (i) => {
            i.scope = `/subscriptions/${SUB}/resourceGroups/${RG}`;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                NOTIFICATIONS,
                missingReader("Azure Resource Notifications System Topics Subscriber", "subscribers-notifications"),
            ),
        ]);
    });

    it("rejects Reader held by another principal", async () => {
        const stack = mutate(compliantStack(), "subscribers-reader", (i) => {
            i.principalId = "99999999-9999-4999-8999-999999999999";
        });
        expect(await violationsOf(POLICY, stack)).toHaveLength(1);
    });

    it("applies to custom roles granting the subscribe action", async () => {
        const stack: FixtureResource[] = [
            ...without(compliantStack(), "subscribers-notifications", "subscribers-reader"),
            {
                type: T.definition,
                name: "subscribe-role",
                inputs: {
                    scope: `/subscriptions/${SUB}`,
                    roleDefinitionId: "66666666-6666-4666-8666-666666666666",
                    roleName: "aks-events-subscriber",
                    permissions: [
                        { actions: ["Microsoft.ResourceNotifications/systemTopics/subscribeToAksResources/action"] },
                    ],
                    assignableScopes: [`/subscriptions/${SUB}`],
                },
            },
            {
                type: T.assignment,
                name: "custom-subscribe",
                inputs: {
                    scope: `/subscriptions/${SUB}`,
                    roleDefinitionId: roleDefinitionId(SUB, "66666666-6666-4666-8666-666666666666"),
                    principalId: SUBSCRIBERS,
                },
                propertyDependencies: { roleDefinitionId: ["subscribe-role"] },
            },
        ];
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.assignment, "custom-subscribe"),
                missingReader('custom role "aks-events-subscriber"', "custom-subscribe"),
            ),
        ]);
        const withReader: FixtureResource[] = [
            ...stack,
            {
                type: T.assignment,
                name: "reader",
                inputs: {
                    scope: `/subscriptions/${SUB}/`,
                    roleDefinitionId: roleDefinitionId(SUB, BUILTIN_ROLES.reader),
                    principalId: SUBSCRIBERS.toUpperCase(),
                },
            },
        ];
        expect(await violationsOf(POLICY, withReader)).toEqual([]);
    });
});
