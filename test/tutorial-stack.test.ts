/**
 * The stack of Microsoft's staged-rollout tutorial (`test/stacks/Pulumi.tutorial.yaml`): members labelled
 * `environment: canary`, `order: "1"`, ... in a stack whose own `environment` tag is `tutorial`. It plans
 * with the policy pack, rehearses and replays like the project's own stacks; its labels reach the fleet
 * members and never the Azure tags.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ARM_RESOURCE_TYPE } from "../components/arm-resource";
import { gateEventFor } from "../core/event-filter";
import { OFFLINE_DEFAULTS } from "../local/plan/mocks";
import { planStack } from "../local/plan/plan";
import { evaluatePolicies } from "../local/plan/policy-harness";
import { rehearse } from "../local/simulate/rehearse";
import { replay } from "../local/simulate/replay";

const DIR = path.resolve(__dirname, "stacks");
const FLEET_ID = `/subscriptions/${OFFLINE_DEFAULTS.subscriptionId}/resourceGroups/rg-fleet-gates-tutorial/providers/Microsoft.ContainerService/fleets/flt-tutorial`;
/** Tuesday 10:00 in New York: inside the staging rule's window (Mon–Thu 09:00–16:00 America/New_York). */
const IN_WINDOW = new Date("2026-11-24T15:00:00Z");

describe("the tutorial's labelled stack", () => {
    it("plans with no policy violation; labels go to the members, the stack's tags to the clusters", async () => {
        const plan = await planStack("tutorial", { dir: DIR });
        expect(await evaluatePolicies(plan)).toEqual([]);
        const byType = (t: string) => plan.resources.filter((r) => r.type === t);
        const members = byType(ARM_RESOURCE_TYPE).filter((r) => r.inputs.resourceType === "members");
        expect(
            Object.fromEntries(
                members.map((m) => [
                    m.inputs.resourceName,
                    (m.inputs.properties as { labels: Record<string, string> }).labels,
                ]),
            ),
        ).toEqual({
            "aks-canary-1": { environment: "canary", order: "1" },
            "aks-canary-2": { environment: "canary", order: "2" },
            "aks-staging-1": { environment: "staging" },
            "aks-production-1": { environment: "production" },
        });
        const clusters = byType("azure-native:containerservice:ManagedCluster");
        expect(clusters).toHaveLength(4);
        for (const c of clusters)
            expect(c.inputs.tags, c.name).toEqual({ environment: "tutorial", "managed-by": "fleet-gates" });
    });

    it("rehearses an update run: the ruled gates approved, the manual one approved by a person", async () => {
        const r = await rehearse({ stack: "tutorial", dir: DIR, now: IN_WINDOW, approveManual: true });
        expect(r.gates.map((g) => [g.stage, g.group, g.displayName, g.rule, g.outcome])).toEqual([
            ["canary", "canary", "canary healthy", "canary-healthy", "approved"],
            ["staging", null, "staging go", "staging-go", "approved"],
            ["production", null, "production go", null, "manual"],
        ]);
        expect(r.stuck).toEqual([]);
    });

    it("replays gate events of the tutorial's fleet through the handler", async () => {
        const gate = (gateName: string, stage: string, displayName: string, group?: string) =>
            gateEventFor({
                fleetId: FLEET_ID,
                gateName,
                updateRunName: "run-1",
                stage,
                ...(group ? { group } : {}),
                timing: group ? "After" : "Before",
                displayName,
            });
        const r = await replay({
            stack: "tutorial",
            dir: DIR,
            now: IN_WINDOW,
            events: [
                gate("0b8f3c1e-2a4d-4e6f-8a1b-3c5d7e9f1a2b", "canary", "canary healthy", "canary"),
                gate("1c9a4d2f-3b5e-4f7a-9b2c-4d6e8f0a2b3c", "staging", "staging go"),
                gate("2dab5e3a-4c6f-4a8b-8c3d-5e7f9a1b3c4d", "production", "production go"),
            ],
        });
        expect(r.decisions.map((d) => [d.outcome, d.rule])).toEqual([
            ["approved", "canary-healthy"],
            ["approved", "staging-go"],
            ["manual", null],
        ]);
        expect(r.patches).toBe(2);
    });
});
