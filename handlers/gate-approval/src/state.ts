/**
 * Per-gate bookkeeping: since when a gate is pending, why it is held, which notifications went out
 * (notify once, escalate once per threshold), and a tombstone once Fleet reports it completed or
 * deleted. Behind a small compare-and-swap interface with two implementations:
 * - `MemoryStateStore`: tests, the offline engine;
 * - `BlobStateStore`: Azure. One JSON blob per gate in the handler's own storage account, written
 *   with the managed identity and conditional on the ETag (If-Match / If-None-Match: *).
 *
 * The blob store speaks the Blob REST API through the shared pipeline instead of `@azure/storage-blob`:
 * that SDK adds ~700 KB (XML, Arrow) to the bundle, which must stay under 1.5 MB, for two calls.
 *
 * Losing this state is safe: the worst case is a repeated notification and an escalation clock that
 * restarts; approvals never depend on it (they depend on the checks and the gate's ETag).
 */
import type { TokenCredential } from "@azure/core-auth";
import { parseGateId } from "../../../core/arm-id";
import {
    HttpTransport,
    PipelineTuning,
    STORAGE_SCOPE,
    createTransport,
    describeError,
    isTransientStatus,
    send,
} from "./pipeline";

export type GateRecordStatus = "pending" | "held" | "manual" | "closed";

export interface GateRecord {
    readonly v: 1;
    readonly gateId: string;
    readonly status: GateRecordStatus;
    /** Epoch ms the gate was first seen pending (event resource time, creation time, or first sighting). */
    readonly firstSeenAt: number;
    readonly updatedAt: number;
    /** Decisions made for this gate so far. */
    readonly attempts: number;
    readonly rule?: string;
    readonly reason?: string;
    /** Notification keys already sent: `manual`, `held`, `escalated:<minutes>`. */
    readonly notified: readonly string[];
    /** Set with status `closed`: what closed it. */
    readonly closed?: { readonly at: number; readonly why: "completed" | "skipped" | "deleted" | "approved" | "gone" };
}

export interface Versioned<T> {
    readonly value: T;
    readonly etag: string;
}

/** Keyed JSON records with ETags; gate records by default (the upgrade-event records use another `T`). */
export interface StateStore<T = GateRecord> {
    read(gateId: string, abortSignal?: AbortSignal): Promise<Versioned<T> | undefined>;
    /** Writes if the stored etag is `etag` (`undefined`: only if absent). The new etag, or `undefined` on conflict. */
    write(gateId: string, value: T, etag: string | undefined, abortSignal?: AbortSignal): Promise<string | undefined>;
}

export class StateConflictError extends Error {
    constructor(gateId: string) {
        super(`state of ${gateId}: too many concurrent writers`);
        this.name = "StateConflictError";
    }
}

export class StateStoreError extends Error {
    constructor(
        message: string,
        readonly transient: boolean,
    ) {
        super(message);
        this.name = "StateStoreError";
    }
}

/** A new record for a gate first seen at `now`. */
export function newRecord(gateId: string, now: number, firstSeenAt = now): GateRecord {
    return { v: 1, gateId, status: "pending", firstSeenAt, updatedAt: now, attempts: 0, notified: [] };
}

/**
 * Read-modify-write with optimistic concurrency: `fn` gets the current record (or undefined) and
 * returns the new one, or `undefined` to leave it unchanged. A handful of tries, then
 * `StateConflictError`.
 */
export async function mutate(
    store: StateStore,
    gateId: string,
    fn: (current: GateRecord | undefined) => GateRecord | undefined,
    abortSignal?: AbortSignal,
): Promise<{ record: GateRecord | undefined; changed: boolean }> {
    for (let i = 0; i < 8; i++) {
        const cur = await store.read(gateId, abortSignal);
        const next = fn(cur?.value);
        if (next === undefined) return { record: cur?.value, changed: false };
        const etag = await store.write(gateId, next, cur?.etag, abortSignal);
        if (etag !== undefined) return { record: next, changed: true };
    }
    throw new StateConflictError(gateId);
}

/**
 * Claims a notification key for a gate: true for exactly one caller. `release` undoes a claim whose
 * notification could not be sent, so a later attempt sends it.
 */
export async function claimNotification(
    store: StateStore,
    gateId: string,
    key: string,
    now: number,
    abortSignal?: AbortSignal,
): Promise<boolean> {
    const r = await mutate(
        store,
        gateId,
        (cur) => {
            const base = cur ?? newRecord(gateId, now);
            if (base.notified.includes(key)) return undefined;
            return { ...base, notified: [...base.notified, key], updatedAt: now };
        },
        abortSignal,
    );
    return r.changed;
}

export async function releaseNotification(
    store: StateStore,
    gateId: string,
    key: string,
    now: number,
    abortSignal?: AbortSignal,
): Promise<void> {
    await mutate(
        store,
        gateId,
        (cur) =>
            cur && cur.notified.includes(key)
                ? { ...cur, notified: cur.notified.filter((k) => k !== key), updatedAt: now }
                : undefined,
        abortSignal,
    );
}

// ---------------------------------------------------------------------------------------------
// In memory
// ---------------------------------------------------------------------------------------------

export class MemoryStateStore<T = GateRecord> implements StateStore<T> {
    private readonly items = new Map<string, { json: string; etag: string }>();
    private counter = 0;
    /** Writes performed (tests). */
    writes = 0;

    async read(gateId: string): Promise<Versioned<T> | undefined> {
        const it = this.items.get(gateId.toLowerCase());
        return it ? { value: JSON.parse(it.json) as T, etag: it.etag } : undefined;
    }

    async write(gateId: string, value: T, etag: string | undefined): Promise<string | undefined> {
        const key = gateId.toLowerCase();
        const cur = this.items.get(key);
        if ((cur?.etag ?? undefined) !== etag) return undefined;
        const next = `"m${++this.counter}"`;
        this.items.set(key, { json: JSON.stringify(value), etag: next });
        this.writes++;
        return next;
    }

    /** Snapshot of every record (tests). */
    all(): T[] {
        return [...this.items.values()].map((i) => JSON.parse(i.json) as T);
    }
}

// ---------------------------------------------------------------------------------------------
// Azure Blob Storage (REST through the shared pipeline)
// ---------------------------------------------------------------------------------------------

const BLOB_API_VERSION = "2023-11-03";

export interface BlobStateStoreOptions extends PipelineTuning {
    /** `https://<account>.blob.core.windows.net` (or the emulator's URL). */
    readonly endpoint: string;
    readonly container: string;
    readonly credential: TokenCredential;
    /** Blob name of a key; default `blobNameFor` (keys are gate ids). */
    readonly blobName?: (key: string) => string;
}

/** Blob name of a gate: `<subscription>/<resource group>/<fleet>/<gate>.json`, lower-case, each segment encoded. */
export function blobNameFor(gateId: string): string {
    const g = parseGateId(gateId);
    return [g.subscriptionId, g.resourceGroup, g.fleetName, `${g.gateName}.json`]
        .map((s) => encodeURIComponent(s.toLowerCase()))
        .join("/");
}

function errorCode(r: { headers: { get(n: string): string | undefined }; bodyText: string }): string {
    return r.headers.get("x-ms-error-code") ?? /<Code>([^<]+)<\/Code>/.exec(r.bodyText)?.[1] ?? "";
}

export class BlobStateStore<T = GateRecord> implements StateStore<T> {
    private readonly transport: HttpTransport;
    private readonly base: string;
    private containerReady?: Promise<void>;

    constructor(private readonly options: BlobStateStoreOptions) {
        const endpoint = options.endpoint.replace(/\/+$/, "");
        this.base = `${endpoint}/${encodeURIComponent(options.container)}`;
        this.transport = createTransport({
            ...options,
            auth: { credential: options.credential, scope: STORAGE_SCOPE },
            allowedOrigins: [endpoint],
        });
    }

    private headers(extra: Record<string, string> = {}): Record<string, string> {
        return { "x-ms-version": BLOB_API_VERSION, ...extra };
    }

    private fail(
        what: string,
        r: { status: number; headers: { get(n: string): string | undefined }; bodyText: string },
    ): never {
        throw new StateStoreError(
            `${what}: HTTP ${r.status} ${errorCode(r)}`.trim(),
            isTransientStatus(r.status) || r.status === 403,
        );
    }

    private async call(what: string, url: string, init: Parameters<typeof send>[2]) {
        try {
            return await send(this.transport, url, init);
        } catch (e) {
            throw new StateStoreError(`${what}: ${describeError(e)}`, true);
        }
    }

    private ensureContainer(abortSignal?: AbortSignal): Promise<void> {
        this.containerReady ??= (async () => {
            const r = await this.call("create state container", `${this.base}?restype=container`, {
                method: "PUT",
                headers: this.headers(),
                abortSignal,
            });
            if (r.status !== 201 && !(r.status === 409 && errorCode(r) === "ContainerAlreadyExists"))
                this.fail("create state container", r);
        })().catch((e) => {
            this.containerReady = undefined;
            throw e;
        });
        return this.containerReady;
    }

    private blob(key: string): string {
        return (this.options.blobName ?? blobNameFor)(key);
    }

    async read(gateId: string, abortSignal?: AbortSignal): Promise<Versioned<T> | undefined> {
        const what = `read state of ${gateId}`;
        const r = await this.call(what, `${this.base}/${this.blob(gateId)}`, {
            headers: this.headers(),
            abortSignal,
        });
        if (r.status === 404) return undefined;
        if (r.status !== 200) this.fail(what, r);
        const etag = r.headers.get("etag");
        if (!etag) throw new StateStoreError(`${what}: no ETag`, true);
        try {
            return { value: JSON.parse(r.bodyText) as T, etag };
        } catch {
            throw new StateStoreError(`${what}: stored record is not JSON`, false);
        }
    }

    async write(
        gateId: string,
        value: T,
        etag: string | undefined,
        abortSignal?: AbortSignal,
    ): Promise<string | undefined> {
        const what = `write state of ${gateId}`;
        const put = () =>
            this.call(what, `${this.base}/${this.blob(gateId)}`, {
                method: "PUT",
                headers: this.headers({
                    "x-ms-blob-type": "BlockBlob",
                    "Content-Type": "application/json",
                    ...(etag !== undefined ? { "If-Match": etag } : { "If-None-Match": "*" }),
                }),
                body: JSON.stringify(value),
                abortSignal,
            });
        let r = await put();
        if (r.status === 404 && errorCode(r) === "ContainerNotFound") {
            await this.ensureContainer(abortSignal);
            r = await put();
        }
        if (r.status === 412 || (r.status === 409 && errorCode(r) === "BlobAlreadyExists")) return undefined;
        if (r.status !== 201 && r.status !== 200) this.fail(what, r);
        const next = r.headers.get("etag");
        if (!next) throw new StateStoreError(`${what}: no ETag`, true);
        return next;
    }
}
