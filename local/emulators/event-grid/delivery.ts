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
 * Publishing to subscriptions (filters, batching, chaos) is `topic.ts`; envelopes `cloudevents.ts`;
 * dead-letter blobs `dead-letter.ts`.
 */

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
export const MINUTE = 60 * SECOND;
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

export function checkStatus(status: DeliveryStatus): void {
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
