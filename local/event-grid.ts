/**
 * Event Grid push delivery, emulated: how one event is delivered to one endpoint, retried and
 * finally dead-lettered or dropped, on a virtual clock (no real waiting). Follows
 * `shared/reference/event-grid.md` §4 (the basic-tier delivery and retry documentation [S3][S4]):
 *
 * - outcome classification (§4.2): 200–204 are the only successes; 400 and 413 are never retried;
 *   403 is never retried; 401 is never retried for a WebHook endpoint and retried after ≥ 5 min for
 *   an Azure-resource endpoint (`AzureFunction`, what this project subscribes); 404 after ≥ 5 min;
 *   408 after ≥ 2 min; 503 after ≥ 30 s; anything else (500, 429, other codes, no response within
 *   30 s, socket errors) on the standard schedule (≥ 10 s);
 * - the schedule (§4.3): 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h,
 *   read as successive delays after each failed attempt, each at least the status's minimum, plus
 *   a small random jitter drawn from an injected RNG (none without one);
 * - the policy (§4.3): delivery stops at `maxDeliveryAttempts` (1–30, default 30) or
 *   `eventTimeToLiveInMinutes` (1–1440, default 1440), whichever comes first; TTL is checked only
 *   when the next attempt is due, so expiry is observed late; then dead-letter, or drop when no
 *   dead-letter destination is configured;
 * - an attempt that takes longer than the endpoint timeout (30 s of virtual time) counts as "no
 *   response" whatever it returned, so the event is delivered again (a duplicate, as §4.6 allows).
 *
 * Pure and deterministic given the RNG: time comes from a `VirtualClock` that only the caller and
 * the scheduler move.
 *
 * On top of one delivery, `EventGridEmulator` publishes events to a set of event subscriptions the
 * way a topic does: each subscription's filter (`core/event-filter.ts`, the one evaluator), the
 * Event Grid → CloudEvents mapping for CloudEvents subscriptions (§5.3), batching (§4.5), the
 * request body per schema (§4.1), retries, and dead-letter blobs in Azure's format (§4.4); on
 * demand, duplicate deliveries and shuffled order (§4.6). `azureFunctionEndpoint` answers like the
 * Functions host's Event Grid extension (§6.1).
 *
 * Not modelled: probation and delayed delivery (§4.3), the late-response cancellation of a queued
 * retry (§4.3), the validation handshakes (§4.7), dead-letter storage outages (§3), and parallel
 * delivery to several subscriptions (deliveries of one publication are made one after another).
 */
import { createHash } from "node:crypto";
import {
    prepareFilter,
    type EvaluateOptions,
    type EventSchema,
    type EventSubscriptionFilter,
    type JsonObject,
    type JsonValue,
    type PreparedFilter,
} from "../core/event-filter";

/** What an attempt got back: an HTTP status, no response within the timeout, or a socket error. */
export type DeliveryStatus = number | "timeout" | "reset";

/**
 * The destination's `endpointType` as far as classification cares: `WebHook`, or an Azure-resource
 * endpoint (`AzureFunction`; the other Azure handlers behave the same in §4.2).
 */
export type EndpointType = "WebHook" | "AzureFunction";

/**
 * `deadLetterReason` values. `MaxDeliveryAttemptsExceeded` is documented [S3]; the TTL string is not
 * (the simulator's `EventTimeToLiveExpired` [S26] is used); for a status that is never retried the
 * simulator's per-status names are used [S26] (INFERRED).
 */
export type DeadLetterReason =
    | "MaxDeliveryAttemptsExceeded"
    | "EventTimeToLiveExpired"
    | "BadRequest"
    | "Unauthorized"
    | "Forbidden"
    | "PayloadTooLarge";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Successive delays after failed attempts 1, 2, 3, …; after the last entry, every {@link RETRY_REPEAT_MS}. */
export const RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([
    10 * SECOND,
    30 * SECOND,
    1 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    30 * MINUTE,
    1 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
]);
/** "then every 12 h" (bounded in practice by the 24 h maximum TTL). */
export const RETRY_REPEAT_MS = 12 * HOUR;

/** Minimum delay before the next attempt after these statuses (§4.2); others: the schedule alone. */
export const MIN_RETRY_DELAY_MS = Object.freeze({
    /** Azure-resource endpoints only; a WebHook's 401 is not retried. */
    401: 5 * MINUTE,
    404: 5 * MINUTE,
    408: 2 * MINUTE,
    503: 30 * SECOND,
    other: 10 * SECOND,
} as const);

/** The only success codes (§4.2). */
export const SUCCESS_STATUSES: readonly number[] = Object.freeze([200, 201, 202, 203, 204]);

/** Time an endpoint has to answer one attempt (§3). */
export const ENDPOINT_TIMEOUT_MS = 30 * SECOND;

/** Jitter added to a delay: up to this fraction of it (the docs say only "small"; INFERRED). */
export const DEFAULT_JITTER_RATIO = 0.1;

/** `retryPolicy` defaults and ranges (§3). */
export const RETRY_POLICY_DEFAULTS = Object.freeze({ maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 });
export const RETRY_POLICY_LIMITS = Object.freeze({
    maxDeliveryAttempts: Object.freeze([1, 30] as const),
    eventTimeToLiveInMinutes: Object.freeze([1, 1440] as const),
});

/** How Event Grid treats one attempt's outcome. */
export type OutcomeClass =
    | { readonly kind: "success" }
    /** Retried, no sooner than `minDelayMs` after the failure (and never sooner than the schedule). */
    | { readonly kind: "retry"; readonly minDelayMs: number }
    /** Never retried: dead-lettered, or dropped without a dead-letter destination. */
    | { readonly kind: "final"; readonly reason: DeadLetterReason };

function checkStatus(status: DeliveryStatus): void {
    if (status === "timeout" || status === "reset") return;
    if (!Number.isInteger(status) || status < 100 || status > 599)
        throw new RangeError(`delivery status ${String(status)} is not an HTTP status, "timeout" or "reset"`);
}

/** Classifies one attempt's outcome (§4.2). Throws `RangeError` for a value that is not a status. */
export function classifyOutcome(status: DeliveryStatus, endpointType: EndpointType = "AzureFunction"): OutcomeClass {
    checkStatus(status);
    if (typeof status === "number") {
        if (SUCCESS_STATUSES.includes(status)) return { kind: "success" };
        switch (status) {
            case 400:
                return { kind: "final", reason: "BadRequest" };
            case 413:
                return { kind: "final", reason: "PayloadTooLarge" };
            case 403:
                return { kind: "final", reason: "Forbidden" };
            case 401:
                return endpointType === "WebHook"
                    ? { kind: "final", reason: "Unauthorized" }
                    : { kind: "retry", minDelayMs: MIN_RETRY_DELAY_MS[401] };
            // The table lists 404 for Azure-resource endpoints and gives WebHooks no rule of their own;
            // the same minimum is used for both (as the simulator does [S26], and as 404's probation is).
            case 404:
                return { kind: "retry", minDelayMs: MIN_RETRY_DELAY_MS[404] };
            case 408:
                return { kind: "retry", minDelayMs: MIN_RETRY_DELAY_MS[408] };
            case 503:
                return { kind: "retry", minDelayMs: MIN_RETRY_DELAY_MS[503] };
        }
    }
    // 500, 429, every other code (incl. 205, 3xx), no response within the timeout, socket errors.
    return { kind: "retry", minDelayMs: MIN_RETRY_DELAY_MS.other };
}

/** The schedule's delay after failed attempt `attempt` (1-based), before minimums and jitter. */
export function scheduledDelayMs(attempt: number): number {
    checkAttempt(attempt);
    return RETRY_SCHEDULE_MS[attempt - 1] ?? RETRY_REPEAT_MS;
}

function checkAttempt(attempt: number): void {
    if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt ${attempt} is not an integer >= 1`);
}

export interface RetryDelayOptions {
    /** Default `AzureFunction`. */
    readonly endpointType?: EndpointType;
    /** Whether a dead-letter destination is configured (default true): decides "dead-letter" or "drop". */
    readonly deadLetter?: boolean;
    /** Jitter bound as a fraction of the delay (default {@link DEFAULT_JITTER_RATIO}); 0 disables it. */
    readonly jitterRatio?: number;
}

/**
 * The delay before the next attempt after attempt `attempt` (1 = the first delivery) failed with
 * `status`: the schedule's step, at least the status's minimum, plus `floor(delay × jitterRatio ×
 * rng())` when an RNG is given (so never below either). `"dead-letter"` / `"drop"` for a status that
 * is never retried. Attempt and TTL limits are the caller's ({@link deliverWithRetries}).
 * Throws `RangeError` for a success status, a bad attempt number or an RNG value outside [0, 1).
 */
export function retryDelayMs(
    attempt: number,
    status: DeliveryStatus,
    rng?: () => number,
    options: RetryDelayOptions = {},
): number | "dead-letter" | "drop" {
    checkAttempt(attempt);
    const c = classifyOutcome(status, options.endpointType);
    if (c.kind === "success") throw new RangeError(`status ${String(status)} is a success, not a failed attempt`);
    if (c.kind === "final") return options.deadLetter === false ? "drop" : "dead-letter";
    return jittered(Math.max(scheduledDelayMs(attempt), c.minDelayMs), rng, options.jitterRatio);
}

function jittered(base: number, rng: (() => number) | undefined, jitterRatio = DEFAULT_JITTER_RATIO): number {
    if (!(jitterRatio >= 0 && jitterRatio <= 1)) throw new RangeError(`jitterRatio ${jitterRatio} is outside 0..1`);
    if (rng === undefined || jitterRatio === 0) return base;
    const u = rng();
    if (!(u >= 0 && u < 1)) throw new RangeError(`rng() returned ${u}, outside [0, 1)`);
    return base + Math.floor(base * jitterRatio * u);
}

/** A clock that moves only when told to (epoch ms or any origin). `now` is bound: pass it as a clock function. */
export class VirtualClock {
    private t: number;

    constructor(startMs = 0) {
        if (!Number.isFinite(startMs)) throw new RangeError(`start ${startMs} is not a finite time`);
        this.t = startMs;
    }

    readonly now = (): number => this.t;

    /** Moves forward by `ms` (≥ 0); returns the new time. */
    advance(ms: number): number {
        if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`cannot advance by ${ms} ms`);
        this.t += ms;
        return this.t;
    }

    /** Moves forward to `t`; a time in the past is a `RangeError` (the clock is monotonic). */
    advanceTo(t: number): number {
        if (!Number.isFinite(t) || t < this.t)
            throw new RangeError(`cannot move the clock back from ${this.t} to ${t}`);
        this.t = t;
        return this.t;
    }
}

/** The subscription's retry and dead-letter settings, plus emulation knobs. */
export interface DeliveryPolicy {
    /** 1–30, default 30. */
    readonly maxDeliveryAttempts?: number;
    /** 1–1440, default 1440. */
    readonly eventTimeToLiveInMinutes?: number;
    /** A dead-letter destination is configured (default true); otherwise undeliverable events are dropped. */
    readonly deadLetter?: boolean;
    /** Default `AzureFunction`. */
    readonly endpointType?: EndpointType;
    /** Jitter source, values in [0, 1); none: the exact schedule. */
    readonly rng?: () => number;
    /** Default {@link DEFAULT_JITTER_RATIO}. */
    readonly jitterRatio?: number;
    /** Default {@link ENDPOINT_TIMEOUT_MS}. */
    readonly endpointTimeoutMs?: number;
    /**
     * The outcome of an attempt whose function throws. Default 500: what the Azure Functions host
     * answers when a function invocation fails (reference §6.1).
     */
    readonly statusOfError?: (error: unknown) => DeliveryStatus;
    /** When the event was published (the clock's time base); default: the clock's time at the call. */
    readonly publishedAt?: number;
    /**
     * How the wait before the next attempt passes: resolves once the clock reads `t`. Default: move
     * the clock there at once. A scheduler passes its own, so other simulated work runs meanwhile.
     */
    readonly waitUntil?: (t: number) => Promise<void>;
}

export interface AttemptInfo {
    /** 1 for the first delivery. */
    readonly attempt: number;
    /** Attempts made before this one (the `aeg-delivery-count` header; 0 on the first delivery, UNVERIFIED). */
    readonly deliveryCount: number;
    /** The virtual time the attempt starts. */
    readonly now: number;
}

/**
 * Delivers the event once: an HTTP status, `"timeout"` / `"reset"`, or a throw (see
 * `statusOfError`). It may advance the clock to model its own duration.
 */
export type AttemptFn<E> = (event: E, info: AttemptInfo) => DeliveryStatus | Promise<DeliveryStatus>;

export interface AttemptRecord {
    readonly attempt: number;
    /** Virtual time the attempt started. */
    readonly at: number;
    readonly status: DeliveryStatus;
    /** Delay scheduled after this attempt, if another one was scheduled. */
    readonly nextDelayMs?: number;
}

export interface DeliveryResult {
    readonly delivered: boolean;
    /** Attempts made (0 when the TTL had already run out). */
    readonly attempts: number;
    readonly deadLettered: boolean;
    /** Undeliverable and no dead-letter destination configured. */
    readonly dropped: boolean;
    /** Why it was dead-lettered or dropped. */
    readonly reason?: DeadLetterReason;
    /** Virtual time from publication to delivery or to the dead-letter / drop decision. */
    readonly elapsedMs: number;
    readonly lastStatus?: DeliveryStatus;
    readonly history: readonly AttemptRecord[];
}

function checkPolicyValue(name: keyof typeof RETRY_POLICY_LIMITS, value: number): number {
    const [min, max] = RETRY_POLICY_LIMITS[name];
    if (!Number.isInteger(value) || value < min || value > max)
        throw new RangeError(`${name} ${value} is outside Event Grid's range ${min}-${max}`);
    return value;
}

/**
 * Delivers `event` through `attemptFn` until it succeeds, is never to be retried, or the policy's
 * attempts or TTL run out, moving `clock` forward by each scheduled delay (no real waiting).
 * Rejects only on invalid policy or an attempt result that is not a status.
 */
export async function deliverWithRetries<E>(
    event: E,
    attemptFn: AttemptFn<E>,
    policy: DeliveryPolicy = {},
    clock: VirtualClock = new VirtualClock(),
): Promise<DeliveryResult> {
    const maxAttempts = checkPolicyValue(
        "maxDeliveryAttempts",
        policy.maxDeliveryAttempts ?? RETRY_POLICY_DEFAULTS.maxDeliveryAttempts,
    );
    const ttlMs =
        checkPolicyValue(
            "eventTimeToLiveInMinutes",
            policy.eventTimeToLiveInMinutes ?? RETRY_POLICY_DEFAULTS.eventTimeToLiveInMinutes,
        ) * MINUTE;
    const timeoutMs = policy.endpointTimeoutMs ?? ENDPOINT_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new RangeError(`endpointTimeoutMs ${timeoutMs} must be > 0`);
    const endpointType = policy.endpointType ?? "AzureFunction";
    const deadLetter = policy.deadLetter ?? true;
    const statusOfError = policy.statusOfError ?? (() => 500);
    const publishedAt = policy.publishedAt ?? clock.now();
    const history: AttemptRecord[] = [];

    const end = (delivered: boolean, reason?: DeadLetterReason): DeliveryResult => {
        const last = history[history.length - 1];
        return {
            delivered,
            attempts: history.length,
            deadLettered: !delivered && deadLetter,
            dropped: !delivered && !deadLetter,
            ...(reason !== undefined ? { reason } : {}),
            elapsedMs: clock.now() - publishedAt,
            ...(last !== undefined ? { lastStatus: last.status } : {}),
            history,
        };
    };

    for (let attempt = 1; ; attempt++) {
        // TTL is looked at only when an attempt is due: one due at or after publication + TTL is not made.
        if (clock.now() - publishedAt >= ttlMs) return end(false, "EventTimeToLiveExpired");
        const started = clock.now();
        let status: DeliveryStatus;
        try {
            status = await attemptFn(event, { attempt, deliveryCount: attempt - 1, now: started });
        } catch (e) {
            status = statusOfError(e);
        }
        checkStatus(status);
        // An answer later than the timeout is no answer: Event Grid has already scheduled a retry.
        if (clock.now() - started > timeoutMs) status = "timeout";
        const failedAt = Math.min(clock.now(), started + timeoutMs);
        const c = classifyOutcome(status, endpointType);
        if (c.kind === "success") {
            history.push({ attempt, at: started, status });
            return end(true);
        }
        if (c.kind === "final") {
            history.push({ attempt, at: started, status });
            return end(false, c.reason);
        }
        if (attempt >= maxAttempts) {
            history.push({ attempt, at: started, status });
            return end(false, "MaxDeliveryAttemptsExceeded");
        }
        const delay = jittered(Math.max(scheduledDelayMs(attempt), c.minDelayMs), policy.rng, policy.jitterRatio);
        history.push({ attempt, at: started, status, nextDelayMs: delay });
        const due = Math.max(clock.now(), failedAt + delay);
        if (policy.waitUntil) await policy.waitUntil(due);
        else clock.advanceTo(due);
    }
}

export { seededRng } from "./rng";

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

function checkBatchSettings(s: BatchSettings, what: string): void {
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

// ---------------------------------------------------------------------------------------------
// Dead-letter blobs (§4.4)
// ---------------------------------------------------------------------------------------------

/** `lastDeliveryOutcome` names (§4.4) an emulated attempt can end with. */
export type DeliveryOutcome =
    "BadRequest" | "Unauthorized" | "Forbidden" | "NotFound" | "TimedOut" | "PayloadTooLarge" | "Busy" | "SocketError";

/**
 * The `lastDeliveryOutcome` of a failed attempt. The names are documented (§4.4), which status
 * gives which is not (INFERRED): the statuses named alike map to their name, 408 and no answer to
 * `TimedOut`, a reset to `SocketError`, every other failure (500, 503, 429, …) to `Busy`, the
 * outcome whose probation (10 s) matches their standard retry delay (§4.3).
 */
export function deliveryOutcomeOf(status: DeliveryStatus): DeliveryOutcome {
    checkStatus(status);
    if (status === "timeout") return "TimedOut";
    if (status === "reset") return "SocketError";
    if (SUCCESS_STATUSES.includes(status)) throw new RangeError(`status ${status} is a success, not a failed attempt`);
    const named: Partial<Record<number, DeliveryOutcome>> = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        408: "TimedOut",
        413: "PayloadTooLarge",
    };
    return named[status] ?? "Busy";
}

/** Event Grid writes the blob about 5 minutes after the last attempt (§3, §4.4). */
export const DEAD_LETTER_WRITE_DELAY_MS = 5 * MINUTE;

/** ISO 8601 UTC with 7 fractional digits, as the service writes its times. */
export function serviceTime(ms: number): string {
    return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");
}

export interface DeadLetterInfo {
    readonly reason: DeadLetterReason;
    readonly deliveryAttempts: number;
    /** The last attempt's outcome; absent when no attempt was made (TTL spent before the first). */
    readonly lastStatus?: DeliveryStatus;
    readonly lastAttemptAt?: number;
    readonly publishedAt: number;
}

/**
 * A dead-lettered event as Event Grid stores it (§4.4, the delivery-and-retry samples): the event in
 * its delivery schema with delivery fields appended — Event Grid schema `deadLetterReason`,
 * `deliveryAttempts`, `lastDeliveryOutcome`, `publishTime`, `lastDeliveryAttemptTime`; CloudEvents
 * the same lower-cased, of which the published sample shows four (no `lastdeliveryattempttime`).
 * Without an attempt, the two "last" fields are left out (UNDOCUMENTED).
 */
export function deadLetterRecord(event: JsonObject, schema: EventSchema, info: DeadLetterInfo): JsonObject {
    const outcome = info.lastStatus === undefined ? undefined : deliveryOutcomeOf(info.lastStatus);
    if (schema === "CloudEventSchemaV1_0")
        return {
            ...event,
            deadletterreason: info.reason,
            deliveryattempts: info.deliveryAttempts,
            ...(outcome !== undefined ? { lastdeliveryoutcome: outcome } : {}),
            publishtime: serviceTime(info.publishedAt),
        };
    return {
        ...event,
        deadLetterReason: info.reason,
        deliveryAttempts: info.deliveryAttempts,
        ...(outcome !== undefined ? { lastDeliveryOutcome: outcome } : {}),
        publishTime: serviceTime(info.publishedAt),
        ...(info.lastAttemptAt !== undefined ? { lastDeliveryAttemptTime: serviceTime(info.lastAttemptAt) } : {}),
    };
}

/**
 * Where the blob goes (§4.4, manage-event-delivery): `<container>/<SUBSCRIPTION-NAME>/<yyyy>/<M>/<d>/<H>/<guid>.json`,
 * the event subscription's name upper-cased, the UTC date and hour not zero-padded.
 */
export function deadLetterBlobPath(container: string, subscriptionName: string, at: number, blobGuid: string): string {
    const d = new Date(at);
    if (Number.isNaN(d.getTime())) throw new RangeError(`dead-letter time ${at} is not a time`);
    const parts = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours()];
    return `${container}/${subscriptionName.toUpperCase()}/${parts.join("/")}/${blobGuid}.json`;
}

export interface DeadLetterBlob {
    readonly path: string;
    /** Virtual time the blob was written. */
    readonly writtenAt: number;
    /** Its content: a JSON array of one or more dead-lettered events. */
    readonly records: readonly JsonObject[];
}

/** The dead-letter container(s), in memory. */
export class DeadLetterStore {
    private readonly written: DeadLetterBlob[] = [];

    /** Writes one blob holding `records` (a JSON array); returns it. */
    write(
        container: string,
        subscriptionName: string,
        writtenAt: number,
        records: readonly JsonObject[],
    ): DeadLetterBlob {
        if (records.length === 0) throw new RangeError("a dead-letter blob holds at least one event");
        const h = createHash("sha256")
            .update(
                [
                    container,
                    subscriptionName,
                    String(writtenAt),
                    String(this.written.length),
                    JSON.stringify(records),
                ].join("\u0000"),
            )
            .digest("hex");
        const guid = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
        const blob: DeadLetterBlob = {
            path: deadLetterBlobPath(container, subscriptionName, writtenAt, guid),
            writtenAt,
            records: [...records],
        };
        this.written.push(blob);
        return blob;
    }

    get blobs(): readonly DeadLetterBlob[] {
        return this.written;
    }

    /** A blob's content as stored (a JSON array), or undefined. */
    read(path: string): string | undefined {
        const b = this.written.find((x) => x.path === path);
        return b === undefined ? undefined : JSON.stringify(b.records);
    }
}

// ---------------------------------------------------------------------------------------------
// Duplicates and order (§4.6)
// ---------------------------------------------------------------------------------------------

/** Realism switches: at-least-once and unordered delivery, on demand (§4.6, §7). */
export interface DeliveryChaos {
    /** Probability (0..1) that a delivery is made a second time. Default 0. */
    readonly duplicateRate?: number;
    /**
     * A duplicate arrives up to this long after its original (uniformly). Default 3 minutes: the
     * window in which a late answer can still leave a queued retry behind (§4.3).
     */
    readonly maxDuplicateDelayMs?: number;
    /** The deliveries of one publication in random order. */
    readonly shuffle?: boolean;
}

export const DEFAULT_MAX_DUPLICATE_DELAY_MS = 3 * MINUTE;

export interface PlannedDelivery<T> {
    readonly item: T;
    readonly duplicate: boolean;
    /** After publication; 0 = now. */
    readonly delayMs: number;
}

/**
 * The deliveries of one publication: every item once (in order, or shuffled), then duplicates drawn
 * with `duplicateRate` — due now (delay 0) or later, up to `maxDuplicateDelayMs`. Now-due ones come
 * first, later ones by delay. Needs `rng` when anything random is asked for.
 */
export function planDeliveries<T>(
    items: readonly T[],
    chaos: DeliveryChaos = {},
    rng?: () => number,
): PlannedDelivery<T>[] {
    const rate = chaos.duplicateRate ?? 0;
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`duplicateRate ${rate} is outside 0..1`);
    const maxDelay = chaos.maxDuplicateDelayMs ?? DEFAULT_MAX_DUPLICATE_DELAY_MS;
    if (!(maxDelay >= 0 && Number.isFinite(maxDelay)))
        throw new RangeError(`maxDuplicateDelayMs ${maxDelay} must be a finite number >= 0`);
    if ((rate > 0 || chaos.shuffle === true) && rng === undefined)
        throw new RangeError("duplicates and shuffled order need an rng");
    const draw = (): number => {
        const u = rng!();
        if (!(u >= 0 && u < 1)) throw new RangeError(`rng() returned ${u}, outside [0, 1)`);
        return u;
    };
    const now: PlannedDelivery<T>[] = items.map((item) => ({ item, duplicate: false, delayMs: 0 }));
    const later: PlannedDelivery<T>[] = [];
    if (rate > 0)
        for (const item of items)
            if (draw() < rate) {
                const delayMs = Math.floor(draw() * (maxDelay + 1));
                (delayMs === 0 ? now : later).push({ item, duplicate: true, delayMs });
            }
    if (chaos.shuffle === true)
        for (let i = now.length - 1; i > 0; i--) {
            const j = Math.floor(draw() * (i + 1));
            [now[i], now[j]] = [now[j]!, now[i]!];
        }
    later.sort((a, b) => a.delayMs - b.delayMs);
    return [...now, ...later];
}

// ---------------------------------------------------------------------------------------------
// Publishing to event subscriptions
// ---------------------------------------------------------------------------------------------

/** An event subscription as far as delivery cares. */
export interface DeliverySubscription extends BatchSettings {
    readonly name: string;
    readonly filter: EventSubscriptionFilter;
    /** `eventDeliverySchema`; default `EventGridSchema`. */
    readonly schema?: EventSchema;
    /** Default `AzureFunction`. */
    readonly endpointType?: EndpointType;
    readonly maxDeliveryAttempts?: number;
    readonly eventTimeToLiveInMinutes?: number;
    /** Blob container of the dead-letter destination; absent: undeliverable events are dropped. */
    readonly deadLetterContainer?: string;
}

/** One request's fate (with its retries). */
export interface Delivery {
    readonly subscription: string;
    readonly schema: EventSchema;
    /** The request's events as delivered (one unless batching). */
    readonly events: readonly JsonObject[];
    /** An extra delivery made by `duplicateRate`. */
    readonly duplicate: boolean;
    readonly result: DeliveryResult;
    /** The dead-letter blob written for it. */
    readonly deadLetter?: DeadLetterBlob;
}

/** The subscriber: answers one attempt of one request (`body` per §4.1). */
export type Endpoint = (
    subscription: DeliverySubscription,
    body: JsonValue,
    info: AttemptInfo,
) => DeliveryStatus | Promise<DeliveryStatus>;

export interface EventGridEmulatorOptions extends DeliveryChaos {
    readonly subscriptions: readonly DeliverySubscription[];
    readonly endpoint: Endpoint;
    readonly clock: VirtualClock;
    /** See `DeliveryPolicy.waitUntil`; also how a late duplicate's delay passes when there is no `defer`. */
    readonly waitUntil?: (t: number) => Promise<void>;
    /**
     * Runs a late duplicate's delivery at virtual time `at` (a scheduler runs it alongside other
     * work). Default: after the publication's other deliveries, waiting until `at`.
     */
    readonly defer?: (at: number, task: () => Promise<void>) => void;
    /** Jitter of retry delays, duplicates and shuffling. */
    readonly rng?: () => number;
    readonly jitterRatio?: number;
    /** Where dead-lettered events go; default a new store (`deadLetters`). */
    readonly deadLetters?: DeadLetterStore;
    /** Called for every finished delivery, late duplicates included. */
    readonly onDelivery?: (delivery: Delivery) => void;
    readonly filterOptions?: EvaluateOptions;
}

export interface Publication {
    /** Per published event (same order): the subscriptions whose filter matched it. */
    readonly routed: readonly (readonly string[])[];
    /** Deliveries made now; late duplicates are reported to `onDelivery` when they happen. */
    readonly deliveries: readonly Delivery[];
}

/** A topic's delivery to its event subscriptions, on a virtual clock. */
export class EventGridEmulator {
    readonly deadLetters: DeadLetterStore;
    private readonly subs: readonly { readonly sub: DeliverySubscription; readonly filter: PreparedFilter }[];

    constructor(private readonly opts: EventGridEmulatorOptions) {
        const seen = new Set<string>();
        for (const s of opts.subscriptions) {
            if (seen.has(s.name.toLowerCase())) throw new Error(`event subscription ${s.name} is given twice`);
            seen.add(s.name.toLowerCase());
            checkBatchSettings(s, `event subscription ${s.name}`);
        }
        // Validate the chaos options once, before anything is published.
        planDeliveries([], opts, opts.rng);
        this.deadLetters = opts.deadLetters ?? new DeadLetterStore();
        this.subs = opts.subscriptions.map((sub) => ({ sub, filter: prepareFilter(sub.filter, opts.filterOptions) }));
    }

    /**
     * Publishes events (in the topic's input schema, Event Grid) now: each subscription's filter is
     * evaluated on the event as that subscription receives it, matching events are batched and
     * delivered with retries; undeliverable ones are dead-lettered or dropped.
     */
    async publish(events: readonly JsonObject[]): Promise<Publication> {
        const { clock } = this.opts;
        const publishedAt = clock.now();
        const routed = events.map((): string[] => []);
        const items: { sub: DeliverySubscription; events: JsonObject[] }[] = [];
        for (const { sub, filter } of this.subs) {
            const schema = sub.schema ?? "EventGridSchema";
            const matched: JsonObject[] = [];
            events.forEach((e, i) => {
                const delivered = schema === "CloudEventSchemaV1_0" ? toCloudEvent(e) : e;
                if (filter.test(delivered, schema)) {
                    matched.push(delivered);
                    routed[i]!.push(sub.name);
                }
            });
            for (const batch of batchEvents(matched, sub)) items.push({ sub, events: batch });
        }
        const deliveries: Delivery[] = [];
        const late: PlannedDelivery<(typeof items)[number]>[] = [];
        for (const p of planDeliveries(items, this.opts, this.opts.rng)) {
            if (p.delayMs > 0) late.push(p);
            else deliveries.push(await this.deliver(p.item.sub, p.item.events, p.duplicate, publishedAt));
        }
        for (const p of late) {
            const at = publishedAt + p.delayMs;
            const task = async () => {
                await this.deliver(p.item.sub, p.item.events, true, publishedAt);
            };
            if (this.opts.defer) this.opts.defer(at, task);
            else {
                await this.waitUntil(at);
                await task();
            }
        }
        return { routed, deliveries };
    }

    private async waitUntil(t: number): Promise<void> {
        const { clock } = this.opts;
        if (t <= clock.now()) return;
        if (this.opts.waitUntil) await this.opts.waitUntil(t);
        else clock.advanceTo(t);
    }

    private async deliver(
        sub: DeliverySubscription,
        events: readonly JsonObject[],
        duplicate: boolean,
        publishedAt: number,
    ): Promise<Delivery> {
        const { clock } = this.opts;
        const schema = sub.schema ?? "EventGridSchema";
        const result = await deliverWithRetries<JsonValue>(
            requestBody(events, schema),
            (body, info) => this.opts.endpoint(sub, body, info),
            {
                ...(sub.maxDeliveryAttempts !== undefined ? { maxDeliveryAttempts: sub.maxDeliveryAttempts } : {}),
                ...(sub.eventTimeToLiveInMinutes !== undefined
                    ? { eventTimeToLiveInMinutes: sub.eventTimeToLiveInMinutes }
                    : {}),
                deadLetter: sub.deadLetterContainer !== undefined,
                endpointType: sub.endpointType ?? "AzureFunction",
                ...(this.opts.rng ? { rng: this.opts.rng } : {}),
                ...(this.opts.jitterRatio !== undefined ? { jitterRatio: this.opts.jitterRatio } : {}),
                ...(this.opts.waitUntil ? { waitUntil: this.opts.waitUntil } : {}),
                publishedAt,
            },
            clock,
        );
        let deadLetter: DeadLetterBlob | undefined;
        if (result.deadLettered && sub.deadLetterContainer !== undefined) {
            const last = result.history[result.history.length - 1];
            const info: DeadLetterInfo = {
                reason: result.reason ?? "MaxDeliveryAttemptsExceeded",
                deliveryAttempts: result.attempts,
                ...(last !== undefined ? { lastStatus: last.status, lastAttemptAt: last.at } : {}),
                publishedAt,
            };
            deadLetter = this.deadLetters.write(
                sub.deadLetterContainer,
                sub.name,
                clock.now() + DEAD_LETTER_WRITE_DELAY_MS,
                events.map((e) => deadLetterRecord(e, schema, info)),
            );
        }
        const delivery: Delivery = {
            subscription: sub.name,
            schema,
            events,
            duplicate,
            result,
            ...(deadLetter !== undefined ? { deadLetter } : {}),
        };
        this.opts.onDelivery?.(delivery);
        return delivery;
    }
}

// ---------------------------------------------------------------------------------------------
// The Azure Functions host as the endpoint (§6.1)
// ---------------------------------------------------------------------------------------------

/**
 * An endpoint that answers like the Functions host's Event Grid extension for an Event Grid
 * trigger (§6.1): the body (an array or one object) is split into events and the function invoked
 * once per event, all at once; 202 when every invocation succeeds, 500 when any throws, so Event
 * Grid retries the whole request, events that succeeded included (all-or-none, §4.5).
 */
export function azureFunctionEndpoint(
    invoke: (event: JsonValue, subscription: DeliverySubscription, info: AttemptInfo) => Promise<unknown>,
): Endpoint {
    return async (subscription, body, info) => {
        const events = Array.isArray(body) ? body : [body];
        const settled = await Promise.allSettled(events.map((e) => invoke(e, subscription, info)));
        return settled.some((s) => s.status === "rejected") ? 500 : 202;
    };
}
