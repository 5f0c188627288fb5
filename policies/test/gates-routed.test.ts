/**
 * Policy gates-routed through the offline policy harness: every approval gate a rule covers is received
 * by exactly one rule subscription in every envelope, and every rule subscription receives a gate of the
 * strategy (fast-check over generated gate layouts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileRuleFilter } from "../../core/event-filter";
import type { ApprovalRule } from "../../core/rules";
import { receivesCreated, routingProblems } from "../src/gates-routed";
import { FLEET_ID, RULES, SUB, T, compliantStack, mutate, urnOf, violation, violationsOf, without } from "./fixture";

const POLICY = "gates-routed";
const STRATEGY = urnOf(T.arm, "strategy");
const subUrn = (rule: string) => urnOf(T.subscription, `gate-${rule}`);
const OTHER_FLEET = `/subscriptions/${SUB}/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/fleets/flt-other`;

describe(POLICY, () => {
    it("passes when every covered gate has exactly one rule subscription", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it('names both when a rule says "Check with sales teams" and the gate "Check with sales team"', async () => {
        const rules: ApprovalRule[] = RULES.map((r) =>
            r.name === "sales-check" ? { ...r, match: { ...r.match, displayName: "Check with sales teams" } } : r,
        );
        expect(await violationsOf(POLICY, compliantStack(rules))).toEqual([
            violation(
                POLICY,
                subUrn("sales-check"),
                'rule subscription "gate-sales-check" matches no gate; the closest is gate "Check with sales team" (stage dev, Before) ' +
                    'of update strategy "gated-rollout", which it rejects: advancedFilters[3] (StringIn "data.resourceInfo.properties.displayName"): ' +
                    'value "Check with sales team" does not satisfy StringIn ["Check with sales teams"]',
            ),
        ]);
    });

    it("rejects a gate matched by two rule subscriptions", async () => {
        const rules: ApprovalRule[] = [
            ...RULES,
            { name: "dev-before", match: { stage: "dev", timing: "Before" }, checks: [{ type: "clusterHealth" }] },
        ];
        expect(await violationsOf(POLICY, compliantStack(rules))).toEqual([
            violation(
                POLICY,
                STRATEGY,
                'gate "Check with sales team" (stage dev, Before) of update strategy "gated-rollout" is matched by 2 rule subscriptions ' +
                    '("gate-sales-check", "gate-dev-before"); exactly one must route it, or the handler decides it more than once',
            ),
        ]);
    });

    it("rejects a covered gate that no subscription receives", async () => {
        const stack = without(compliantStack(), "gate-prod-go");
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                STRATEGY,
                'gate "prod go" (stage prod, Before) of update strategy "gated-rollout" is covered by rule "prod-go" but no rule ' +
                    "subscription receives its FleetGateCreated event",
            ),
        ]);
    });

    it("rejects a rule subscription pinned to another fleet, from both sides", async () => {
        const stack = mutate(compliantStack(), "gate-prod-go", (i) => {
            i.filter = { ...compileRuleFilter(RULES[2]!, OTHER_FLEET), isSubjectCaseSensitive: false };
        });
        // The synthetic gate's name (a GUID) is part of its subject.
        const subject = `"${FLEET_ID}/gates/[0-9a-f-]{36}"`;
        const rejects = `subjectBeginsWith: subject ${subject} does not begin with "${OTHER_FLEET}/gates/" \\(ignoring case\\)`;
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                STRATEGY,
                expect.stringMatching(
                    new RegExp(
                        '^gate "prod go" \\(stage prod, Before\\) of update strategy "gated-rollout" is covered by rule "prod-go" ' +
                            `but no rule subscription receives its FleetGateCreated event; "gate-prod-go" rejects it: ${rejects}$`,
                    ),
                ) as string,
            ),
            violation(
                POLICY,
                subUrn("prod-go"),
                expect.stringMatching(
                    new RegExp(
                        '^rule subscription "gate-prod-go" matches no gate; the closest is gate "prod go" \\(stage prod, Before\\) ' +
                            `of update strategy "gated-rollout", which it rejects: ${rejects}$`,
                    ),
                ) as string,
            ),
        ]);
    });

    it("without the handler's rules, only checks that subscriptions are unambiguous and used", async () => {
        const stack = without(compliantStack(), "handler-app-settings", "gate-prod-go");
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });

    it("rejects a rule subscription when the stack declares no gates", async () => {
        const stack = without(compliantStack(), "strategy");
        expect(await violationsOf(POLICY, stack)).toEqual(
            RULES.map((r) =>
                violation(
                    POLICY,
                    subUrn(r.name),
                    `rule subscription "gate-${r.name}" matches no gate: the stack declares no update strategy with approval gates`,
                ),
            ),
        );
    });

    it("does not count gates of other types than Approval", async () => {
        const stack = mutate(compliantStack(), "strategy", (i) => {
            const stages = (i.properties as { strategy: { stages: { beforeGates?: { type: string }[] }[] } }).strategy
                .stages;
            stages[1]!.beforeGates![0]!.type = "ScheduledStart";
        });
        expect((await violationsOf(POLICY, stack)).map((v) => v.message)).toEqual([
            expect.stringMatching(/^rule subscription "gate-prod-go" matches no gate;/),
        ]);
    });

    it("requires a subscription to receive the gate in every envelope it may be evaluated in", async () => {
        const stack = mutate(compliantStack(), "gate-prod-go", (i) => {
            i.eventDeliverySchema = "CloudEventSchemaV1_0";
            (i.filter as { advancedFilters: object[] }).advancedFilters.push({
                operatorType: "StringContains",
                key: "eventType",
                values: ["FleetGateCreated"],
            });
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                subUrn("prod-go"),
                'rule subscription "gate-prod-go" receives gate "prod go" (stage prod, Before) of update strategy "gated-rollout" only as ' +
                    "AKSResources in EventGridSchema, AksResources in EventGridSchema, not as AKSResources in CloudEventSchemaV1_0, " +
                    "AksResources in CloudEventSchemaV1_0; Fleet publishes both type spellings: match event types ignoring case",
            ),
        ]);
    });

    it("treats subscriptions without Created events as lifecycle subscriptions", () => {
        expect(
            receivesCreated({ includedEventTypes: ["Microsoft.ResourceNotifications.AksResources.FleetGateUpdated"] }),
        ).toBe(false);
        expect(
            receivesCreated({ includedEventTypes: ["microsoft.resourcenotifications.aksresources.fleetgatecreated"] }),
        ).toBe(true);
        expect(receivesCreated({})).toBe(true);
    });

    it("routes every generated gate layout through rules compiled from the gates, and catches a one-letter typo", () => {
        const name = fc.stringMatching(/^[a-z][a-z0-9 ]{0,14}[a-z0-9]$/);
        fc.assert(
            fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 5 }), fc.nat(), (names, pick) => {
                const stages = [
                    { name: "dev", beforeGates: names.map((displayName) => ({ displayName })), groups: [] },
                ];
                const strategies = [{ urn: "s", strategy: { name: "st", stages }, fleetId: FLEET_ID }];
                const rules: ApprovalRule[] = names.map((n, i) => ({
                    name: `r${i}`,
                    match: { displayName: n, stage: "dev", timing: "Before" },
                    checks: [{ type: "clusterHealth" }],
                }));
                const subscriptions = rules.map((r) => ({
                    urn: r.name,
                    name: `gate-${r.name}`,
                    filter: compileRuleFilter(r, FLEET_ID),
                }));
                expect(routingProblems({ strategies, subscriptions, rules })).toEqual([]);

                const i = pick % names.length;
                const typo = `${names[i]}s`;
                if (names.some((n) => n.toLowerCase() === typo.toLowerCase())) return;
                const typoRule = { ...rules[i]!, match: { ...rules[i]!.match, displayName: typo } };
                const typoSubs = subscriptions.map((s, j) =>
                    j === i ? { ...s, filter: compileRuleFilter(typoRule, FLEET_ID) } : s,
                );
                const found = routingProblems({
                    strategies,
                    subscriptions: typoSubs,
                    rules: rules.map((r, j) => (j === i ? typoRule : r)),
                });
                expect(found.map((f) => f.urn)).toEqual([`r${i}`]);
                expect(found[0]!.message).toContain(`the closest is gate "${names[i]}"`);
                expect(found[0]!.message).toContain(`StringIn [${JSON.stringify(typo)}]`);
            }),
            { numRuns: 60 },
        );
    });
});
