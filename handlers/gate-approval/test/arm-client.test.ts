/**
 * The handler's ARM client against the loopback ARM emulator over TLS: gate GET and list with their
 * eTags, PATCH with If-Match (sync and LRO), throttling, resets, stalls and the retry budget, one token for
 * many calls, and a bearer token never sent over plain http or to another host.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { loopbackCertificate } from "../../../local/emulators/tls";
import { ArmClient, ArmError } from "../src/arm-client";
import type { HttpClient } from "@azure/core-rest-pipeline";
import { createHandlerHttpClient, type HandlerHttpClient } from "../src/http-client";
import {
    FAST,
    FLEET_ID,
    FLEET_REF,
    World,
    clusterId,
    countingCredential,
    guid,
    startWorld as startWorldWith,
} from "./helpers";

/** Every fault runs over the handler's own client and over the SDK's, which the handler falls back to. */
const handlerClients: HandlerHttpClient[] = [];
const TRANSPORTS = [
    [
        "the handler's undici client",
        (): HttpClient => {
            const c = createHandlerHttpClient();
            handlerClients.push(c);
            return c;
        },
    ],
    ["the SDK's node client", (): HttpClient | undefined => undefined],
] as const;

let world: World | undefined;
afterEach(async () => {
    await world?.stop();
    world = undefined;
    await Promise.all(handlerClients.splice(0).map((c) => c.close()));
});

function clientWith(w: World, extra: Partial<ConstructorParameters<typeof ArmClient>[0]> = {}): ArmClient {
    return new ArmClient({
        ...FAST,
        tlsCa: w.emu.ca,
        credential: w.credential,
        baseUrl: w.emu.url,
        pollDelayMs: 10,
        maxPollDelayMs: 50,
        ...extra,
    });
}

describe.each(TRANSPORTS)("ArmClient against the emulator, over %s", (_name, transport) => {
    const startWorld = (options: Parameters<typeof startWorldWith>[0] = {}) =>
        startWorldWith({ ...options, tuning: { httpClient: transport() } });
    const client = (w: World, extra: Partial<ConstructorParameters<typeof ArmClient>[0]> = {}) =>
        clientWith(w, { httpClient: transport(), ...extra });

    it("GETs a gate with its eTag, and answers undefined for a missing one", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1, stage: "dev", group: "blue", timing: "After", displayName: "blue healthy" });
        const g = await world.arm.getGate(id);
        expect(g?.view).toMatchObject({
            gateType: "Approval",
            state: "Pending",
            stage: "dev",
            group: "blue",
            timing: "After",
        });
        expect(g?.eTag).toBe(world.emu.gate(id)!.eTag);
        expect(await world.arm.getGate(`${FLEET_ID}/gates/${guid(99)}`)).toBeUndefined();
        expect(world.emu.requests.every((r) => r.authorized)).toBe(true);
    });

    it("a token that cannot be had is transient (another delivery), and no request goes out", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1, stage: "dev", timing: "Before", displayName: "go" });
        world.emu.resetLog();
        const unavailable = new Error("ManagedIdentityCredential: the IMDS endpoint did not answer");
        unavailable.name = "CredentialUnavailableError";
        const arm = client(world, { credential: { getToken: () => Promise.reject(unavailable) } });
        const err = await arm.getGate(id).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ArmError);
        expect((err as ArmError).transient).toBe(true);
        expect((err as ArmError).message).toMatch(/CredentialUnavailableError: ManagedIdentityCredential/);
        expect(world.emu.requests).toEqual([]);
    });

    it("lists every gate across pages", async () => {
        world = await startWorld({ emulator: { pageSize: 2 } });
        for (let i = 1; i <= 5; i++) world.gate({ n: i });
        world.emu.resetLog();
        const { gates, invalid } = await world.arm.listGates(FLEET_REF);
        expect(gates.map((g) => g.view.gate.gateName)).toEqual([1, 2, 3, 4, 5].map(guid));
        expect(invalid).toEqual([]);
        expect(world.emu.requests.filter((r) => r.route === "gates.list")).toHaveLength(3);
    });

    it("PATCHes with If-Match (sync): 200 then 412 for a stale eTag", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        const before = world.emu.gate(id)!.eTag;
        const r = await world.arm.patchGateState(id, "Completed", before);
        expect(r.kind).toBe("done");
        expect(r.kind === "done" && r.gate?.view.state).toBe("Completed");
        expect(world.emu.gate(id)!.state).toBe("Completed");
        expect(world.emu.patchCount).toBe(1);
        expect((await world.arm.patchGateState(id, "Completed", before)).kind).toBe("precondition-failed");
        expect(world.emu.patchCount).toBe(1);
    });

    it("follows the LRO: 202 + Location, polled until 200 with the gate", async () => {
        world = await startWorld({ emulator: { patchMode: "async" } });
        const id = world.gate({ n: 1 });
        world.emu.resetLog();
        const r = await world.arm.patchGateState(id, "Completed", world.emu.gate(id)!.eTag);
        expect(r.kind === "done" && r.gate?.view.state).toBe("Completed");
        expect(world.emu.requests.map((q) => `${q.route} ${q.status}`)).toEqual([
            "gates.patch 202",
            "operation.get 200",
        ]);
    });

    it.each(["403", "404"] as const)(
        "a %s from the operation poll (subscription-scoped Location) re-reads the gate instead",
        async (kind) => {
            world = await startWorld({ emulator: { patchMode: "async" } });
            const id = world.gate({ n: 1 });
            world.emu.inject({ route: "operation.get", kind, times: 1 });
            world.emu.resetLog();
            const r = await world.arm.patchGateState(id, "Completed", world.emu.gate(id)!.eTag);
            expect(r.kind === "done" && r.gate?.view.state).toBe("Completed");
            expect(world.emu.requests.map((q) => `${q.route} ${q.status}`)).toEqual([
                "gates.patch 202",
                `operation.get ${kind}`,
                "gates.get 200",
            ]);
        },
    );

    it("answers 404 on PATCH of a missing gate as not-found", async () => {
        world = await startWorld();
        expect((await world.arm.patchGateState(`${FLEET_ID}/gates/${guid(42)}`, "Completed", undefined)).kind).toBe(
            "not-found",
        );
    });

    it("honours Retry-After on 429 (the throttling policy waits, then succeeds)", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.inject({ route: "gates.get", kind: "429", times: 1, retryAfterSeconds: 1 });
        world.emu.resetLog();
        const t0 = Date.now();
        const g = await world.arm.getGate(id);
        expect(g?.view.state).toBe("Pending");
        const log = world.emu.requests.filter((r) => r.route === "gates.get");
        expect(log.map((r) => r.status)).toEqual([429, 200]);
        expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(950);
        expect(Date.now() - t0).toBeLessThan(3000);
    });

    it.each(["500", "503"] as const)("retries %s with back-off and succeeds", async (kind) => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.inject({ route: "gates.get", kind, times: 2, retryAfterSeconds: 0 });
        world.emu.resetLog();
        expect((await world.arm.getGate(id))?.view.state).toBe("Pending");
        expect(world.emu.requests.map((r) => r.status)).toEqual([Number(kind), Number(kind), 200]);
    });

    it("retries a connection reset", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.inject({ route: "gates.get", kind: "reset", times: 1 });
        world.emu.resetLog();
        expect((await world.arm.getGate(id))?.view.state).toBe("Pending");
        expect(world.emu.requests.map((r) => r.status)).toEqual(["reset", 200]);
    });

    it("times out a stalled try and retries it", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.inject({ route: "gates.get", kind: "stall", times: 1, stallMs: 10_000 });
        world.emu.resetLog();
        const arm = client(world, { perTryTimeoutMs: 300 });
        const t0 = Date.now();
        expect((await arm.getGate(id))?.view.state).toBe("Pending");
        expect(Date.now() - t0).toBeLessThan(2000);
        expect(world.emu.requests.map((r) => r.status)).toEqual(["stall", 200]);
    });

    it("gives up after the retries with a transient ArmError", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.inject({ route: "gates.get", kind: "500" });
        world.emu.resetLog();
        const e = await world.arm.getGate(id).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(ArmError);
        expect((e as ArmError).transient).toBe(true);
        expect((e as ArmError).status).toBe(500);
        expect(world.emu.requests).toHaveLength(1 + (FAST.maxRetries ?? 3));
    });

    it("a stall that outlasts the budget ends at the budget as a transient error", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        world.emu.inject({ route: "gates.get", kind: "stall", stallMs: 20_000 });
        const arm = client(world, { perTryTimeoutMs: 5000 });
        const t0 = Date.now();
        const e = await arm.getGate(id, { abortSignal: AbortSignal.timeout(700) }).catch((x: unknown) => x);
        expect(Date.now() - t0).toBeLessThan(1500);
        expect(e).toBeInstanceOf(ArmError);
        expect((e as ArmError).transient).toBe(true);
    });

    it("a rejected api-version is a permanent error naming the service's code", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        const e = await client(world, { fleetApiVersion: "2020-01-01" })
            .getGate(id)
            .catch((x: unknown) => x);
        expect(e).toBeInstanceOf(ArmError);
        expect((e as ArmError).transient).toBe(false);
        expect((e as ArmError).message).toMatch(/HTTP 400 InvalidApiVersionParameter/);
    });

    it("acquires one token for many calls", async () => {
        world = await startWorld();
        const id = world.gate({ n: 1 });
        for (let i = 0; i < 50; i++) await world.arm.getGate(id);
        expect(world.credential.calls).toBe(1);
    });

    it("reads update run status and managed clusters", async () => {
        world = await startWorld();
        const run = await world.arm.getUpdateRun(`${FLEET_ID}/updateRuns/run-1`);
        expect(run?.stages[0]?.name).toBe("dev");
        expect(run?.stages[0]?.groups.map((g) => [g.name, g.members.map((m) => [m.name, m.state])])).toEqual([
            [
                "blue",
                [
                    ["aks-blue-1", "Completed"],
                    ["aks-blue-2", "Completed"],
                ],
            ],
            ["green", [["aks-green-1", "NotStarted"]]],
        ]);
        expect(await world.arm.getUpdateRun(`${FLEET_ID}/updateRuns/nope`)).toBeUndefined();
        world.emu.setMember("aks-blue-2", { powerState: "Stopped" });
        expect(await world.arm.getManagedCluster(clusterId("aks-blue-2"))).toEqual({
            id: clusterId("aks-blue-2"),
            provisioningState: "Succeeded",
            powerState: "Stopped",
            location: "westeurope",
        });
        await expect(world.arm.getManagedCluster(`${FLEET_ID}/gates/${guid(1)}`)).rejects.toThrow(
            /not a managed cluster id/,
        );
    });
});

describe.each(TRANSPORTS)("transport security, over %s", (_name, transport) => {
    it("never sends the bearer token over plain http, not even to loopback", async () => {
        const hits: string[] = [];
        const server = http.createServer((req, res) => {
            hits.push(req.headers.authorization ?? "none");
            res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        try {
            const credential = countingCredential();
            const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
            const arm = new ArmClient({ ...FAST, httpClient: transport(), credential, baseUrl: base });
            const e = await arm.getGate(`${FLEET_ID}/gates/${guid(1)}`).catch((x: unknown) => x);
            expect(e).toBeInstanceOf(Error);
            expect((e as Error).message).toMatch(/non-TLS protected \(non-https\) URLs/);
            expect(hits).toEqual([]);
            expect(credential.calls).toBe(0);
        } finally {
            server.close();
        }
    });
});

describe.each(TRANSPORTS)("origin guard, over %s", (_name, transport) => {
    it("never follows a nextLink to another host", async () => {
        const hits: string[] = [];
        const tls = await loopbackCertificate();
        const server = https.createServer(tls, (req, res) => {
            hits.push(req.url ?? "");
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ value: [], nextLink: "https://attacker.example/steal?api-version=2026-06-01" }));
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        try {
            const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
            const arm = new ArmClient({
                ...FAST,
                httpClient: transport(),
                tlsCa: tls.cert,
                credential: countingCredential(),
                baseUrl: base,
            });
            const e = await arm.listGates(FLEET_REF).catch((x: unknown) => x);
            expect(e).toBeInstanceOf(ArmError);
            expect((e as Error).message).toMatch(/refusing a request to https:\/\/attacker\.example/);
            expect(hits).toHaveLength(1);
        } finally {
            server.close();
        }
    });
});
