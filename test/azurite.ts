/**
 * Azurite, Microsoft's Azure Storage emulator (the `azurite` npm package), started by the tests
 * themselves: the Blob service in-process, in memory, on a loopback port chosen by the OS, over TLS
 * with the loopback certificate and Entra ID bearer tokens accepted in Azurite's `basic` OAuth mode
 * (the SDK's bearer policy sends tokens over https only). No Docker, nothing left running.
 *
 * Also a bearer credential Azurite accepts (an unsigned token with the storage audience: `basic` mode
 * checks issuer, audience and lifetime, not the signature) and a loopback TLS fault proxy in front of
 * the emulator, which answers chosen requests itself (e.g. 503 ServerBusy) and forwards the rest.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { loopbackCertificate } from "../local/emulators/tls";

/** Azurite's well-known development account (documented, not a secret). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_ACCOUNT_KEY =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface Azurite {
    /** The account's Blob endpoint, path style: `https://127.0.0.1:<port>/devstoreaccount1`. */
    readonly blobEndpoint: string;
    /** PEM certificate the clients must trust. */
    readonly ca: string;
    close(): Promise<void>;
}

interface AzuriteBlobServer {
    start(): Promise<void>;
    close(): Promise<void>;
    clean(): Promise<void>;
    getHttpServerAddress(): string;
}

/** Starts Azurite's Blob service in this process (in-memory persistence). */
export async function startAzurite(): Promise<Azurite> {
    const { key, cert } = await loopbackCertificate();
    /* eslint-disable @typescript-eslint/no-require-imports -- azurite ships no typings or exports map */
    const BlobServer = (
        require("azurite/dist/src/blob/BlobServer") as { default: new (c: unknown) => AzuriteBlobServer }
    ).default;
    const BlobConfiguration = (
        require("azurite/dist/src/blob/BlobConfiguration") as { default: new (...a: unknown[]) => unknown }
    ).default;
    /* eslint-enable @typescript-eslint/no-require-imports */
    // Azurite takes certificate and key as file paths or PEM text alike (`fs.readFileSync` of a
    // path): write them where it can read them.
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azurite-"));
    fs.writeFileSync(path.join(dir, "cert.pem"), cert);
    fs.writeFileSync(path.join(dir, "key.pem"), key);
    const config = new BlobConfiguration(
        "127.0.0.1",
        0, // any free port
        undefined, // keep-alive timeout: default
        undefined, // metadata DB path: unused in memory
        undefined, // extent DB path: unused in memory
        undefined, // persistence paths: unused in memory
        false, // access log
        undefined,
        false, // debug log
        undefined,
        false, // loose
        // @azure/storage-blob 12.34 speaks x-ms-version 2026-10-06, newer than this Azurite knows
        // (2025-11-05); the newest Azurite requires Node 22. Azurite's documented switch for that:
        true, // skip API version check
        path.join(dir, "cert.pem"),
        path.join(dir, "key.pem"),
        "", // certificate password
        "basic", // OAuth
        false, // product-style URLs off: path style (account in the path) on loopback
        true, // in-memory persistence
    );
    const server = new BlobServer(config);
    await server.start();
    const address = server.getHttpServerAddress();
    return {
        blobEndpoint: `${address}/${AZURITE_ACCOUNT}`,
        ca: cert,
        async close() {
            await server.close();
            await server.clean();
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

function base64url(value: unknown): string {
    return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/**
 * A credential whose tokens Azurite's `basic` OAuth mode accepts: storage audience, an Entra ID
 * issuer, a lifetime around now. Counts its calls.
 */
export function azuriteCredential(): TokenCredential & { calls: number } {
    const credential = {
        calls: 0,
        async getToken(): Promise<AccessToken> {
            credential.calls++;
            const now = Math.floor(Date.now() / 1000);
            const claims = {
                aud: "https://storage.azure.com",
                iss: "https://sts.windows.net/9c1f7d2e-5b3a-4e8f-a6d4-2b7c9e0f1a3d/",
                iat: now - 60,
                nbf: now - 60,
                exp: now + 3600,
                oid: "3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1b",
            };
            const token = `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims)}.c2lnbmF0dXJl`;
            return { token, expiresOnTimestamp: (now + 3600) * 1000 };
        },
    };
    return credential;
}

/** What the fault proxy does with one request: forward it, or answer it with this status and error code. */
export type FaultDecision = "forward" | { readonly status: number; readonly code: string };

export interface FaultProxy {
    /** The proxied account endpoint (same path as the emulator's). */
    readonly blobEndpoint: string;
    /** Requests the proxy answered itself, and those it forwarded. */
    readonly faulted: string[];
    readonly forwarded: string[];
    close(): Promise<void>;
}

/**
 * A loopback TLS proxy in front of Azurite: `decide` sees each request (`METHOD path`) and either
 * forwards it unchanged or answers it as the Blob service does when it sheds load.
 */
export async function faultProxy(target: Azurite, decide: (request: string) => FaultDecision): Promise<FaultProxy> {
    const { key, cert } = await loopbackCertificate();
    const upstream = new URL(target.blobEndpoint);
    const agent = new https.Agent({ ca: target.ca, keepAlive: true });
    const faulted: string[] = [];
    const forwarded: string[] = [];
    const server = https.createServer({ key, cert }, (req, res) => {
        const line = `${req.method} ${req.url}`;
        const d = decide(line);
        if (d !== "forward") {
            faulted.push(line);
            req.resume();
            res.writeHead(d.status, { "x-ms-error-code": d.code, "Content-Type": "application/xml" });
            res.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${d.code}</Code></Error>`);
            return;
        }
        forwarded.push(line);
        const out = https.request(
            {
                agent,
                host: upstream.hostname,
                port: upstream.port,
                method: req.method,
                path: req.url,
                headers: { ...req.headers, host: upstream.host },
            },
            (answer: http.IncomingMessage) => {
                res.writeHead(answer.statusCode ?? 502, answer.headers);
                answer.pipe(res);
            },
        );
        out.on("error", () => res.destroy());
        req.pipe(out);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    return {
        blobEndpoint: `https://127.0.0.1:${port}${upstream.pathname}`,
        faulted,
        forwarded,
        close: () =>
            new Promise<void>((r) => {
                server.closeAllConnections();
                server.close(() => r());
                agent.destroy();
            }),
    };
}
