/**
 * Timer trigger for the reconcile sweep. Its schedule is the app setting `SWEEP_SCHEDULE`
 * (`%...%` makes the host resolve it), so the period is stack config, not code. Logging only
 * for now; the sweep over Pending gates replaces the body in a later change.
 */
import { app, InvocationContext, Timer } from "@azure/functions";

export const GATE_SWEEP_FUNCTION = "gate-sweep";
/** The app setting holding the NCRONTAB schedule, e.g. `0 *\/5 * * * *`. */
export const SWEEP_SCHEDULE_SETTING = "SWEEP_SCHEDULE";

export async function gateSweep(timer: Timer, context: InvocationContext): Promise<void> {
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
}

app.timer(GATE_SWEEP_FUNCTION, {
    schedule: `%${SWEEP_SCHEDULE_SETTING}%`,
    runOnStartup: false,
    handler: gateSweep,
});
