/**
 * Dead-lettered gate events in a real Blob container, as Event Grid leaves them: one blob per write at
 * `<SUBSCRIPTION-NAME>/<yyyy>/<M>/<d>/<H>/<guid>.json` in the subscription's dead-letter container,
 * holding a JSON array of events with the delivery fields appended (`deadLetterReason`,
 * `deliveryAttempts`, ...; lower-case in CloudEvents). The rehearsal writes its dead letters there
 * (Azurite in the tests), and `npm run replay -- --dead-letter CONTAINER-URL` reads them back to
 * push the events through the handler again, as an operator would after an outage.
 *
 * Through `@azure/storage-blob` (list, download, upload) with a Microsoft Entra credential, or a
 * SAS in the URL.
 */
import type { TokenCredential } from "@azure/core-auth";
import { AnonymousCredential, ContainerClient, type StoragePipelineOptions } from "@azure/storage-blob";
import type { JsonObject } from "../../core/event-filter";
import type { DeadLetterBlob } from "../emulators/event-grid";

/** How to reach a storage account. */
export interface BlobAccess {
    /** Microsoft Entra credential; omitted: the URL carries a SAS (or the container is public). */
    readonly credential?: TokenCredential;
    /** Extra CA certificate (PEM) to trust, e.g. a local emulator's. */
    readonly tlsCa?: string;
}

/** The delivery fields Event Grid appends to a dead-lettered event (both schemas' spellings). */
export const DEAD_LETTER_FIELDS = [
    "deadLetterReason",
    "deliveryAttempts",
    "lastDeliveryOutcome",
    "publishTime",
    "lastDeliveryAttemptTime",
    "lastHttpStatusCode",
    "deadletterreason",
    "deliveryattempts",
    "lastdeliveryoutcome",
    "publishtime",
    "lastdeliveryattempttime",
    "lasthttpstatuscode",
] as const;

function container(url: string, access: BlobAccess): ContainerClient {
    const options = (access.tlsCa !== undefined ? { tlsOptions: { ca: access.tlsCa } } : {}) as StoragePipelineOptions;
    return new ContainerClient(url, access.credential ?? new AnonymousCredential(), options);
}

/** `https://host/account` + `container` (a SAS query on the account URL is kept). */
function containerUrl(accountUrl: string, name: string): string {
    const u = new URL(accountUrl);
    u.pathname = `${u.pathname.replace(/\/+$/, "")}/${encodeURIComponent(name)}`;
    return u.toString();
}

/**
 * Uploads dead-letter blobs (`<container>/<path in container>` as `deadLetterBlobPath` builds them)
 * into the account at `accountUrl`, creating each container on first use. Returns the blob URLs.
 */
export async function writeDeadLetterBlobs(
    blobs: readonly DeadLetterBlob[],
    accountUrl: string,
    access: BlobAccess = {},
): Promise<string[]> {
    const ready = new Map<string, Promise<ContainerClient>>();
    const urls: string[] = [];
    for (const blob of blobs) {
        const slash = blob.path.indexOf("/");
        const name = blob.path.slice(0, slash);
        let client = ready.get(name);
        if (!client) {
            const c = container(containerUrl(accountUrl, name), access);
            client = c.createIfNotExists().then(() => c);
            ready.set(name, client);
        }
        const body = JSON.stringify(blob.records);
        const blockBlob = (await client).getBlockBlobClient(blob.path.slice(slash + 1));
        await blockBlob.upload(body, Buffer.byteLength(body), {
            blobHTTPHeaders: { blobContentType: "application/json" },
        });
        urls.push(blockBlob.url);
    }
    return urls;
}

/** A dead-letter blob as read back: its name in the container and its events, delivery fields removed. */
export interface DeadLetteredEvents {
    readonly blob: string;
    readonly events: JsonObject[];
    /** Why each event was dead-lettered, in order (`deadLetterReason`). */
    readonly reasons: (string | null)[];
}

export class DeadLetterReadError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "DeadLetterReadError";
    }
}

/** The event as it was published: the delivery fields Event Grid appended are dropped. */
export function withoutDeliveryFields(record: JsonObject): JsonObject {
    const out: JsonObject = { ...record };
    for (const f of DEAD_LETTER_FIELDS) delete out[f];
    return out;
}

/**
 * Every dead-letter blob in the container at `url` (optionally under `prefix`, e.g. one
 * subscription's `GATE-SALES-CHECK/`), in name order (which is time order within a subscription),
 * with its events as published.
 */
export async function readDeadLetterBlobs(
    url: string,
    access: BlobAccess = {},
    prefix?: string,
): Promise<DeadLetteredEvents[]> {
    const client = container(url, access);
    const names: string[] = [];
    for await (const b of client.listBlobsFlat(prefix !== undefined ? { prefix } : {})) names.push(b.name);
    names.sort();
    const out: DeadLetteredEvents[] = [];
    for (const name of names) {
        const text = (await client.getBlobClient(name).downloadToBuffer()).toString("utf8");
        let doc: unknown;
        try {
            doc = JSON.parse(text);
        } catch (e) {
            throw new DeadLetterReadError(`${name}: not JSON: ${(e as Error).message}`);
        }
        const records = Array.isArray(doc) ? doc : [doc];
        if (!records.every((r) => r !== null && typeof r === "object" && !Array.isArray(r)))
            throw new DeadLetterReadError(`${name}: not a JSON array of events`);
        const events = records as JsonObject[];
        out.push({
            blob: name,
            events: events.map(withoutDeliveryFields),
            reasons: events.map((r) => {
                const reason = r.deadLetterReason ?? r.deadletterreason;
                return typeof reason === "string" ? reason : null;
            }),
        });
    }
    return out;
}
