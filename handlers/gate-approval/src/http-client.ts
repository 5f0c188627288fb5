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
import { AbortError } from "@azure/abort-controller";
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

/**
 * The body as text, decoded as `Content-Encoding` says (the SDK's decompression policy asks for gzip
 * and deflate). A HEAD answer or an empty body is "".
 */
async function decoded(body: Dispatcher.ResponseData["body"], encoding: string | undefined): Promise<string> {
    const kind = encoding?.trim().toLowerCase();
    if (kind === undefined || kind === "" || kind === "identity") return body.text();
    const raw = Buffer.from(await body.arrayBuffer());
    if (raw.length === 0) return "";
    if (kind === "gzip" || kind === "x-gzip") return (await gunzip(raw)).toString("utf8");
    if (kind === "deflate") return (await inflate(raw)).toString("utf8");
    if (kind === "br") return (await brotli(raw)).toString("utf8");
    throw new Error(`unsupported content-encoding ${JSON.stringify(encoding)}`);
}

/**
 * Headers a repeat of which node's `http` drops (keeping the first), as the SDK's client sees them; a
 * repeated `Retry-After` or `ETag` must not become "1, 1".
 */
const FIRST_ONLY = new Set([
    "age",
    "authorization",
    "content-length",
    "content-type",
    "etag",
    "expires",
    "from",
    "host",
    "if-modified-since",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "proxy-authorization",
    "referer",
    "retry-after",
    "server",
    "set-cookie",
    "user-agent",
]);

/** One header's value as the SDK's client gives it: the first of a repeat where node keeps one, else joined. */
function headerValue(name: string, v: string | string[] | undefined): string | undefined {
    if (!Array.isArray(v)) return v;
    return FIRST_ONLY.has(name.toLowerCase()) ? v[0] : v.join(", ");
}

export interface HandlerHttpClient extends HttpClient {
    /** Closes the agents' idle connections (tests, a process about to end). */
    close(): Promise<void>;
}

/**
 * The handler's `HttpClient`: undici agents (one per trusted CA, keep-alive) for plain requests,
 * the SDK's client for the rest (`sdkOnlyReason`). As in the SDK's client, `request.timeout` bounds a
 * try until its response headers, connecting included (a try that runs out is `RestError`
 * `ETIMEDOUT`, which the SDK retries); the caller's signal cuts it at any point (`AbortError`); a
 * body cut after the headers is `PARSE_ERROR`, not retried, since the server has answered.
 */
export function createHandlerHttpClient(): HandlerHttpClient {
    const agents = new Map<string, UndiciAgent>();
    let fallback: HttpClient | undefined;
    const agentFor = (tls: TlsSettings | undefined): UndiciAgent => {
        const key = tls === undefined ? "" : tlsKey(tls)!;
        let a = agents.get(key);
        if (!a) {
            a = new Agent(key === "" ? {} : { connect: { ca: key } });
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
            if (url.protocol !== "https:" && !request.allowInsecureConnection)
                throw new Error(`Cannot connect to ${request.url} while allowInsecureConnection is false.`);
            const outer = request.abortSignal;
            if (outer?.aborted) throw abortError();
            const headers: string[] = [];
            for (const [name, value] of request.headers) headers.push(name, value);
            // One signal per try: the caller's, and the per-try time until the response headers.
            const controller = new AbortController();
            const onAbort = () => controller.abort();
            outer?.addEventListener("abort", onAbort);
            let timedOut = false;
            const timer =
                request.timeout > 0
                    ? setTimeout(() => {
                          timedOut = true;
                          controller.abort();
                      }, request.timeout)
                    : undefined;
            try {
                let res: Dispatcher.ResponseData;
                const pending = agentRequest(agentFor(request.tlsSettings), {
                    origin: url.origin,
                    path: url.pathname + url.search,
                    method: request.method as Dispatcher.HttpMethod,
                    headers,
                    body: (request.body as string | undefined) ?? null,
                    signal: controller.signal,
                    reset: request.disableKeepAlive === true,
                });
                try {
                    // undici applies an abort once the request has a connection: while it connects,
                    // only this race ends the try on time (the request is dropped when it connects).
                    res = await Promise.race([pending, rejectOnAbort(controller.signal)]);
                } catch (e) {
                    pending.then(
                        (late) => late.body.dump(),
                        () => undefined,
                    );
                    if (outer?.aborted) throw abortError();
                    if (timedOut)
                        throw new sdk.RestError(`no response within ${request.timeout} ms`, {
                            code: "ETIMEDOUT",
                            request,
                        });
                    throw e instanceof Error && !sdk.isRestError(e)
                        ? new sdk.RestError(e.message, { code: restErrorCode((e as { code?: unknown }).code), request })
                        : e;
                } finally {
                    clearTimeout(timer);
                }
                const out = sdk.createHttpHeaders();
                for (const name in res.headers) {
                    const v = headerValue(name, res.headers[name]);
                    if (v !== undefined) out.set(name, v);
                }
                let bodyAsText: string;
                try {
                    bodyAsText = request.method === "HEAD" ? "" : await decoded(res.body, out.get("content-encoding"));
                } catch (e) {
                    if (outer?.aborted) throw abortError();
                    throw new sdk.RestError(`Error reading response as text: ${(e as Error).message}`, {
                        code: sdk.RestError.PARSE_ERROR,
                        request,
                    });
                } finally {
                    if (request.method === "HEAD") await res.body.dump();
                }
                return { request, status: res.statusCode, headers: out, bodyAsText };
            } finally {
                outer?.removeEventListener("abort", onAbort);
            }
        },
        async close() {
            await Promise.all([...agents.values()].map((a) => a.close()));
            agents.clear();
        },
    };
}

/** A promise that rejects when `signal` aborts (and never settles otherwise). */
function rejectOnAbort(signal: AbortSignal): Promise<never> {
    return new Promise<never>((_resolve, reject) =>
        signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }),
    );
}

/** The SDK's contract for a request cut by its caller's signal, whatever reason the signal carries. */
function abortError(): AbortError {
    return new AbortError("The operation was aborted.");
}

/** The `RestError` code of a failed send: undici's socket errors under node's names, others as they are. */
export function restErrorCode(code: unknown): string {
    return typeof code === "string" ? (RETRIED_AS[code] ?? code) : sdk.RestError.REQUEST_SEND_ERROR;
}
