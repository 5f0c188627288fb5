/**
 * What goes over the wire from Event Grid to an endpoint (`shared/reference/event-grid.md` §4.1,
 * §4.5, §5.3): an Event Grid-schema event mapped to CloudEvents 1.0 for CloudEvents subscriptions,
 * the request body per delivery schema, and batching by `maxEventsPerBatch` and
 * `preferredBatchSizeInKilobytes`.
 */
import { type EventSchema, type JsonObject, type JsonValue } from "../../../core/event-filter";

// ---------------------------------------------------------------------------------------------
// Envelopes and request bodies (§4.1, §5.3)
// ---------------------------------------------------------------------------------------------

/**
 * An Event Grid-schema event as a CloudEvents 1.0 subscription receives it (§5.3, as both sample
 * forms of the AKSResources events show): id → id, topic → source, subject → subject, eventType →
 * type, eventTime → time, data → data; dataVersion and metadataVersion have no counterpart.
 * `specversion` is spelled as the CloudEvents spec requires (the docs' `specVersion` is a glitch).
 */
export function toCloudEvent(event: JsonObject): JsonObject {
    const out: JsonObject = {};
    const map: [string, string][] = [
        ["topic", "source"],
        ["subject", "subject"],
        ["eventType", "type"],
        ["eventTime", "time"],
        ["id", "id"],
        ["data", "data"],
    ];
    for (const [from, to] of map) {
        const v = event[from];
        if (v !== undefined) out[to] = v;
    }
    out.specversion = "1.0";
    return out;
}

/**
 * The body of one request (§4.1): Event Grid schema always a JSON array (one event unless
 * batching); CloudEvents one object per request, an array only for a batch.
 */
export function requestBody(events: readonly JsonObject[], schema: EventSchema): JsonValue {
    if (schema === "CloudEventSchemaV1_0" && events.length === 1) return events[0]!;
    return [...events];
}

/** The destination's batching settings (§3, §4.5). */
export interface BatchSettings {
    /** 1–5000; absent: one event per request (batching is off by default). */
    readonly maxEventsPerBatch?: number;
    /** 1–1024 KB; a request is closed before it would grow past it. */
    readonly preferredBatchSizeInKilobytes?: number;
}

export const BATCH_LIMITS = Object.freeze({
    maxEventsPerBatch: Object.freeze([1, 5000] as const),
    preferredBatchSizeInKilobytes: Object.freeze([1, 1024] as const),
});

export function checkBatchSettings(s: BatchSettings, what: string): void {
    for (const key of ["maxEventsPerBatch", "preferredBatchSizeInKilobytes"] as const) {
        const v = s[key];
        if (v === undefined) continue;
        const [min, max] = BATCH_LIMITS[key];
        if (!Number.isInteger(v) || v < min || v > max)
            throw new RangeError(`${what}: ${key} ${v} is outside Event Grid's range ${min}-${max}`);
    }
}

/**
 * The requests one subscription's events go out in (§4.5). Best effort and without waiting: events
 * are taken in order; a request is closed when it holds `maxEventsPerBatch` events or when the next
 * event would take it past `preferredBatchSizeInKilobytes`; an event larger than that goes alone.
 * `sizeOf` measures an event in bytes (default: its JSON, UTF-8).
 */
export function batchEvents<E>(
    events: readonly E[],
    settings: BatchSettings = {},
    sizeOf: (event: E) => number = (e) => Buffer.byteLength(JSON.stringify(e)),
): E[][] {
    checkBatchSettings(settings, "batchEvents");
    const maxEvents = settings.maxEventsPerBatch ?? 1;
    const maxBytes =
        settings.preferredBatchSizeInKilobytes === undefined ? Infinity : settings.preferredBatchSizeInKilobytes * 1024;
    const out: E[][] = [];
    let cur: E[] = [];
    let bytes = 0;
    for (const e of events) {
        const size = maxBytes === Infinity ? 0 : sizeOf(e);
        if (cur.length > 0 && (cur.length >= maxEvents || bytes + size > maxBytes)) {
            out.push(cur);
            cur = [];
            bytes = 0;
        }
        cur.push(e);
        bytes += size;
    }
    if (cur.length > 0) out.push(cur);
    return out;
}
