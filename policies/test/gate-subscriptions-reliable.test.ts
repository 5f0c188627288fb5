/**
 * Policy gate-subscriptions-reliable (advisory) through the offline policy harness: every gate event
 * subscription sets a retry policy, a dead-letter destination and a TTL of at least 60 minutes.
 */
import { describe, expect, it } from "vitest";
import { PolicyConfigError } from "../../local/plan/policy-harness";
import { reliabilityProblems } from "../src/subscription-reliability";
import { T, compliantStack, mutate, urnOf, violation, violationsOf } from "./fixture";

const POLICY = "gate-subscriptions-reliable";
const SALES = urnOf(T.subscription, "gate-sales-check");
const edit = (e: (i: Record<string, unknown>) => void) => mutate(compliantStack(), "gate-sales-check", e);

describe(POLICY, () => {
    it("passes retries, a dead-letter container and a day of TTL", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("is advisory: a missing retry policy is reported, not enforced", async () => {
        const stack = edit((i) => {
            delete i.retryPolicy;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                SALES,
                'event subscription "gate-sales-check" sets no retryPolicy; set maxDeliveryAttempts and eventTimeToLiveInMinutes (at least 60) explicitly',
                "advisory",
            ),
        ]);
    });

    it("reports a TTL under 60 minutes", async () => {
        const stack = edit((i) => {
            i.retryPolicy = { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 30 };
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                SALES,
                'event subscription "gate-sales-check" keeps undelivered events for 30 minutes (retryPolicy.eventTimeToLiveInMinutes); gate events need at least 60',
                "advisory",
            ),
        ]);
    });

    it("reports a missing dead-letter destination", async () => {
        const stack = edit((i) => {
            delete i.deadLetterWithResourceIdentity;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                SALES,
                'event subscription "gate-sales-check" has no dead-letter destination, so events that exhaust their retries are dropped; set deadLetterWithResourceIdentity with a blob container',
                "advisory",
            ),
        ]);
    });

    it("takes its minimum TTL and its level from pack config", async () => {
        const stack = edit((i) => {
            i.retryPolicy = { eventTimeToLiveInMinutes: 90 };
        });
        const config = { [POLICY]: { enforcementLevel: "mandatory", minEventTimeToLiveInMinutes: 120 } };
        expect(await violationsOf(POLICY, stack, { config })).toEqual([
            violation(
                POLICY,
                SALES,
                'event subscription "gate-sales-check" keeps undelivered events for 90 minutes (retryPolicy.eventTimeToLiveInMinutes); gate events need at least 120',
            ),
        ]);
        await expect(
            violationsOf(POLICY, stack, { config: { [POLICY]: { minEventTimeToLiveInMinutes: 0 } } }),
        ).rejects.toThrow(PolicyConfigError);
    });

    it("accepts a plain deadLetterDestination and Event Grid's default TTL", () => {
        expect(
            reliabilityProblems("s", {
                retryPolicy: { maxDeliveryAttempts: 10 },
                deadLetterDestination: { endpointType: "StorageBlob", resourceId: "x", blobContainerName: "c" },
            }),
        ).toEqual([]);
    });
});
