/**
 * Policy aks-resources-topic-singleton through the offline policy harness: a stack creates at most one
 * AKSResources system topic per subscription.
 */
import { describe, expect, it } from "vitest";
import { duplicateTopics } from "../src/topic-singleton";
import { OTHER_SUB, SUB, T, compliantStack, urnOf, violation, violationsOf, type FixtureResource } from "./fixture";

const POLICY = "aks-resources-topic-singleton";

function secondTopic(name: string, source: string): FixtureResource {
    return {
        type: T.topic,
        name,
        inputs: {
            resourceGroupName: "rg-other",
            systemTopicName: name,
            location: "global",
            source,
            topicType: "Microsoft.ResourceNotifications.AKSResources",
        },
    };
}

describe(POLICY, () => {
    it("passes one topic per subscription", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
        const twoSubscriptions = [...compliantStack(), secondTopic("evgt-other", `/subscriptions/${OTHER_SUB}`)];
        expect(await violationsOf(POLICY, twoSubscriptions)).toEqual([]);
    });

    it("rejects a second AKSResources topic of the same subscription, naming the first", async () => {
        const stack = [...compliantStack(), secondTopic("evgt-aks-2", `/subscriptions/${SUB}`)];
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.topic, "evgt-aks-2"),
                `system topic "evgt-aks-2" is a second Microsoft.ResourceNotifications.AKSResources topic for subscription ${SUB} ` +
                    '(the first is "evgt-aks"); Azure allows one per subscription: adopt the existing topic instead',
            ),
        ]);
    });

    it("compares subscriptions ignoring case and ignores other topic types", () => {
        expect(
            duplicateTopics([
                { urn: "a", name: "a", source: `/subscriptions/${SUB}` },
                { urn: "b", name: "b", source: `/subscriptions/${SUB.toUpperCase()}` },
                { urn: "c", name: "c" },
            ]).map((d) => d.urn),
        ).toEqual(["b"]);
    });
});
