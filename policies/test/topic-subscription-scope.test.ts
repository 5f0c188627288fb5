/**
 * Policy aks-resources-topic-subscription-scope through the offline policy harness: the AKSResources system
 * topic has the source /subscriptions/<id> and location global.
 */
import { describe, expect, it } from "vitest";
import { topicScopeProblems } from "../src/topic-subscription-scope";
import { RG, SUB, T, compliantStack, mutate, urnOf, violation, violationsOf } from "./fixture";

const POLICY = "aks-resources-topic-subscription-scope";
const TOPIC = urnOf(T.topic, "topic");

describe(POLICY, () => {
    it("passes the compliant topic", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects a resource group source", async () => {
        const stack = mutate(compliantStack(), "topic", (i) => {
            i.source = `/subscriptions/${SUB}/resourceGroups/${RG}`;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                TOPIC,
                `system topic "evgt-aks" has source "/subscriptions/${SUB}/resourceGroups/${RG}"; an AKSResources topic must ` +
                    'have source exactly "/subscriptions/<subscription id>": Azure emits its events at subscription scope only',
            ),
        ]);
    });

    it("rejects a source with a trailing slash, and a missing source", async () => {
        const trailing = mutate(compliantStack(), "topic", (i) => {
            i.source = `/subscriptions/${SUB}/`;
        });
        expect((await violationsOf(POLICY, trailing)).map((v) => v.message)).toEqual([
            expect.stringContaining(`has source "/subscriptions/${SUB}/";`),
        ]);
        const missing = mutate(compliantStack(), "topic", (i) => {
            delete i.source;
        });
        expect((await violationsOf(POLICY, missing)).map((v) => v.message)).toEqual([
            expect.stringContaining('system topic "evgt-aks" has source (not set);'),
        ]);
    });

    it("rejects a regional location", async () => {
        const stack = mutate(compliantStack(), "topic", (i) => {
            i.location = "westeurope";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                TOPIC,
                'system topic "evgt-aks" has location "westeurope"; an AKSResources topic must be in location "global"',
            ),
        ]);
    });

    it("accepts Global in any case and the topic type in any case", () => {
        const props = {
            topicType: "microsoft.resourcenotifications.aksresources",
            source: `/subscriptions/${SUB.toUpperCase()}`,
            location: "Global",
        };
        expect(topicScopeProblems(props, "t")).toEqual([]);
    });

    it("ignores system topics of other types", async () => {
        const stack = mutate(compliantStack(), "topic", (i) => {
            i.topicType = "Microsoft.Storage.StorageAccounts";
            i.source = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s";
            i.location = "westeurope";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });
});
