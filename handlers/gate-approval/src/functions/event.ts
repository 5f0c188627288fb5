/**
 * Event Grid trigger `gate-event`: registers the gate event handler (`../event-handler.ts`) with the
 * Functions host. Thin on purpose: importing this module is what registers the function.
 */
import { app } from "@azure/functions";
import { type DeliveredEvent, GATE_EVENT_FUNCTION, gateEvent } from "../event-handler";

app.eventGrid<DeliveredEvent>(GATE_EVENT_FUNCTION, {
    handler: async (event, context) => {
        await gateEvent(event, context);
    },
});
