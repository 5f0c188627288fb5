/**
 * Event Grid's dead-lettering, emulated (`shared/reference/event-grid.md` §4.4): the
 * `lastDeliveryOutcome` of a failed delivery, the dead-letter record in each delivery schema, the
 * blob path Azure writes (`<container>/<topic>/<subscription>/y/m/d/h/<guid>.json`), and an
 * in-memory store of the blobs written.
 */
import { createHash } from "node:crypto";
import { type EventSchema, type JsonObject } from "../../../core/event-filter";
import { MINUTE, SUCCESS_STATUSES, checkStatus, type DeadLetterReason, type DeliveryStatus } from "./delivery";

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
