/**
 * Policy gate-subscriptions-scoped-to-fleet through the offline policy harness: every subscription on the
 * AKSResources topic pins exactly one fleet and FleetGate event types only, within Event Grid's limits.
 */
import { describe, expect, it } from "vitest";
import { fleetOfPrefix, fleetScopeProblems, pinnedFleets } from "../src/gate-subscriptions-scoped-to-fleet";
import { FLEET_ID, SUB, T, compliantStack, mutate, urnOf, violation, violationsOf, without } from "./fixture";

const POLICY = "gate-subscriptions-scoped-to-fleet";
const SALES = urnOf(T.subscription, "gate-sales-check");
const OTHER_FLEET = `/subscriptions/${SUB}/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/fleets/flt-other`;

type Filter = {
    subjectBeginsWith?: string;
    includedEventTypes?: string[];
    advancedFilters?: Record<string, unknown>[];
};
const editFilter = (edit: (f: Filter) => void) =>
    mutate(compliantStack(), "gate-sales-check", (i) => edit(i.filter as Filter));

describe(POLICY, () => {
    it("passes the compiled rule and lifecycle filters", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects a subscription that pins no fleet", async () => {
        const stack = editFilter((f) => {
            delete f.subjectBeginsWith;
            f.advancedFilters = f.advancedFilters!.filter((a) => a.key !== "data.resourceInfo.properties.target.id");
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                SALES,
                'event subscription "gate-sales-check" does not filter to one fleet: set subjectBeginsWith to "<fleet id>/gates/" ' +
                    'or a StringBeginsWith filter on data.resourceInfo.properties.target.id with "<fleet id>/updateRuns/"',
            ),
        ]);
    });

    it("rejects a subject prefix that does not end the fleet name (flt-dev would also match flt-dev2)", async () => {
        const stack = editFilter((f) => {
            f.subjectBeginsWith = FLEET_ID;
            f.advancedFilters = f.advancedFilters!.filter((a) => a.key !== "data.resourceInfo.properties.target.id");
        });
        expect((await violationsOf(POLICY, stack)).map((v) => v.message)).toEqual([
            expect.stringContaining('event subscription "gate-sales-check" does not filter to one fleet'),
        ]);
    });

    it("rejects a subscription pinned to two fleets", async () => {
        const stack = editFilter((f) => {
            f.subjectBeginsWith = `${OTHER_FLEET}/gates/`;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                SALES,
                `event subscription "gate-sales-check" filters to more than one fleet: "${OTHER_FLEET}", "${FLEET_ID}"`,
            ),
        ]);
    });

    it("rejects a missing includedEventTypes", async () => {
        const stack = editFilter((f) => {
            delete f.includedEventTypes;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                SALES,
                'event subscription "gate-sales-check" has no includedEventTypes, so it receives every AKSResources event of the ' +
                    "subscription; list the FleetGate types it needs (FleetGateCreated, FleetGateUpdated, FleetGateDeleted)",
            ),
        ]);
    });

    it("rejects an event type that is not a FleetGate type, and accepts the AksResources spelling", async () => {
        const stack = editFilter((f) => {
            f.includedEventTypes = [
                "Microsoft.ResourceNotifications.AksResources.FleetGateCreated",
                "Microsoft.ResourceNotifications.AKSResources.FleetMemberUpdated",
            ];
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                SALES,
                'event subscription "gate-sales-check" includes event type "Microsoft.ResourceNotifications.AKSResources.FleetMemberUpdated", ' +
                    "which is not a FleetGate event type (FleetGateCreated, FleetGateUpdated, FleetGateDeleted)",
            ),
        ]);
    });

    it("rejects a filter beyond Event Grid's limits", async () => {
        const stack = editFilter((f) => {
            f.advancedFilters!.push({
                operatorType: "StringIn",
                key: "data.resourceInfo.properties.displayName",
                values: Array.from({ length: 20 }, (_, i) => `gate ${i}`),
            });
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                SALES,
                'event subscription "gate-sales-check" has a filter Event Grid rejects: advancedFilters: 26 values in total, Event Grid allows at most 25',
            ),
        ]);
    });

    it("checks subscriptions on an adopted topic (outside the stack) that ask for AKSResources events", async () => {
        const stack = mutate(without(compliantStack(), "topic"), "gate-sales-check", (i) => {
            i.systemTopicName = "stpc-existing";
            delete (i.filter as Filter).subjectBeginsWith;
            (i.filter as Filter).advancedFilters = [];
        });
        expect((await violationsOf(POLICY, stack)).map((v) => v.message)).toEqual([
            expect.stringContaining('event subscription "gate-sales-check" does not filter to one fleet'),
        ]);
    });

    it("ignores subscriptions on topics of other types", async () => {
        const stack = mutate(
            mutate(compliantStack(), "topic", (i) => {
                i.topicType = "Microsoft.Storage.StorageAccounts";
            }),
            "gate-sales-check",
            (i) => {
                i.filter = {};
            },
        );
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });

    it("reads fleet pins from subject and gate or run id filters", () => {
        expect(fleetOfPrefix(`${FLEET_ID}/gates/`)).toBe(FLEET_ID);
        expect(fleetOfPrefix(FLEET_ID)).toBeUndefined();
        expect(
            fleetOfPrefix("/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/fleets/f/"),
        ).toBeUndefined();
        expect(
            pinnedFleets({
                advancedFilters: [
                    {
                        operatorType: "StringIn",
                        key: "data.resourceInfo.properties.target.id",
                        values: [`${FLEET_ID}/updateRuns/run-1`],
                    },
                ],
            }),
        ).toEqual([FLEET_ID]);
        // Values of one filter are ORed: two fleets in one filter pin neither.
        expect(
            pinnedFleets({
                advancedFilters: [
                    { operatorType: "StringBeginsWith", key: "subject", values: [`${FLEET_ID}/`, `${OTHER_FLEET}/`] },
                ],
            }),
        ).toEqual([]);
        expect(fleetScopeProblems("s", undefined)).toHaveLength(2);
    });
});
