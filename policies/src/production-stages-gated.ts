/**
 * `production-stages-gated`: no stage that updates production clusters starts without an approval.
 * A Before gate on the stage holds the run until the handler (or a person) says go.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { strategyOf, type StrategyInfo } from "./strategy-model";
import type { Props } from "./common";

export const DEFAULT_STAGE_PATTERN = "prod";

export interface ProductionStagesConfig {
    /** Regular expression (case-insensitive) naming production stages; default `prod`. */
    readonly stagePattern?: string;
}

/** The stage pattern as a case-insensitive RegExp; throws naming the config key when invalid. */
export function stagePatternOf(config: ProductionStagesConfig): RegExp {
    const source = config.stagePattern ?? DEFAULT_STAGE_PATTERN;
    try {
        return new RegExp(source, "i");
    } catch (e) {
        throw new Error(
            `production-stages-gated: config stagePattern "${source}" is not a valid regular expression: ${(e as Error).message}`,
        );
    }
}

/** One finding per production stage without a stage-level Before approval gate. */
export function ungatedProductionStages(strategy: StrategyInfo, pattern: RegExp): string[] {
    return strategy.stages
        .filter((s) => pattern.test(s.name) && (s.beforeGates ?? []).length === 0)
        .map(
            (s) =>
                `stage "${s.name}" of update strategy "${strategy.name}" matches the production pattern ${String(pattern)} ` +
                'but has no Before approval gate; add beforeGates: [{ displayName: "...", type: "Approval" }] to the stage',
        );
}

export const requireGatedProductionStages: ResourceValidationPolicy = {
    name: "production-stages-gated",
    description: "Every update-strategy stage whose name matches the production pattern has a Before approval gate.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: {
        properties: { stagePattern: { type: "string", minLength: 1, default: DEFAULT_STAGE_PATTERN } },
    },
    remediationSteps: "Give each production stage a beforeGates entry of type Approval (fleet-gates:updateStrategy).",
    validateResource: (args, report) => {
        const strategy = strategyOf(args.type, args.props as Props, args.name);
        if (!strategy) return args.notApplicable("Policy only applies to Fleet update strategies");
        const pattern = stagePatternOf(args.getConfig<ProductionStagesConfig>());
        for (const p of ungatedProductionStages(strategy, pattern)) report(p);
    },
};
