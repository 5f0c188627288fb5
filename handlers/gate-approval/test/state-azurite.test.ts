/**
 * The handler's blob state store against Azurite (Microsoft's Azure Storage emulator), started by
 * this file on a loopback port over TLS with bearer tokens: conditional writes and claims, two
 * handler instances sharing one container (ETag conflicts, one notification between them), and a
 * 503 storm injected by a fault proxy in front of the emulator.
 */
import { ContainerClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
    AZURITE_ACCOUNT,
    AZURITE_ACCOUNT_KEY,
    azuriteCredential,
    faultProxy,
    startAzurite,
    type Azurite,
    type FaultProxy,
} from "../../../test/azurite";
import { parseGateEvent } from "../../../core/gate-event";
import { decide, type EngineDeps } from "../src/engine";
import type { Notification } from "../src/notifier";
import { cachingCredential } from "../src/pipeline";
import { BlobStateStore, blobNameFor, mutate, newRecord, type GateRecord } from "../src/state";
import { FAST, SUB, exerciseStore, gateIdOf, guid, startWorld, type World } from "./helpers";

let azurite: Azurite;
let containers = 0;

beforeAll(async () => {
    azurite = await startAzurite();
}, 60_000);
afterAll(() => azurite?.close());

/** A fresh container name per test (Azure's rules: 3–63 lower-case letters, digits, '-'). */
function container(): string {
    return `gate-state-${++containers}`;
}

/** One handler instance's store: its own pipeline and credential, as a separate Functions worker has. */
function store(name: string, endpoint = azurite.blobEndpoint, tuning = FAST) {
    const credential = azuriteCredential();
    return {
        credential,
        store: new BlobStateStore({
            ...tuning,
            endpoint,
            tlsCa: azurite.ca,
            container: name,
            credential: cachingCredential(credential),
        }),
    };
}

/** The container as `@azure/storage-blob` reads it, with the account key (an operator's view). */
function sdkContainer(name: string): ContainerClient {
    return new ContainerClient(
        `${azurite.blobEndpoint}/${name}`,
        new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY),
        // The SDK's pipeline takes core-rest-pipeline's TLS options: trust the loopback certificate.
        { tlsOptions: { ca: azurite.ca } } as StoragePipelineOptions,
    );
}

describe("BlobStateStore against Azurite", () => {
    it("conditional writes, one winner among claimers, no lost update; the container created on first write", async () => {
        const name = container();
        const { store: s, credential } = store(name);
        await exerciseStore(s);
        const blobs: string[] = [];
        for await (const b of sdkContainer(name).listBlobsFlat()) blobs.push(b.name);
        expect(blobs).toEqual([blobNameFor(gateIdOf(guid(1)))]);
        expect(blobNameFor(gateIdOf(guid(1)))).toBe(`${SUB}/rg-fleet-dev/flt-dev/${guid(1)}.json`);
        const stored = JSON.parse(
            (await sdkContainer(name).getBlobClient(blobs[0]!).downloadToBuffer()).toString("utf8"),
        ) as GateRecord;
        expect(stored).toMatchObject({ v: 1, gateId: gateIdOf(guid(1)), attempts: 6, notified: ["manual"] });
        expect(credential.calls).toBe(1);
    });

    it("two handler instances: a stale ETag loses, concurrent updates from both lose nothing", async () => {
        const name = container();
        const a = store(name).store;
        const b = store(name).store;
        const gate = gateIdOf(guid(2));
        await a.write(gate, newRecord(gate, 1000), undefined);
        const seenByA = await a.read(gate);
        const seenByB = await b.read(gate);
        expect(seenByA!.etag).toBe(seenByB!.etag);
        expect(await b.write(gate, { ...seenByB!.value, attempts: 1 }, seenByB!.etag)).toBeDefined();
        // A's copy is stale now: Azurite answers 412 and the store reports a conflict, not an error.
        expect(await a.write(gate, { ...seenByA!.value, attempts: 99 }, seenByA!.etag)).toBeUndefined();
        await Promise.all(
            Array.from({ length: 12 }, (_, i) =>
                mutate(i % 2 === 0 ? a : b, gate, (cur) => ({ ...cur!, attempts: cur!.attempts + 1 })),
            ),
        );
        expect((await a.read(gate))?.value.attempts).toBe(13);
    });

    describe("two handler instances deciding the same delivery at once", () => {
        let world: World | undefined;
        afterEach(async () => {
            await world?.stop();
            world = undefined;
        });

        it("notify a manual gate exactly once between them", async () => {
            world = await startWorld();
            const name = container();
            const notified: { instance: string; n: Notification }[] = [];
            const instance = (label: string): EngineDeps => ({
                ...world!.deps,
                state: store(name).store,
                notifier: { notify: async (n) => void notified.push({ instance: label, n }) },
            });
            const gateId = world.gate({ n: 3, displayName: "prod go" });
            const event = parseGateEvent(world.event({ n: 3, displayName: "prod go" }));
            const [one, two] = await Promise.all([decide(event, instance("a")), decide(event, instance("b"))]);
            expect([one.outcome, two.outcome]).toEqual(["manual", "manual"]);
            expect(notified.map((x) => [x.n.kind, x.n.gateId])).toEqual([["manual", gateId]]);
            const record = JSON.parse(
                (await sdkContainer(name).getBlobClient(blobNameFor(gateId)).downloadToBuffer()).toString("utf8"),
            ) as GateRecord;
            expect(record.notified).toEqual(["manual"]);
        });
    });
});

describe("a 503 storm in front of Azurite", () => {
    let proxy: FaultProxy | undefined;
    afterEach(async () => {
        await proxy?.close();
        proxy = undefined;
    });

    it("is ridden out by the pipeline's retries when it passes within them", async () => {
        let left = 3;
        proxy = await faultProxy(azurite, () => (left-- > 0 ? { status: 503, code: "ServerBusy" } : "forward"));
        const { store: s } = store(container(), proxy.blobEndpoint);
        const gate = gateIdOf(guid(4));
        // The first write meets the storm: three 503s, then the container is created and the blob written.
        expect(await s.write(gate, newRecord(gate, 1000), undefined)).toBeDefined();
        expect((await s.read(gate))?.value.gateId).toBe(gate);
        expect(proxy.faulted).toHaveLength(3);
        expect(proxy.forwarded.length).toBeGreaterThanOrEqual(3);
    });

    it("longer than the retries: a transient StateStoreError (Event Grid redelivers), nothing written", async () => {
        proxy = await faultProxy(azurite, () => ({ status: 503, code: "ServerBusy" }));
        const name = container();
        const { store: s } = store(name, proxy.blobEndpoint);
        const gate = gateIdOf(guid(5));
        await expect(s.write(gate, newRecord(gate, 1000), undefined)).rejects.toMatchObject({
            name: "StateStoreError",
            transient: true,
            message: expect.stringMatching(/HTTP 503 ServerBusy$/),
        });
        await expect(s.read(gate)).rejects.toMatchObject({ name: "StateStoreError", transient: true });
        // 1 try + FAST.maxRetries retries, for the write and for the read.
        expect(proxy.faulted).toHaveLength(2 * (1 + FAST.maxRetries!));
        expect(proxy.forwarded).toEqual([]);
        expect(await sdkContainer(name).exists()).toBe(false);
    });
});
