/**
 * What the timer trigger of the reconcile sweep does (registered in `functions/sweep.ts`). Its schedule is the app setting `SWEEP_SCHEDULE`
 * (`%...%` makes the host resolve it), so the period is stack config, not code. Each run lists the
 * fleet's gates and re-evaluates the Pending approval gates (engine `sweep`); one audit line per
 * decision. A failed listing fails the invocation (visible in monitoring); per-gate `retry`
 * outcomes are simply evaluated again by the next sweep.
 */
import type { InvocationContext, Timer } from "@azure/functions";
import { jsonLineSink } from "./audit";
import { Decision, sweep } from "./engine";
import { Runtime, getRuntime } from "./runtime";
import { contextLogger } from "./event-handler";

export const GATE_SWEEP_FUNCTION = "gate-sweep";
/** The app setting holding the NCRONTAB schedule, e.g. `0 *\/5 * * * *`. */
export const SWEEP_SCHEDULE_SETTING = "SWEEP_SCHEDULE";

export function createGateSweepHandler(runtime: () => Runtime = getRuntime) {
    return async (timer: Timer, context: InvocationContext): Promise<Decision[]> => {
        context.log(
            JSON.stringify({
                msg: "gate sweep tick",
                function: GATE_SWEEP_FUNCTION,
                invocationId: context.invocationId,
                isPastDue: timer.isPastDue,
                scheduleLast: timer.scheduleStatus?.last ?? null,
                scheduleNext: timer.scheduleStatus?.next ?? null,
            }),
        );
        const rt = runtime();
        const log = contextLogger(context);
        for (const w of rt.warnings) log("warn", w);
        const decisions = await sweep({ ...rt.deps, audit: jsonLineSink((line) => context.log(line)), log });
        const counts: Record<string, number> = {};
        for (const d of decisions) counts[d.outcome] = (counts[d.outcome] ?? 0) + 1;
        context.log(
            JSON.stringify({
                msg: "gate sweep done",
                function: GATE_SWEEP_FUNCTION,
                gates: decisions.length,
                outcomes: counts,
            }),
        );
        const failedListing = decisions.find((d) => d.outcome === "retry" && d.gateId === undefined);
        if (failedListing) throw new Error(`gate sweep: ${failedListing.reason}`);
        return decisions;
    };
}

export const gateSweep = createGateSweepHandler();
