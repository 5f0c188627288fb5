/**
 * The check registry and the harness that runs a rule's checks.
 *
 * Harness rules: cheapest first (pure checks before network ones), stop at the first failure (the
 * rest are recorded as skipped), each check bounded by its `timeoutSeconds` (default 10 s) and by
 * the decision budget. An exception, a timeout or missing data is a failure carrying the observed
 * value, never a pass. A failure caused only by a transient error (throttling, 5xx, network, the
 * budget running out) is marked `transient` so the engine can ask for another delivery instead of
 * holding the gate.
 */
import { isRestError } from "@azure/core-rest-pipeline";
import type { Check, CheckType } from "../../../../core/rules";
import { ArmError } from "../arm-client";
import { describeError, isTransientStatus, isTransportError } from "../pipeline";
import { DeadlineError, deadline, raceAbort } from "../util";
import { clusterHealth } from "./cluster-health";
import { httpCheck } from "./http";
import { metricCheck } from "./metric";
import { placementAvailable } from "./placement-available";
import type { CheckContext, CheckRegistry, CheckResult, CheckRunner } from "./types";
import { windowCheck } from "./window";

export type { CheckContext, CheckRegistry, CheckResult, CheckServices, CheckVerdict, MetricsReader } from "./types";
export { DecisionScope } from "./scope";

export const CHECK_RUNNERS: CheckRegistry = {
    clusterHealth,
    window: windowCheck,
    http: httpCheck,
    metric: metricCheck,
    placementAvailable,
};

/** Relative cost: pure checks first, then one request, then fan-outs. */
const COST: Record<CheckType, number> = { window: 0, http: 1, placementAvailable: 1, clusterHealth: 2, metric: 3 };
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

function transientError(e: unknown): boolean {
    if (e instanceof ArmError) return e.transient;
    if (isRestError(e)) return e.statusCode !== undefined ? isTransientStatus(e.statusCode) : true;
    return isTransportError(e);
}

export interface RunChecksOptions {
    /** The decision budget's signal. */
    readonly budget: AbortSignal;
    readonly registry?: CheckRegistry;
    /** Elapsed-time source for durations (default performance.now). */
    readonly elapsed?: () => number;
}

/** Runs `checks` in cost order until one fails. Never throws. */
/**
 * Checks that read Azure APIs: when they run out of time, the pipeline was waiting out throttling or
 * retrying 5xx, so another delivery may pass (retry, not held). A slow `http` target is an answer.
 */
const TIMEOUT_IS_TRANSIENT: ReadonlySet<CheckType> = new Set(["clusterHealth", "metric", "placementAvailable"]);

export async function runChecks(
    checks: readonly Check[],
    ctx: Omit<CheckContext, "abortSignal">,
    options: RunChecksOptions,
): Promise<CheckResult[]> {
    const registry = options.registry ?? CHECK_RUNNERS;
    const elapsed = options.elapsed ?? (() => performance.now());
    const ordered = checks.map((c, i) => ({ c, i })).sort((a, b) => COST[a.c.type] - COST[b.c.type] || a.i - b.i);
    const results: CheckResult[] = [];
    let failed = false;
    for (const { c } of ordered) {
        if (failed) {
            results.push({
                type: c.type,
                passed: false,
                observed: "not run: an earlier check failed",
                durationMs: 0,
                skipped: true,
            });
            continue;
        }
        const timeoutMs = (c.timeoutSeconds ?? DEFAULT_CHECK_TIMEOUT_MS / 1000) * 1000;
        // A pure check does no I/O and cannot stall: a timer and an AbortController per decision
        // would only cost time. Every other check gets its own deadline, under the budget's.
        const d = COST[c.type] === 0 ? undefined : deadline(timeoutMs, options.budget);
        const signal = d?.signal ?? options.budget;
        const started = elapsed();
        let result: CheckResult;
        try {
            const runner = registry[c.type] as CheckRunner;
            const work = runner(c, { ...ctx, abortSignal: signal });
            const verdict = await (d ? raceAbort(work, signal) : work);
            result = {
                type: c.type,
                passed: verdict.passed === true,
                observed: verdict.observed,
                durationMs: Math.round(elapsed() - started),
                ...(verdict.passed !== true && verdict.transient ? { transient: true } : {}),
            };
        } catch (e) {
            const durationMs = Math.round(elapsed() - started);
            if (options.budget.aborted)
                result = {
                    type: c.type,
                    passed: false,
                    observed: "decision budget spent",
                    durationMs,
                    transient: true,
                };
            else if (d?.expired() || e instanceof DeadlineError)
                result = {
                    type: c.type,
                    passed: false,
                    observed: `no answer within ${timeoutMs} ms`,
                    durationMs,
                    ...(TIMEOUT_IS_TRANSIENT.has(c.type) ? { transient: true } : {}),
                };
            else
                result = {
                    type: c.type,
                    passed: false,
                    observed: `error: ${describeError(e)}`,
                    durationMs,
                    ...(transientError(e) ? { transient: true } : {}),
                };
        } finally {
            d?.dispose();
        }
        results.push(result);
        if (!result.passed) failed = true;
    }
    return results;
}
