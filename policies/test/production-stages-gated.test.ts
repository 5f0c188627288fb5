/**
 * Policy production-stages-gated through the offline policy harness: every update-strategy stage matching
 * the production pattern (from pack config) has a Before approval gate.
 */
import { describe, expect, it } from "vitest";
import { PolicyConfigError } from "../../local/plan/policy-harness";
import { stagePatternOf, ungatedProductionStages } from "../src/production-stages-gated";
import { strategyOf } from "../src/strategy-model";
import { T, compliantStack, mutate, urnOf, violation, violationsOf } from "./fixture";

const POLICY = "production-stages-gated";
const STRATEGY = urnOf(T.arm, "strategy");
type Stages = { name: string; beforeGates?: { displayName: string; type: string }[] }[];
const editStages = (edit: (stages: Stages) => void) =>
    mutate(compliantStack(), "strategy", (i) =>
        edit((i.properties as { strategy: { stages: Stages } }).strategy.stages),
    );

describe(POLICY, () => {
    it("passes a prod stage with a Before approval gate", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it("rejects a prod stage without Before gates", async () => {
        const stack = editStages((stages) => {
            delete stages[1]!.beforeGates;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                STRATEGY,
                'stage "prod" of update strategy "gated-rollout" matches the production pattern /prod/i but has no Before approval ' +
                    'gate; add beforeGates: [{ displayName: "...", type: "Approval" }] to the stage',
            ),
        ]);
    });

    it("does not count a Before gate of another type", async () => {
        const stack = editStages((stages) => {
            stages[1]!.beforeGates![0]!.type = "ScheduledStart";
        });
        expect(await violationsOf(POLICY, stack)).toHaveLength(1);
    });

    it("takes the stage pattern from pack config", async () => {
        const config = { [POLICY]: { stagePattern: "^dev$" } };
        expect(await violationsOf(POLICY, compliantStack(), { config })).toEqual([]);
        const stack = editStages((stages) => {
            delete stages[0]!.beforeGates;
        });
        expect((await violationsOf(POLICY, stack, { config })).map((v) => v.message)).toEqual([
            expect.stringContaining(
                'stage "dev" of update strategy "gated-rollout" matches the production pattern /^dev$/i',
            ),
        ]);
        await expect(violationsOf(POLICY, stack, { config: { [POLICY]: { stagePattern: "" } } })).rejects.toThrow(
            PolicyConfigError,
        );
    });

    it("fails loudly on a pattern that is no regular expression", () => {
        expect(() => stagePatternOf({ stagePattern: "(" })).toThrow(
            'production-stages-gated: config stagePattern "(" is not a valid regular expression',
        );
    });

    it("reads azure-native's typed FleetUpdateStrategy too", () => {
        const strategy = strategyOf(
            "azure-native:containerservice:FleetUpdateStrategy",
            { updateStrategyName: "typed", strategy: { stages: [{ name: "prod-eu", groups: [{ name: "g" }] }] } },
            "x",
        )!;
        expect(ungatedProductionStages(strategy, /prod/i)).toEqual([
            expect.stringContaining('stage "prod-eu" of update strategy "typed"'),
        ]);
    });
});
