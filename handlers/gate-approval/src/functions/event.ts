/**
 * Event Grid trigger for gate events from the AKSResources system topic. Thin on purpose: it
 * logs one structured line per event; the decision engine replaces the body in a later change.
 */
import { app, InvocationContext } from "@azure/functions";

/** Function name; Event Grid subscriptions target `<appId>/functions/gate-event`. */
export const GATE_EVENT_FUNCTION = "gate-event";

/**
 * A delivered event as the worker hands it over: the raw JSON object of either envelope schema
 * (Event Grid: `eventType`/`eventTime`; CloudEvents 1.0: `type`/`time`/`source`).
 */
export type DeliveredEvent = Readonly<Record<string, unknown>>;

export interface EventSummary {
    readonly id: string | null;
    readonly type: string | null;
    readonly subject: string | null;
    readonly source: string | null;
    readonly time: string | null;
    readonly schema: "EventGrid" | "CloudEvents" | "unknown";
}

function str(v: unknown): string | null {
    return typeof v === "string" ? v : null;
}

/** The fields worth a log line, whichever envelope schema the event uses. */
export function summariseEvent(event: DeliveredEvent): EventSummary {
    const schema =
        typeof event.specversion === "string"
            ? "CloudEvents"
            : typeof event.eventType === "string"
              ? "EventGrid"
              : "unknown";
    return {
        id: str(event.id),
        type: str(event.eventType) ?? str(event.type),
        subject: str(event.subject),
        source: str(event.topic) ?? str(event.source),
        time: str(event.eventTime) ?? str(event.time),
        schema,
    };
}

export async function gateEvent(event: DeliveredEvent, context: InvocationContext): Promise<void> {
    context.log(
        JSON.stringify({
            msg: "gate event received",
            function: GATE_EVENT_FUNCTION,
            invocationId: context.invocationId,
            ...summariseEvent(event),
        }),
    );
}

app.eventGrid<DeliveredEvent>(GATE_EVENT_FUNCTION, { handler: gateEvent });
