/**
 * The project's own stacks pass the pack: `npm run plan -- --stack dev|prod` has no mandatory violation.
 * Each stack is also mutated in its plan, to show the policies really read its resources.
 */
import { describe, expect, it } from "vitest";
import type { PlannedResource } from "../../local/plan/mocks";
import { planStack, type Plan } from "../../local/plan/plan";
import { evaluatePolicies } from "../../local/plan/policy-harness";

type Filter = { advancedFilters: { key: string; values?: string[] }[] };

/** A copy of the plan where one rule subscription's displayName filter has a typo (inputs and outputs alike). */
function withTypo(plan: Plan, subscription: string, typo: string): Plan {
    const resources = plan.resources.map((r): PlannedResource => {
        if (r.inputs.eventSubscriptionName !== subscription) return r;
        const edit = (props: Record<string, unknown>) => {
            const copy = structuredClone(props);
            for (const f of (copy.filter as Filter).advancedFilters)
                if (f.key === "data.resourceInfo.properties.displayName") f.values = [typo];
            return copy;
        };
        return { ...r, inputs: edit(r.inputs), outputs: edit(r.outputs) };
    });
    return { ...plan, resources };
}

describe.each([
    ["dev", "gate-sales-check", "Check with sales team"],
    ["prod", "gate-canary-healthy", "canary healthy"],
])("the %s stack", (stack, subscription, gate) => {
    it("has no mandatory violation", async () => {
        const plan = await planStack(stack);
        const violations = await evaluatePolicies(plan);
        expect(violations.filter((v) => v.level === "mandatory")).toEqual([]);
    });

    it(`is caught when ${subscription} misspells its gate`, async () => {
        const plan = withTypo(await planStack(stack), subscription, `${gate}s`);
        const routed = (await evaluatePolicies(plan)).filter((v) => v.policy === "gates-routed");
        const reason = `value "${gate}" does not satisfy StringIn \\["${gate}s"\\]$`;
        // The handler's APPROVAL_RULES still cover the gate: reported from the gate's side and the subscription's.
        expect(routed.map((v) => v.message)).toEqual([
            expect.stringMatching(
                new RegExp(
                    `^gate "${gate}" .* but no rule subscription receives .*; "${subscription}" rejects it: .*${reason}`,
                ),
            ),
            expect.stringMatching(
                new RegExp(
                    `^rule subscription "${subscription}" matches no gate; the closest is gate "${gate}" .*${reason}`,
                ),
            ),
        ]);
    });
});
