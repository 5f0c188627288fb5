/**
 * Timer trigger `gate-sweep`: registers the reconcile sweep (`../sweep-handler.ts`) with the Functions
 * host, on the schedule of the `SWEEP_SCHEDULE` app setting. Importing this module registers it.
 */
import { app } from "@azure/functions";
import { GATE_SWEEP_FUNCTION, SWEEP_SCHEDULE_SETTING, gateSweep } from "../sweep-handler";

app.timer(GATE_SWEEP_FUNCTION, {
    schedule: `%${SWEEP_SCHEDULE_SETTING}%`,
    runOnStartup: false,
    handler: async (timer, context) => {
        await gateSweep(timer, context);
    },
});
