/**
 * What the Event Grid trigger does with a delivery of gate events from the AKSResources system topic
 * (and of AKS upgrade events from the members' ManagedClusters topics, `upgrade/decide.ts`):
 * parse it, decide each event with the engine, log one audit line per decision, and throw when any
 * decision is `retry` so that Event Grid redelivers (the Functions host answers 500). Rejected and
 * ignored events are acknowledged. The registration with the Functions host is `functions/event.ts`;
 * this module never touches `app`, so the offline engine can run the handler without a host (and
 * without `@azure/functions` switching itself to test mode and saying so).
 */
import type { InvocationContext } from "@azure/functions";
import { isAksUpgradeEvent, parseAksEvent } from "../../../core/aks-event";
import { parseGateEvent, parseGateEvents } from "../../../core/gate-event";
import { jsonLineSink } from "./audit";
import { Decision, decide } from "./engine";
import type { LogFn } from "./notifier";
import { Runtime, getRuntime } from "./runtime";
import { decideUpgradeEvent } from "./upgrade/decide";

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
    return typeof v === "string" ? v.slice(0, 512) : null;
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

/** Logs through the invocation context at the matching level. */
export function contextLogger(context: InvocationContext): LogFn {
    return (level, message, data) => {
        const line = JSON.stringify({ msg: message, ...(data ?? {}) });
        if (level === "error") context.error(line);
        else if (level === "warn") context.warn(line);
        else context.log(line);
    };
}

/** Thrown to make the host answer 500, so Event Grid delivers the event again. */
export class RedeliveryRequested extends Error {
    constructor(readonly decisions: readonly Decision[]) {
        super(
            `redelivery requested: ${decisions.map((d) => `${d.gateId ?? d.eventId ?? "?"}: ${d.reason ?? ""}`).join("; ")}`,
        );
        this.name = "RedeliveryRequested";
    }
}

/** The handler, with the runtime injectable (tests pass their own). */
export function createGateEventHandler(runtime: () => Runtime = getRuntime) {
    return async (event: unknown, context: InvocationContext): Promise<Decision[]> => {
        const summary =
            typeof event === "object" && event !== null && !Array.isArray(event)
                ? summariseEvent(event as DeliveredEvent)
                : null;
        context.log(
            JSON.stringify({
                msg: "gate event received",
                function: GATE_EVENT_FUNCTION,
                invocationId: context.invocationId,
                ...summary,
            }),
        );
        const rt = runtime();
        const log = contextLogger(context);
        for (const w of rt.warnings) log("warn", w);
        const audit = jsonLineSink((line) => context.log(line));
        const decisions: Decision[] = [];
        const events = Array.isArray(event) ? event : [event];
        const upgrade = rt.upgrade;
        if (upgrade !== undefined && events.some(isAksUpgradeEvent)) {
            // AKS upgrade events, possibly batched with others: each to its own engine.
            for (const e of events)
                decisions.push(
                    isAksUpgradeEvent(e)
                        ? await decideUpgradeEvent(parseAksEvent(e), { ...upgrade, audit, log })
                        : await decide(parseGateEvent(e), { ...rt.deps, audit, log }),
                );
        } else
            for (const parsed of parseGateEvents(event))
                decisions.push(await decide(parsed, { ...rt.deps, audit, log }));
        const retry = decisions.filter((d) => d.outcome === "retry");
        if (retry.length > 0) throw new RedeliveryRequested(retry);
        return decisions;
    };
}

export const gateEvent = createGateEventHandler();
