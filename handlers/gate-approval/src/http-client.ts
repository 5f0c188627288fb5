/**
 * The handler's HTTP client: undici (Node.js's own HTTP/1.1 client, the engine of `fetch`) under the
 * SDK pipeline, and under the hub client. It costs about half the main-thread time per request of
 * the SDK's `http`-module client, which bounds how many gate events one instance decides per second.
 *
 * The `HttpClient` takes the requests the handler sends (a string body or none, text back) and hands
 * everything else to the SDK's own client unchanged: a proxy agent (`proxyPolicy` with HTTPS_PROXY),
 * a streamed response (http checks that cap the body), other body types, progress callbacks and
 * request overrides. So the pipeline's policies keep their meaning either way.
 *
 * Only undici's agent and its request API are loaded (deep paths of the pinned version): the package
 * entry also loads fetch, WebSocket and the cache, 150 KB more in a bundle limited to 1.5 MB.
 */
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import type { HttpClient, PipelineRequest, PipelineResponse, TlsSettings } from "@azure/core-rest-pipeline";
import type { Agent as UndiciAgent, Dispatcher } from "undici";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sdk = require("@azure/core-rest-pipeline") as typeof import("@azure/core-rest-pipeline");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Agent = require("undici/lib/dispatcher/agent.js") as typeof UndiciAgent;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dispatchRequest = require("undici/lib/api/api-request.js") as (
    this: Dispatcher,
    options: Dispatcher.RequestOptions,
) => Promise<Dispatcher.ResponseData>;

export { Agent };
export type { UndiciAgent };

/** Sends one request with an undici agent (the `request` API of undici's `Dispatcher`). */
export function agentRequest(agent: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    return dispatchRequest.call(agent, options);
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotli = promisify(zlib.brotliDecompress);

/**
 * A connection that is not up within this time fails the try (`ETIMEDOUT`, retried). undici's
 * headers timeout starts once the request is written, so connecting has its own bound: the default
 * per-try time, as the SDK's client counts connecting in it.
 */
const CONNECT_TIMEOUT_MS = 4000;

/** undici's socket errors under the names the SDK's retry strategy retries (node's own codes). */
const RETRIED_AS: Readonly<Record<string, string>> = {
    UND_ERR_SOCKET: "ECONNRESET",
    UND_ERR_CONNECT_TIMEOUT: "ETIMEDOUT",
    UND_ERR_HEADERS_TIMEOUT: "ETIMEDOUT",
};

/** Why `request` goes to the SDK's client instead, or undefined when undici takes it. */
export function sdkOnlyReason(request: PipelineRequest): string | undefined {
    if (request.agent !== undefined) return "agent";
    if (request.proxySettings !== undefined) return "proxy";
    if (request.body !== undefined && request.body !== null && typeof request.body !== "string") return "body type";
    if (request.formData !== undefined || request.multipartBody !== undefined) return "form body";
    if (request.streamResponseStatusCodes !== undefined && request.streamResponseStatusCodes.size > 0) return "stream";
    if (request.onUploadProgress !== undefined || request.onDownloadProgress !== undefined) return "progress";
    if (request.requestOverrides !== undefined) return "overrides";
    if (request.tlsSettings !== undefined && tlsKey(request.tlsSettings) === undefined) return "tls settings";
    return undefined;
}

/** Agents are keyed by the CA (one PEM string) they trust; other TLS settings are left to the SDK's client. */
function tlsKey(tls: TlsSettings): string | undefined {
    if (tls.cert !== undefined || tls.key !== undefined || tls.pfx !== undefined) return undefined;
    return typeof tls.ca === "string" ? tls.ca : tls.ca === undefined ? "" : undefined;
}

async function decoded(body: Dispatcher.ResponseData["body"], encoding: string | undefined): Promise<string> {
    const kind = encoding?.trim().toLowerCase();
    if (kind === undefined || kind === "" || kind === "identity") return body.text();
    const raw = Buffer.from(await body.arrayBuffer());
    if (kind === "gzip" || kind === "x-gzip") return (await gunzip(raw)).toString("utf8");
    if (kind === "deflate") return (await inflate(raw)).toString("utf8");
    if (kind === "br") return (await brotli(raw)).toString("utf8");
    throw new sdk.RestError(`unsupported content-encoding ${JSON.stringify(encoding)}`, {
        code: sdk.RestError.PARSE_ERROR,
    });
}

function headerValue(v: string | string[] | undefined): string | undefined {
    return Array.isArray(v) ? v.join(", ") : v;
}

export interface HandlerHttpClient extends HttpClient {
    /** Closes the agents' idle connections (tests, a process about to end). */
    close(): Promise<void>;
}

/**
 * The handler's `HttpClient`: undici agents (one per trusted CA, keep-alive) for plain requests,
 * the SDK's client for the rest (`sdkOnlyReason`). `request.timeout` bounds the wait for response
 * headers, as `perTryTimeoutPolicy` asks; a try that runs out is `RestError` `ETIMEDOUT`. undici
 * runs that timeout on its coarse half-second clock (cheap per request), so it fires up to about a
 * second late: a 4 s try ends within 5 s. The caller's signal still cuts a request at once.
 */
export function createHandlerHttpClient(): HandlerHttpClient {
    const agents = new Map<string, UndiciAgent>();
    let fallback: HttpClient | undefined;
    const agentFor = (tls: TlsSettings | undefined): UndiciAgent => {
        const key = tls === undefined ? "" : tlsKey(tls)!;
        let a = agents.get(key);
        if (!a) {
            a = new Agent({
                connect: key === "" ? { timeout: CONNECT_TIMEOUT_MS } : { timeout: CONNECT_TIMEOUT_MS, ca: key },
            });
            agents.set(key, a);
        }
        return a;
    };

    return {
        async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
            if (sdkOnlyReason(request) !== undefined) {
                fallback ??= sdk.createDefaultHttpClient();
                return fallback.sendRequest(request);
            }
            const url = new URL(request.url);
            const headers: string[] = [];
            for (const [name, value] of request.headers) headers.push(name, value);
            let res: Dispatcher.ResponseData;
            try {
                res = await agentRequest(agentFor(request.tlsSettings), {
                    origin: url.origin,
                    path: url.pathname + url.search,
                    method: request.method as Dispatcher.HttpMethod,
                    headers,
                    body: (request.body as string | undefined) ?? null,
                    signal: request.abortSignal as AbortSignal | undefined,
                    headersTimeout: request.timeout > 0 ? request.timeout : 0,
                    reset: request.disableKeepAlive === true,
                });
            } catch (e) {
                throw sendError(e, request);
            }
            const out = sdk.createHttpHeaders();
            for (const name in res.headers) {
                const v = headerValue(res.headers[name]);
                if (v !== undefined) out.set(name, v);
            }
            let bodyAsText: string;
            try {
                bodyAsText = await decoded(res.body, out.get("content-encoding"));
            } catch (e) {
                throw sendError(e, request);
            }
            return { request, status: res.statusCode, headers: out, bodyAsText };
        },
        async close() {
            await Promise.all([...agents.values()].map((a) => a.close()));
            agents.clear();
        },
    };
}

/**
 * A request cut by its signal is an AbortError, whatever reason the signal carries (the SDK's
 * contract); anything else becomes a `RestError` with a code.
 */
function sendError(e: unknown, request: PipelineRequest): unknown {
    if (request.abortSignal?.aborted) {
        const abort = new Error("The operation was aborted.");
        abort.name = "AbortError";
        return abort;
    }
    if (!(e instanceof Error) || e.name === "AbortError" || sdk.isRestError(e)) return e;
    return new sdk.RestError(e.message, { code: restErrorCode((e as { code?: unknown }).code), request });
}

/** The `RestError` code of a failed send: undici's socket errors under node's names, others as they are. */
export function restErrorCode(code: unknown): string {
    return typeof code === "string" ? (RETRIED_AS[code] ?? code) : sdk.RestError.REQUEST_SEND_ERROR;
}
