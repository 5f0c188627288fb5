/**
 * The Event Grid envelope rules every event parser of this project shares (Fleet gate events in
 * `gate-event.ts`, AKS upgrade events in `aks-event.ts`): the bounded envelope fields of both
 * delivery schemas (Event Grid `id`/`topic`/`subject`/`eventType`/`eventTime`, CloudEvents 1.0
 * `id`/`source`/`subject`/`type`/`time`), the first checks on a raw event (a JSON object, its size,
 * lower-case CloudEvents attributes), batches, and how a zod issue becomes a reason that names the
 * field and shows what was there. Events arrive from outside: every string is bounded and control
 * characters are refused where an id or name is expected.
 */
import { z } from "zod";
import type { EventSchema } from "./event-filter-types";

export const ENVELOPE_LIMITS = {
    eventId: 128,
    eventType: 256,
    /** ARM ids (`arm-id.ts` accepts up to 2048; real topics, subjects and gate ids are < 300 characters). */
    armId: 1024,
    time: 40,
    /** Events in one delivery (Event Grid's `maxEventsPerBatch` maximum). */
    batchEvents: 5000,
} as const;

/** No C0 control characters and no DEL. */
export const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
const TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export const eventIdSchema = z
    .string()
    .min(1)
    .max(ENVELOPE_LIMITS.eventId)
    .regex(/^[\x21-\x7e]+$/, "expected printable ASCII without spaces");
export const eventTypeSchema = z
    .string()
    .min(1)
    .max(ENVELOPE_LIMITS.eventType)
    .regex(/^[A-Za-z0-9._-]+$/, "expected letters, digits, '.', '_' or '-'");
export const timeSchema = z
    .string()
    .max(ENVELOPE_LIMITS.time)
    .regex(TIME_PATTERN, "expected an RFC 3339 date-time")
    .refine((s) => Number.isFinite(Date.parse(s)), "not a valid date-time");
export const armIdString = z
    .string()
    .min(1)
    .max(ENVELOPE_LIMITS.armId)
    .regex(NO_CONTROL, "contains control characters");

const EventGridEnvelopeSchema = z.object({
    id: eventIdSchema,
    topic: armIdString,
    subject: armIdString,
    eventType: eventTypeSchema,
    eventTime: timeSchema,
    dataVersion: z.string().max(32).optional(),
    metadataVersion: z.string().max(8).optional(),
    data: z.unknown(),
});

const CloudEventEnvelopeSchema = z.object({
    specversion: z.literal("1.0"),
    id: eventIdSchema,
    source: armIdString,
    type: eventTypeSchema,
    subject: armIdString,
    time: timeSchema,
    datacontenttype: z
        .string()
        .max(128)
        .refine((t) => /^application\/(cloudevents\+)?json\b/i.test(t), "expected a JSON content type")
        .optional(),
    data: z.unknown(),
});

/** The envelope of either schema in one form: `source` is `topic` (Event Grid) or `source` (CloudEvents). */
export interface Envelope {
    readonly id: string;
    readonly type: string;
    readonly source: string;
    readonly subject: string;
    readonly time: string;
}

const hasOwn = Object.prototype.hasOwnProperty;

export function isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A value for a message: as JSON, cut at 80 characters. */
export function clip(v: unknown): string {
    let s: string;
    try {
        s = JSON.stringify(v) ?? String(v);
    } catch {
        s = String(v);
    }
    return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
    let cur = root;
    for (const seg of path) {
        if (typeof cur !== "object" || cur === null) return undefined;
        if (!hasOwn.call(cur, seg)) return undefined;
        cur = (cur as Record<PropertyKey, unknown>)[seg];
    }
    return cur;
}

/** The first zod issue as `path: message (got value)` (or `(missing)`), the path under `prefix`. */
export function describeIssue(error: z.ZodError, input: unknown, prefix: string): string {
    const issue = error.issues[0];
    if (!issue) return `${prefix || "event"}: invalid`;
    const where = [prefix, ...issue.path.map(String)].filter((s) => s.length > 0).join(".");
    const got = valueAt(input, issue.path);
    return `${where}: ${issue.message} (${got === undefined ? "missing" : `got ${clip(got)}`})`;
}

/** The envelope field that names the event's origin: `topic` or `source`. */
export function sourceField(schema: EventSchema): "topic" | "source" {
    return schema === "EventGridSchema" ? "topic" : "source";
}

/**
 * The first look at a delivered event: a JSON object of at most `maxChars` serialized characters.
 * `eventId` is the event's `id` when it is a valid one, so even a rejection can name the event.
 */
export function openEvent(
    raw: unknown,
    maxChars: number,
):
    | { readonly ok: true; readonly raw: Record<string, unknown>; readonly eventId?: string }
    | { readonly ok: false; readonly reason: string; readonly eventId?: string } {
    if (!isObject(raw))
        return {
            ok: false,
            reason: `event: expected a JSON object (got ${Array.isArray(raw) ? "array" : typeof raw})`,
        };
    const eventId = typeof raw.id === "string" && eventIdSchema.safeParse(raw.id).success ? raw.id : undefined;
    const withId = eventId !== undefined ? { eventId } : {};
    let size: number | undefined;
    try {
        size = JSON.stringify(raw)?.length;
    } catch {
        size = undefined;
    }
    if (size === undefined) return { ok: false, reason: "event: not serializable as JSON", ...withId };
    if (size > maxChars) return { ok: false, reason: `event: ${size} characters, the limit is ${maxChars}`, ...withId };
    return { ok: true, raw, ...withId };
}

/** CloudEvents attribute names are lower-case by spec (the samples' `specVersion` is not); the reason, if one is not. */
export function cloudEventCasingProblem(raw: Record<string, unknown>): string | undefined {
    const bad = Object.keys(raw).find((k) => k !== k.toLowerCase());
    return bad === undefined
        ? undefined
        : `CloudEvents attribute ${clip(bad)} must be lower-case (${clip(bad.toLowerCase())})`;
}

/** Validates the envelope of `schema`; a reason naming the field when it is not valid. */
export function readEnvelope(raw: Record<string, unknown>, schema: EventSchema): Envelope | string {
    if (schema === "EventGridSchema") {
        const p = EventGridEnvelopeSchema.safeParse(raw);
        if (!p.success) return describeIssue(p.error, raw, "");
        const d = p.data;
        return { id: d.id, type: d.eventType, source: d.topic, subject: d.subject, time: d.eventTime };
    }
    const p = CloudEventEnvelopeSchema.safeParse(raw);
    if (!p.success) return describeIssue(p.error, raw, "");
    const d = p.data;
    return { id: d.id, type: d.type, source: d.source, subject: d.subject, time: d.time };
}

/**
 * A delivery: one event object or an array of them (Event Grid's schema is always an array;
 * CloudEvents unbatched is one object). One result per event, in order; a batch over the limit is
 * one result, `tooMany`'s.
 */
export function parseBatch<T>(body: unknown, one: (raw: unknown) => T, tooMany: (reason: string) => T): T[] {
    if (!Array.isArray(body)) return [one(body)];
    if (body.length > ENVELOPE_LIMITS.batchEvents)
        return [tooMany(`batch: ${body.length} events, the limit is ${ENVELOPE_LIMITS.batchEvents}`)];
    return body.map((e) => one(e));
}
