/**
 * An Event Grid topic publishing to its event subscriptions, emulated (`shared/reference/event-grid.md`
 * §4–§6): `EventGridEmulator` runs each subscription's filter (`core/event-filter.ts`, the one
 * evaluator) on the event in that subscription's delivery schema, maps to CloudEvents where needed,
 * batches, delivers with retries (`delivery.ts`) and dead-letters (`dead-letter.ts`); on demand,
 * duplicate deliveries and shuffled order (§4.6). `azureFunctionEndpoint` answers like the Functions
 * host's Event Grid extension (§6.1).
 *
 * Not modelled: probation and delayed delivery (§4.3), the late-response cancellation of a queued
 * retry (§4.3), the validation handshakes (§4.7), dead-letter storage outages (§3), and parallel
 * delivery to several subscriptions (deliveries of one publication are made one after another).
 */
import {
    prepareFilter,
    type EvaluateOptions,
    type EventSchema,
    type EventSubscriptionFilter,
    type JsonObject,
    type JsonValue,
    type PreparedFilter,
} from "../../../core/event-filter";
import { batchEvents, checkBatchSettings, requestBody, toCloudEvent, type BatchSettings } from "./cloudevents";
import {
    DEAD_LETTER_WRITE_DELAY_MS,
    DeadLetterStore,
    deadLetterRecord,
    type DeadLetterBlob,
    type DeadLetterInfo,
} from "./dead-letter";
import {
    MINUTE,
    VirtualClock,
    deliverWithRetries,
    type AttemptInfo,
    type DeliveryResult,
    type DeliveryStatus,
    type EndpointType,
} from "./delivery";

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
