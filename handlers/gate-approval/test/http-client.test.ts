/**
 * The handler's HTTP client (undici under the SDK pipeline) against loopback HTTPS servers: what it
 * sends and returns, the CA it trusts, compressed answers, the per-try timeout, aborts and resets
 * under the codes the SDK's retry strategy knows, and the requests it leaves to the SDK's client.
 */
import type { RequestListener } from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as zlib from "node:zlib";
import { createHttpHeaders, createPipelineRequest, type PipelineRequest } from "@azure/core-rest-pipeline";
import { createTransport, send } from "../src/pipeline";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loopbackCertificate, type LoopbackCertificate } from "../../../local/emulators/tls";
import { createHandlerHttpClient, restErrorCode, sdkOnlyReason, type HandlerHttpClient } from "../src/http-client";

let tls: LoopbackCertificate;
let server: https.Server | undefined;
const clients: HandlerHttpClient[] = [];
beforeAll(async () => {
    tls = await loopbackCertificate();
});
afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    server?.closeAllConnections();
    server?.close();
    server = undefined;
});

/** Starts a loopback HTTPS server; answers its base URL and a new client. */
async function serve(handler: RequestListener): Promise<[string, HandlerHttpClient]> {
    server = https.createServer(tls, handler);
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const client = createHandlerHttpClient();
    clients.push(client);
    return [`https://127.0.0.1:${(server.address() as AddressInfo).port}`, client];
}

function request(url: string, extra: Partial<PipelineRequest> = {}): PipelineRequest {
    const r = createPipelineRequest({ url, ...extra });
    r.tlsSettings = { ca: tls.cert };
    return r;
}

describe("createHandlerHttpClient", () => {
    it("sends method, path, query, headers and body; returns status, headers and text", async () => {
        const seen: { method?: string; url?: string; headers?: Record<string, unknown>; body?: string }[] = [];
        const [base, client] = await serve((req, res) => {
            let body = "";
            req.on("data", (c: Buffer) => (body += c.toString()));
            req.on("end", () => {
                seen.push({ method: req.method, url: req.url, headers: req.headers, body });
                res.setHeader("Set-Cookie", ["a=1", "b=2"]);
                res.writeHead(202, { "Content-Type": "application/json", ETag: '"7"' }).end('{"ok":true}');
            });
        });
        const headers = createHttpHeaders({ "If-Match": '"6"', "Content-Type": "application/json" });
        const r = await client.sendRequest(
            request(`${base}/subscriptions/x/gates/g?api-version=2026-06-01`, {
                method: "PATCH",
                headers,
                body: '{"properties":{"state":"Completed"}}',
            }),
        );
        expect(r.status).toBe(202);
        expect(r.bodyAsText).toBe('{"ok":true}');
        expect(r.headers.get("etag")).toBe('"7"');
        // As the SDK's client: node keeps every Set-Cookie, the SDK the first.
        expect(r.headers.get("set-cookie")).toBe("a=1");
        expect(seen).toHaveLength(1);
        expect(seen[0]!.method).toBe("PATCH");
        expect(seen[0]!.url).toBe("/subscriptions/x/gates/g?api-version=2026-06-01");
        expect(seen[0]!.headers!["if-match"]).toBe('"6"');
        expect(seen[0]!.body).toBe('{"properties":{"state":"Completed"}}');
    });

    it("trusts the request's CA only: without it the self-signed server is refused, and not as a retriable error", async () => {
        const [base, client] = await serve((_req, res) => res.end("{}"));
        const plain = createPipelineRequest({ url: `${base}/x` });
        const e = await client.sendRequest(plain).catch((x: unknown) => x);
        expect((e as { name?: string }).name).toBe("RestError");
        expect((e as { code?: string }).code).toMatch(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/);
        expect((await client.sendRequest(request(`${base}/x`))).status).toBe(200);
    });

    it.each([
        ["gzip", zlib.gzipSync],
        ["deflate", zlib.deflateSync],
        ["br", zlib.brotliCompressSync],
    ] as const)("decodes a %s answer", async (encoding, compress) => {
        const text = JSON.stringify({ value: Array.from({ length: 50 }, (_, i) => ({ name: `gate-${i}` })) });
        const [base, client] = await serve((_req, res) => {
            res.writeHead(200, { "Content-Encoding": encoding }).end(compress(Buffer.from(text)));
        });
        expect((await client.sendRequest(request(`${base}/x`))).bodyAsText).toBe(text);
    });

    it("bounds the wait for response headers by request.timeout, as ETIMEDOUT (which the SDK retries)", async () => {
        const [base, client] = await serve(() => undefined);
        const t0 = Date.now();
        const e = await client.sendRequest(request(`${base}/x`, { timeout: 200 })).catch((x: unknown) => x);
        expect(Date.now() - t0).toBeLessThan(1500);
        expect((e as { name?: string }).name).toBe("RestError");
        expect((e as { code?: string }).code).toBe("ETIMEDOUT");
    });

    it("a request cut by its signal is an AbortError, whatever reason the signal carries", async () => {
        const [base, client] = await serve(() => undefined);
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error("decision budget spent")), 50);
        const e = await client
            .sendRequest(request(`${base}/x`, { abortSignal: controller.signal }))
            .catch((x: unknown) => x);
        expect((e as Error).name).toBe("AbortError");
    });

    it("a connection closed before the answer is ECONNRESET (which the SDK retries)", async () => {
        const [base, client] = await serve((req) => req.socket.destroy());
        const e = await client.sendRequest(request(`${base}/x`)).catch((x: unknown) => x);
        expect((e as { name?: string }).name).toBe("RestError");
        expect((e as { code?: string }).code).toBe("ECONNRESET");
    });

    it("bounds connecting too: a server that never finishes the TLS handshake runs out the try as ETIMEDOUT", async () => {
        const silent = net.createServer(() => undefined);
        await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
        const client = createHandlerHttpClient();
        clients.push(client);
        try {
            const t0 = Date.now();
            const e = await client
                .sendRequest(request(`https://127.0.0.1:${(silent.address() as AddressInfo).port}/x`, { timeout: 300 }))
                .catch((x: unknown) => x);
            expect(Date.now() - t0).toBeLessThan(1500);
            expect((e as { code?: string }).code).toBe("ETIMEDOUT");
        } finally {
            silent.close();
        }
    });

    it("a body cut after the headers is PARSE_ERROR, which the pipeline does not send again", async () => {
        let posts = 0;
        const [base, client] = await serve((req, res) => {
            posts++;
            req.resume();
            res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "100" });
            res.write('{"partial');
            setTimeout(() => res.socket?.destroy(), 20);
        });
        const transport = createTransport({
            tlsCa: tls.cert,
            httpClient: client,
            retryDelayMs: 10,
            maxRetryDelayMs: 20,
        });
        const e = await send(transport, `${base}/hooks`, { method: "POST", body: "{}" }).catch((x: unknown) => x);
        expect((e as { code?: string }).code).toBe("PARSE_ERROR");
        expect(posts).toBe(1);
    });

    it("keeps the first of a repeated Retry-After or ETag, as node does, and joins other repeats", async () => {
        const [base, client] = await serve((_req, res) => {
            res.setHeader("Retry-After", ["1", "7"]);
            res.setHeader("ETag", ['"a"', '"b"']);
            res.setHeader("X-Trace", ["one", "two"]);
            res.end("{}");
        });
        const r = await client.sendRequest(request(`${base}/x`));
        expect(r.headers.get("retry-after")).toBe("1");
        expect(r.headers.get("etag")).toBe('"a"');
        expect(r.headers.get("x-trace")).toBe("one, two");
    });

    it("answers a HEAD with an encoded body's headers and an empty text", async () => {
        const [base, client] = await serve((_req, res) => {
            res.writeHead(200, { "Content-Encoding": "gzip", "Content-Length": "20" }).end();
        });
        const r = await client.sendRequest(request(`${base}/x`, { method: "HEAD" }));
        expect(r.status).toBe(200);
        expect(r.bodyAsText).toBe("");
    });

    it("refuses plain http unless the request allows it, as the SDK's client does", async () => {
        const client = createHandlerHttpClient();
        clients.push(client);
        await expect(client.sendRequest(createPipelineRequest({ url: "http://127.0.0.1:9/x" }))).rejects.toThrow(
            "Cannot connect to http://127.0.0.1:9/x while allowInsecureConnection is false.",
        );
    });

    it("leaves a streamed answer to the SDK's client, which hands back a readable body", async () => {
        const [base, client] = await serve((_req, res) => res.end("streamed"));
        const r = await client.sendRequest(
            request(`${base}/x`, { streamResponseStatusCodes: new Set([Number.POSITIVE_INFINITY]) }),
        );
        expect(r.bodyAsText).toBeUndefined();
        const chunks: Buffer[] = [];
        for await (const c of r.readableStreamBody!) chunks.push(Buffer.from(c as Buffer));
        expect(Buffer.concat(chunks).toString()).toBe("streamed");
    });
});

describe("sdkOnlyReason", () => {
    const base = (extra: Partial<PipelineRequest> = {}) =>
        Object.assign(createPipelineRequest({ url: "https://management.azure.com/x" }), extra);
    it.each([
        ["a plain GET", base(), undefined],
        ["a string body", base({ method: "PATCH", body: "{}" }), undefined],
        ["a trusted CA", base({ tlsSettings: { ca: "PEM" } }), undefined],
        [
            "a proxy (proxyPolicy with HTTPS_PROXY)",
            base({ proxySettings: { host: "http://proxy", port: 8080 } }),
            "proxy",
        ],
        ["an agent of the caller's", base({ agent: new https.Agent() }), "agent"],
        ["a Buffer body", base({ body: Buffer.from("{}") }), "body type"],
        ["a streamed answer", base({ streamResponseStatusCodes: new Set([200]) }), "stream"],
        ["upload progress", base({ onUploadProgress: () => undefined }), "progress"],
        ["a client certificate", base({ tlsSettings: { cert: "PEM", key: "KEY" } }), "tls settings"],
        ["request overrides", base({ requestOverrides: { family: 4 } }), "overrides"],
    ])("%s → %s", (_what, req, reason) => {
        expect(sdkOnlyReason(req)).toBe(reason);
    });
});

describe("restErrorCode", () => {
    it.each([
        ["UND_ERR_SOCKET", "ECONNRESET"],
        ["UND_ERR_CONNECT_TIMEOUT", "ETIMEDOUT"],
        ["UND_ERR_HEADERS_TIMEOUT", "ETIMEDOUT"],
        ["ECONNREFUSED", "ECONNREFUSED"],
        ["ENOTFOUND", "ENOTFOUND"],
        ["DEPTH_ZERO_SELF_SIGNED_CERT", "DEPTH_ZERO_SELF_SIGNED_CERT"],
        [undefined, "REQUEST_SEND_ERROR"],
    ])("%s → %s", (code, expected) => {
        expect(restErrorCode(code)).toBe(expected);
    });
});
