/**
 * What the handler remembers about AKS upgrade events, in the same ETag-guarded store as gate
 * records (`state.ts`; its own blob container in Azure):
 * - **announcements**, one per fleet and message key (a new version tuple, a support window of a
 *   minor, a failed node pool roll): who reported it, and a notify-once claim. A claim is taken with
 *   a conditional write, so of concurrent deliveries exactly one sends; it carries a lease, so a
 *   delivery that dies between claiming and sending is taken over by a later one (Event Grid
 *   redelivers what was not acknowledged); a send that failed releases the claim. Not sent twice,
 *   except when a process dies after the webhook answered and before `sentAt` was written.
 * - **node pools**, one record per member cluster: the latest rolling state of each pool, ordered by
 *   event time (deliveries are unordered), read by `clusterHealth`.
 */
import { createHash, randomUUID } from "node:crypto";
import type { NodePoolReader } from "../checks/types";
import type { StateStore } from "../state";

/** How long a claim blocks other deliveries before a later one may take it over. */
export const CLAIM_LEASE_MS = 60_000;

export interface AnnouncementRecord {
    readonly v: 1;
    readonly type: "announcement";
    readonly key: string;
    /** Member names that reported it, in arrival order. */
    readonly reporters: readonly string[];
    readonly firstEventId: string;
    /** The delivery holding the right to send: a token per decision (two deliveries of one event are two claimants). */
    readonly claim?: { readonly token: string; readonly eventId: string; readonly at: number };
    readonly sentAt?: number;
    readonly sentBy?: string;
}

export type PoolState = "rolling" | "succeeded" | "failed";

export interface NodePoolRecord {
    readonly v: 1;
    readonly type: "nodePools";
    readonly clusterId: string;
    readonly member: string;
    readonly pools: Readonly<
        Record<string, { readonly state: PoolState; readonly eventTime: string; readonly eventId: string }>
    >;
}

export type UpgradeRecord = AnnouncementRecord | NodePoolRecord;
export type UpgradeStore = StateStore<UpgradeRecord>;

/** Store key of an announcement: `announce/<fleet id>/<key>`. */
export function announcementKey(fleetId: string, key: string): string {
    return `announce${fleetId.toLowerCase()}/${key}`;
}

export function nodePoolKey(clusterId: string): string {
    return `nodepools${clusterId.toLowerCase()}`;
}

/** Blob name of a key: readable prefix, hashed tail (keys carry ids and versions). */
export function upgradeBlobName(key: string): string {
    const kind = key.startsWith("announce") ? "announce" : "nodepools";
    return `${kind}/${createHash("sha256").update(key.toLowerCase()).digest("hex")}.json`;
}

async function mutateRecord<T extends UpgradeRecord>(
    store: UpgradeStore,
    key: string,
    fn: (cur: T | undefined) => T | undefined,
): Promise<{ record: T | undefined; changed: boolean }> {
    for (let i = 0; i < 8; i++) {
        const cur = await store.read(key);
        const next = fn(cur?.value as T | undefined);
        if (next === undefined) return { record: cur?.value as T | undefined, changed: false };
        if ((await store.write(key, next, cur?.etag)) !== undefined) return { record: next, changed: true };
    }
    const e = new Error(`state of ${key}: too many concurrent writers`);
    e.name = "StateConflictError";
    throw e;
}

export type ClaimResult =
    | { readonly kind: "claimed"; readonly record: AnnouncementRecord; readonly token: string }
    | { readonly kind: "sent"; readonly record: AnnouncementRecord }
    | { readonly kind: "busy"; readonly record: AnnouncementRecord };

/**
 * Records `member` as a reporter and claims the right to send, unless sent already (`sent`) or
 * claimed by another delivery whose lease has not run out (`busy`).
 */
export async function claimAnnouncement(
    store: UpgradeStore,
    key: string,
    member: string,
    eventId: string,
    now: number,
): Promise<ClaimResult> {
    const token = randomUUID();
    let result: ClaimResult | undefined;
    await mutateRecord<AnnouncementRecord>(store, key, (cur) => {
        const base: AnnouncementRecord = cur ?? {
            v: 1,
            type: "announcement",
            key,
            reporters: [],
            firstEventId: eventId,
        };
        const reporters = base.reporters.includes(member) ? base.reporters : [...base.reporters, member];
        if (base.sentAt !== undefined) {
            result = { kind: "sent", record: { ...base, reporters } };
            return reporters === base.reporters ? undefined : { ...base, reporters };
        }
        if (base.claim && now - base.claim.at < CLAIM_LEASE_MS) {
            result = { kind: "busy", record: { ...base, reporters } };
            return reporters === base.reporters ? undefined : { ...base, reporters };
        }
        const next = { ...base, reporters, claim: { token, eventId, at: now } };
        result = { kind: "claimed", record: next, token };
        return next;
    });
    return result!;
}

/** Marks a claimed announcement sent. */
export async function markSent(store: UpgradeStore, key: string, eventId: string, now: number): Promise<void> {
    await mutateRecord<AnnouncementRecord>(store, key, (cur) => {
        if (cur === undefined || cur.sentAt !== undefined) return undefined;
        const { claim: _claim, ...rest } = cur;
        return { ...rest, sentAt: now, sentBy: eventId };
    });
}

/** Gives a claim back after a failed send, so the next delivery sends. */
export async function releaseClaim(store: UpgradeStore, key: string, token: string): Promise<void> {
    await mutateRecord<AnnouncementRecord>(store, key, (cur) => {
        if (cur?.claim?.token !== token || cur.sentAt !== undefined) return undefined;
        const { claim: _claim, ...rest } = cur;
        return rest;
    });
}

/**
 * Records a pool's rolling state if the event is not older than what is recorded for the pool.
 * Returns whether it changed the record and the pool's state afterwards.
 */
export async function recordPoolState(
    store: UpgradeStore,
    clusterId: string,
    member: string,
    pool: string,
    state: PoolState,
    eventTime: string,
    eventId: string,
): Promise<{ changed: boolean; current: PoolState }> {
    const key = nodePoolKey(clusterId);
    const at = Date.parse(eventTime);
    const r = await mutateRecord<NodePoolRecord>(store, key, (cur) => {
        const base: NodePoolRecord = cur ?? { v: 1, type: "nodePools", clusterId, member, pools: {} };
        const prev = base.pools[pool];
        if (prev !== undefined && (prev.eventId === eventId || Date.parse(prev.eventTime) > at)) return undefined;
        return { ...base, pools: { ...base.pools, [pool]: { state, eventTime, eventId } } };
    });
    const current = r.record?.pools[pool]?.state ?? state;
    return { changed: r.changed, current };
}

/** `clusterHealth`'s view: pools of a cluster whose latest rolling failed. */
export function nodePoolReader(store: UpgradeStore): NodePoolReader {
    return {
        async failedPools(clusterId) {
            const cur = await store.read(nodePoolKey(clusterId));
            const rec = cur?.value;
            if (rec === undefined || rec.type !== "nodePools") return [];
            return Object.entries(rec.pools)
                .filter(([, p]) => p.state === "failed")
                .map(([name, p]) => ({ name, since: p.eventTime }))
                .sort((a, b) => a.name.localeCompare(b.name));
        },
    };
}
