/**
 * HTTP plumbing shared by the ARM client, the blob state store, the notifier and the http check:
 * `@azure/core-rest-pipeline` pipelines assembled from the SDK's own policies, with its retry policy
 * (throttling strategy that honours Retry-After on 429/503, then exponential back-off on
 * 408/5xx/network errors), a per-try timeout, an overall budget (an AbortSignal per decision) and,
 * for Azure endpoints, the SDK's bearer token policy (which only sends tokens over TLS). There is no
 * hand-written retry loop: this module only makes a stalled try look like a retriable network error
 * (`ETIMEDOUT`) to the SDK's retry strategy.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type {
    HttpClient,
    Pipeline,
    PipelinePolicy,
    PipelineRequest,
    PipelineResponse,
} from "@azure/core-rest-pipeline";

/**
 * The SDK, held as one module object rather than named imports: `ArmResource` (components/arm-resource.ts)
 * runs this pipeline inside a Pulumi dynamic provider, whose closure Pulumi serializes. A captured module
 * object found in `require.cache` is serialized as `require("@azure/core-rest-pipeline")` under every
 * loader (ts-node, tsx, vitest), whereas transpiled named imports are not in every one of them.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sdk = require("@azure/core-rest-pipeline") as typeof import("@azure/core-rest-pipeline");

export const ARM_SCOPE = "https://management.azure.com/.default";
export const STORAGE_SCOPE = "https://storage.azure.com/.default";

export interface PipelineTuning {
    /** Time one try may wait for its response headers (default 4 s); the caller's signal bounds the body. */
    readonly perTryTimeoutMs?: number;
    /** Retries after the first try (default 3). */
    readonly maxRetries?: number;
    /** Exponential back-off base and cap (defaults 400 ms, 4 s). */
    readonly retryDelayMs?: number;
    readonly maxRetryDelayMs?: number;
    /** Transport override (tests); default: the SDK's Node client. */
    readonly httpClient?: HttpClient;
    /** Extra CA certificate (PEM) to trust, e.g. the local emulator's self-signed one. */
    readonly tlsCa?: string;
}

export const perTryTimeoutPolicyName = "fleetGatesPerTryTimeout";

/**
 * Bounds one try by `ms` until its response headers arrive, and reports a try that ran out as a
 * `RestError` with code `ETIMEDOUT`, which the SDK's exponential strategy retries (the plain
 * AbortError the SDK's client raises would end the retry loop). The timer is the SDK client's own
 * (`request.timeout`): no AbortController or listener of this policy's per try. A body that stalls
 * after its headers is bounded by the caller's signal (the decision budget or a check's deadline),
 * which still ends everything at once. Placed after the Retry phase, so it runs once per try.
 */
export function perTryTimeoutPolicy(ms: number): PipelinePolicy {
    return {
        name: perTryTimeoutPolicyName,
        async sendRequest(request: PipelineRequest, next): Promise<PipelineResponse> {
            const outer = request.abortSignal;
            if (outer?.aborted) throw new sdk.RestError("request aborted (decision budget spent)", { code: "ABORTED" });
            const previous = request.timeout;
            request.timeout = previous > 0 ? Math.min(previous, ms) : ms;
            try {
                return await next(request);
            } catch (e) {
                if (e instanceof Error && e.name === "AbortError" && !outer?.aborted)
                    throw new sdk.RestError(`no response within ${request.timeout} ms`, { code: "ETIMEDOUT", request });
                throw e;
            } finally {
                request.timeout = previous;
            }
        },
    };
}

/**
 * Refuses requests to any origin but `allowed`: a `nextLink` or `Location` from a response never
 * carries the bearer token elsewhere.
 */
export function sameOriginPolicy(allowed: readonly string[]): PipelinePolicy {
    const origins = new Set(allowed.map((u) => new URL(u).origin));
    // "<origin>/" as a prefix pins scheme, host and port exactly (the authority ends at the "/"), so
    // the common case needs no URL parse; anything else is parsed and compared by origin.
    const prefixes = [...origins].map((o) => `${o}/`);
    return {
        name: "fleetGatesSameOrigin",
        sendRequest(request, next) {
            if (prefixes.some((p) => request.url.startsWith(p))) return next(request);
            let origin: string;
            try {
                origin = new URL(request.url).origin;
            } catch {
                throw new Error(`refusing a request to a malformed URL`);
            }
            if (!origins.has(origin)) throw new Error(`refusing a request to ${origin}: not an allowed endpoint`);
            return next(request);
        },
    };
}

/**
 * One token per scope shared by every pipeline (ARM client, metrics client): fetched once, reused
 * until five minutes before it expires. Concurrent callers share one in-flight request.
 */
export function cachingCredential(inner: TokenCredential, refreshMarginMs = 5 * 60_000): TokenCredential {
    const cache = new Map<string, AccessToken>();
    const inflight = new Map<string, Promise<AccessToken | null>>();
    return {
        async getToken(scopes: string | string[], options?: GetTokenOptions) {
            const key = (Array.isArray(scopes) ? scopes : [scopes]).join(" ");
            const hit = cache.get(key);
            if (hit && hit.expiresOnTimestamp - refreshMarginMs > Date.now()) return hit;
            let p = inflight.get(key);
            if (!p) {
                // Only the abort signal is forwarded: CAE/claims options belong to one caller.
                p = inner.getToken(scopes, options?.abortSignal ? { abortSignal: options.abortSignal } : {});
                inflight.set(key, p);
                p.then(
                    (t) => {
                        if (t) cache.set(key, t);
                    },
                    () => undefined,
                ).finally(() => inflight.delete(key));
            }
            return p;
        },
    };
}

export interface PipelineOptions extends PipelineTuning {
    /** Bearer auth for Azure endpoints; omit for webhooks and http checks. */
    readonly auth?: { readonly credential: TokenCredential; readonly scope: string };
    /** When set, requests may only go to these origins. */
    readonly allowedOrigins?: readonly string[];
    /** Follow redirects (default off: Azure APIs do not redirect, and a redirect must not carry a token). */
    readonly followRedirects?: boolean;
}

export interface HttpTransport {
    readonly pipeline: Pipeline;
    readonly httpClient: HttpClient;
    /** Sends a bearer token: TLS only. Unauthenticated transports (http checks) may use plain http. */
    readonly authenticated: boolean;
}

/**
 * A pipeline of the SDK's own policies, as `createPipelineFromOptions` builds it for Node without
 * the ones this handler has no use for (tracing spans nobody collects, form-data and multipart
 * bodies it never sends): they cost a span and several allocations per request on the hot path.
 * Plus the per-try timeout, an optional origin guard and bearer auth.
 */
export function createTransport(options: PipelineOptions = {}): HttpTransport {
    const pipeline = sdk.createEmptyPipeline();
    if (options.tlsCa !== undefined) pipeline.addPolicy(sdk.tlsPolicy({ ca: options.tlsCa }));
    pipeline.addPolicy(sdk.proxyPolicy());
    pipeline.addPolicy(sdk.decompressResponsePolicy());
    pipeline.addPolicy(sdk.userAgentPolicy({ userAgentPrefix: "fleet-gates-handler" }));
    pipeline.addPolicy(sdk.setClientRequestIdPolicy());
    pipeline.addPolicy(
        sdk.defaultRetryPolicy({
            maxRetries: options.maxRetries ?? 3,
            retryDelayInMs: options.retryDelayMs ?? 400,
            maxRetryDelayInMs: options.maxRetryDelayMs ?? 4000,
        }),
        { phase: "Retry" },
    );
    // Without redirects (Azure APIs never redirect; a redirect must not carry a token) the policy
    // would only pass 3xx answers through, which is what its absence does.
    if (options.followRedirects) pipeline.addPolicy(sdk.redirectPolicy({ maxRetries: 5 }), { afterPhase: "Retry" });
    pipeline.addPolicy(perTryTimeoutPolicy(options.perTryTimeoutMs ?? 4000), { afterPhase: "Retry" });
    if (options.allowedOrigins) pipeline.addPolicy(sameOriginPolicy(options.allowedOrigins), { afterPhase: "Retry" });
    if (options.auth)
        pipeline.addPolicy(
            sdk.bearerTokenAuthenticationPolicy({ credential: options.auth.credential, scopes: options.auth.scope }),
            { phase: "Sign" },
        );
    pipeline.addPolicy(sdk.logPolicy(), { afterPhase: "Sign" });
    return {
        pipeline,
        httpClient: options.httpClient ?? sdk.createDefaultHttpClient(),
        authenticated: options.auth !== undefined,
    };
}

export interface SendOptions {
    readonly method?: "GET" | "PUT" | "PATCH" | "POST" | "DELETE";
    readonly headers?: Record<string, string>;
    readonly body?: string;
    readonly abortSignal?: AbortSignal;
    /** Stream the body and stop reading after this many bytes (http checks). */
    readonly maxBodyBytes?: number;
}

export interface SendResult {
    readonly status: number;
    readonly headers: { get(name: string): string | undefined };
    readonly bodyText: string;
    /** True when the body was cut at `maxBodyBytes`. */
    readonly truncated: boolean;
}

async function readCapped(stream: NodeJS.ReadableStream, max: number): Promise<{ text: string; truncated: boolean }> {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    for await (const chunk of stream) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        if (size + b.length > max) {
            chunks.push(b.subarray(0, max - size));
            truncated = true;
            (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
            break;
        }
        chunks.push(b);
        size += b.length;
    }
    return { text: Buffer.concat(chunks).toString("utf8"), truncated };
}

/** Sends one request through the pipeline; transport errors after retries surface as thrown errors. */
export async function send(transport: HttpTransport, url: string, options: SendOptions = {}): Promise<SendResult> {
    const headers = sdk.createHttpHeaders({ Accept: "application/json", ...(options.headers ?? {}) });
    if (options.body !== undefined && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
    const request = sdk.createPipelineRequest({
        url,
        method: options.method ?? "GET",
        headers,
        body: options.body,
        abortSignal: options.abortSignal,
        // Plain http only for unauthenticated calls (an http check's configured URL); the SDK
        // refuses to send a bearer token without TLS either way.
        allowInsecureConnection: !transport.authenticated,
        ...(options.maxBodyBytes !== undefined
            ? { streamResponseStatusCodes: new Set([Number.POSITIVE_INFINITY]) }
            : {}),
    });
    const response = await transport.pipeline.sendRequest(transport.httpClient, request);
    let bodyText = response.bodyAsText ?? "";
    let truncated = false;
    if (options.maxBodyBytes !== undefined && response.readableStreamBody) {
        const r = await readCapped(response.readableStreamBody, options.maxBodyBytes);
        bodyText = r.text;
        truncated = r.truncated;
    }
    return { status: response.status, headers: { get: (n) => response.headers.get(n) }, bodyText, truncated };
}

/** Network-level failures and aborts: worth another delivery, never a verdict about the gate. */
export function isTransportError(e: unknown): boolean {
    if (sdk.isRestError(e)) return e.response === undefined;
    return e instanceof Error && (e.name === "AbortError" || e.name === "TimeoutError");
}

/**
 * A token could not be had (the managed identity endpoint failing, Entra ID throttling): the
 * platform's problem, not a verdict about the gate, so worth another delivery. Matched by name, as
 * `@azure/identity` names its errors, so the bundle needs no import of its classes here.
 */
export function isCredentialError(e: unknown): boolean {
    return (
        e instanceof Error &&
        ["CredentialUnavailableError", "AuthenticationError", "AggregateAuthenticationError"].includes(e.name)
    );
}

/** HTTP statuses that say "try again later" rather than "no". */
export function isTransientStatus(status: number): boolean {
    return status === 408 || status === 429 || status >= 500;
}

/** A short description of an error for reasons and audit records. */
export function describeError(e: unknown): string {
    if (sdk.isRestError(e)) return `${e.code ?? "RestError"}: ${e.message}`.slice(0, 300);
    if (e instanceof Error) return `${e.name}: ${e.message}`.slice(0, 300);
    return String(e).slice(0, 300);
}
