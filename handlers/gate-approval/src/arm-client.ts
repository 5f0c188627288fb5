/**
 * The ARM calls the handler makes: Fleet gates (GET, LIST paged, PATCH with If-Match and the LRO),
 * update runs (GET) and managed clusters (GET). One pipeline (retry, throttling, per-try timeout,
 * bearer token for `https://management.azure.com/.default`, origin guard) reused across calls.
 * `ArmRequests` holds the primitives every ARM client of the handler is built on (`upgrade/update-runs.ts`
 * too): the pipeline, URLs, sending with the error model below, paged LISTs, JSON bodies and waits.
 *
 * Errors: `ArmError` with `transient` set for what another delivery may fix (408/429/5xx, network
 * errors, timeouts, an exhausted budget, and 401/403/409, which follow role propagation or a run
 * in transition); other 4xx are permanent. 404 on a GET is an answer (`undefined`), not an error.
 */
import type { TokenCredential } from "@azure/core-auth";
import { isRestError } from "@azure/core-rest-pipeline";
import { FleetRef, fleetId as formatFleetId, parseArmId, isType } from "../../../core/arm-id";
import { GateView, parseGateResource } from "../../../core/gate-event";
import {
    ARM_SCOPE,
    HttpTransport,
    PipelineTuning,
    SendResult,
    createTransport,
    describeError,
    isCredentialError,
    isTransientStatus,
    isTransportError,
    send,
} from "./pipeline";

export const FLEET_API_VERSION = "2026-06-01";
export const MANAGED_CLUSTER_API_VERSION = "2025-01-01";

export class ArmError extends Error {
    constructor(
        message: string,
        readonly transient: boolean,
        readonly status?: number,
        readonly code?: string,
    ) {
        super(message);
        this.name = "ArmError";
    }
}

/** A gate as read from ARM: the validated view plus its concurrency token. */
export interface GateSnapshot {
    readonly view: GateView;
    readonly eTag?: string;
    readonly createdAt?: string;
}

export type PatchResult =
    | { readonly kind: "done"; readonly gate?: GateSnapshot }
    | { readonly kind: "precondition-failed" }
    | { readonly kind: "not-found" };

export interface MemberStatus {
    readonly name: string;
    readonly clusterResourceId?: string;
    readonly state?: string;
}
export interface GroupStatus {
    readonly name: string;
    readonly state?: string;
    readonly members: readonly MemberStatus[];
}
export interface StageStatus {
    readonly name: string;
    readonly state?: string;
    readonly groups: readonly GroupStatus[];
}
export interface UpdateRunStatus {
    readonly id: string;
    readonly state?: string;
    readonly stages: readonly StageStatus[];
}

export interface ManagedClusterStatus {
    readonly id: string;
    readonly provisioningState?: string;
    readonly powerState?: string;
    /** Azure region, e.g. `eastus`: metric checks query that region's Azure Monitor endpoint. */
    readonly location?: string;
}

export interface CallOptions {
    readonly abortSignal?: AbortSignal;
}

/** What the engine and checks need from ARM (the emulator-backed client in tests, a fake in unit tests). */
export interface FleetApi {
    getGate(gateId: string, o?: CallOptions): Promise<GateSnapshot | undefined>;
    /** All gates of the fleet (follows `nextLink`). Gates whose resource fails validation are skipped with a note. */
    listGates(fleet: FleetRef, o?: CallOptions): Promise<{ gates: GateSnapshot[]; invalid: string[] }>;
    /** PATCH `{"properties":{"state":state}}` with If-Match; waits for the LRO within the budget. */
    patchGateState(gateId: string, state: "Completed", eTag: string | undefined, o?: CallOptions): Promise<PatchResult>;
    getUpdateRun(updateRunId: string, o?: CallOptions): Promise<UpdateRunStatus | undefined>;
    getManagedCluster(clusterId: string, o?: CallOptions): Promise<ManagedClusterStatus | undefined>;
}

/** What every ARM client of the handler is built from. */
export interface ArmRequestsOptions extends PipelineTuning {
    readonly credential: TokenCredential;
    /** ARM endpoint; default public cloud. The emulator's URL in tests. */
    readonly baseUrl?: string;
    /** Polling: delay when the service gives no Retry-After (default 1 s). */
    readonly pollDelayMs?: number;
    /** Maximum pages followed when listing (default 100). */
    readonly maxPages?: number;
}

export interface ArmClientOptions extends ArmRequestsOptions {
    readonly fleetApiVersion?: string;
    readonly clusterApiVersion?: string;
    /** LRO polling: the cap on any delay (default 5 s). */
    readonly maxPollDelayMs?: number;
}

/** Tolerant readers of ARM bodies: a missing or mistyped part reads as absent. */
export function str(v: unknown): string | undefined {
    return typeof v === "string" ? v : undefined;
}
export function obj(v: unknown): Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
function arr(v: unknown): unknown[] {
    return Array.isArray(v) ? v : [];
}

/** The `status` of an update run (2026-06-01 `UpdateRunStatus`), tolerant of missing parts. */
export function parseUpdateRunStatus(id: string, body: unknown): UpdateRunStatus {
    const status = obj(obj(obj(body).properties).status);
    const stateOf = (s: unknown) => str(obj(obj(s).status).state);
    return {
        id,
        ...(stateOf(status) !== undefined ? { state: stateOf(status) } : {}),
        stages: arr(status.stages).map((st) => ({
            name: str(obj(st).name) ?? "",
            ...(stateOf(st) !== undefined ? { state: stateOf(st) } : {}),
            groups: arr(obj(st).groups).map((g) => ({
                name: str(obj(g).name) ?? "",
                ...(stateOf(g) !== undefined ? { state: stateOf(g) } : {}),
                members: arr(obj(g).members).map((m) => {
                    const clusterResourceId = str(obj(m).clusterResourceId);
                    const state = stateOf(m);
                    return {
                        name: str(obj(m).name) ?? "",
                        ...(clusterResourceId !== undefined ? { clusterResourceId } : {}),
                        ...(state !== undefined ? { state } : {}),
                    };
                }),
            })),
        })),
    };
}

/** Waits `ms`; an aborted budget ends the wait with a transient `ArmError`. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(new ArmError("decision budget spent while waiting", true));
        const t = setTimeout(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(t);
            reject(new ArmError("decision budget spent while waiting", true));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
    });
}

/** Retry-After in ms (seconds or an HTTP date), if present and sane. */
function retryAfterMs(r: SendResult): number | undefined {
    const v = r.headers.get("retry-after");
    if (!v) return undefined;
    if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
    const at = Date.parse(v);
    return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** The response body as JSON; a body that is not JSON (a cut-off answer, a proxy's page) is transient. */
export function jsonBody(what: string, r: SendResult): unknown {
    try {
        return JSON.parse(r.bodyText) as unknown;
    } catch {
        throw new ArmError(`${what}: response is not JSON`, true, r.status);
    }
}

/**
 * The `ArmError` of an unexpected answer, with the service's error code and message. 409 is transient
 * by default (a run in transition); `conflict: "permanent"` where a conflict is an answer that another
 * delivery would get again (starting a run that cannot start).
 */
export function armErrorFrom(
    what: string,
    r: SendResult,
    { conflict = "transient" }: { readonly conflict?: "transient" | "permanent" } = {},
): ArmError {
    let code: string | undefined;
    let message = "";
    try {
        const e = obj(obj(JSON.parse(r.bodyText)).error);
        code = str(e.code);
        message = str(e.message) ?? "";
    } catch {
        // not JSON
    }
    const transient =
        isTransientStatus(r.status) ||
        r.status === 401 ||
        r.status === 403 ||
        (r.status === 409 && conflict === "transient");
    const detail = [code, message.slice(0, 200)].filter((s) => s).join(": ");
    return new ArmError(`${what}: HTTP ${r.status}${detail ? ` ${detail}` : ""}`, transient, r.status, code);
}

/**
 * The primitives of the handler's ARM clients: one pipeline (bearer token for ARM, origin guard on
 * `baseUrl`), resource URLs, sending with the error model of this module, and paged LISTs.
 */
export abstract class ArmRequests {
    readonly baseUrl: string;
    private readonly transport: HttpTransport;
    protected readonly pollDelayMs: number;
    private readonly maxPages: number;

    constructor(options: ArmRequestsOptions) {
        this.baseUrl = (options.baseUrl ?? "https://management.azure.com").replace(/\/+$/, "");
        this.transport = createTransport({
            ...options,
            auth: { credential: options.credential, scope: ARM_SCOPE },
            allowedOrigins: [this.baseUrl],
        });
        this.pollDelayMs = options.pollDelayMs ?? 1000;
        this.maxPages = options.maxPages ?? 100;
    }

    protected url(id: string, apiVersion: string): string {
        return `${this.baseUrl}${id}?api-version=${encodeURIComponent(apiVersion)}`;
    }

    /** Sends and maps transport failures to a transient `ArmError`. */
    protected async call(
        what: string,
        url: string,
        o: CallOptions | undefined,
        init: { method?: "GET" | "PUT" | "PATCH" | "POST"; headers?: Record<string, string>; body?: string } = {},
    ): Promise<SendResult> {
        try {
            return await send(this.transport, url, { ...init, abortSignal: o?.abortSignal });
        } catch (e) {
            if (e instanceof ArmError) throw e;
            if (isTransportError(e) || isCredentialError(e) || o?.abortSignal?.aborted)
                throw new ArmError(
                    `${what}: ${describeError(e)}`,
                    true,
                    undefined,
                    isRestError(e) ? e.code : undefined,
                );
            throw new ArmError(`${what}: ${describeError(e)}`, false);
        }
    }

    /**
     * The items of a paged LIST (`value`, following `nextLink`; the origin guard refuses a nextLink to
     * another host), each page read as `LIST <label> (page N)`.
     */
    protected async *listItems(
        label: string,
        firstUrl: string,
        o: CallOptions | undefined,
        errorOptions?: Parameters<typeof armErrorFrom>[2],
    ): AsyncGenerator<unknown> {
        let url: string | undefined = firstUrl;
        for (let page = 0; url !== undefined; page++) {
            if (page >= this.maxPages) throw new ArmError(`LIST ${label}: more than ${this.maxPages} pages`, false);
            const what = `LIST ${label} (page ${page + 1})`;
            const r = await this.call(what, url, o);
            if (r.status !== 200) throw armErrorFrom(what, r, errorOptions);
            const body = obj(jsonBody(what, r));
            yield* arr(body.value);
            const next = str(body.nextLink);
            url = next !== undefined && next.length > 0 ? next : undefined;
        }
    }
}

export class ArmClient extends ArmRequests implements FleetApi {
    private readonly fleetApiVersion: string;
    private readonly clusterApiVersion: string;
    private readonly maxPollDelayMs: number;

    constructor(options: ArmClientOptions) {
        super(options);
        this.fleetApiVersion = options.fleetApiVersion ?? FLEET_API_VERSION;
        this.clusterApiVersion = options.clusterApiVersion ?? MANAGED_CLUSTER_API_VERSION;
        this.maxPollDelayMs = options.maxPollDelayMs ?? 5000;
    }

    private gateFrom(what: string, r: SendResult): GateSnapshot {
        const p = parseGateResource(jsonBody(what, r));
        if (!p.ok) throw new ArmError(`${what}: unexpected gate resource: ${p.reason}`, false, r.status);
        const header = r.headers.get("etag");
        const eTag = p.eTag ?? header;
        return {
            view: p.view,
            ...(eTag !== undefined ? { eTag } : {}),
            ...(p.createdAt !== undefined ? { createdAt: p.createdAt } : {}),
        };
    }

    async getGate(gateId: string, o?: CallOptions): Promise<GateSnapshot | undefined> {
        const what = `GET gate ${gateId}`;
        const r = await this.call(what, this.url(gateId, this.fleetApiVersion), o);
        if (r.status === 404) return undefined;
        if (r.status !== 200) throw armErrorFrom(what, r);
        return this.gateFrom(what, r);
    }

    async listGates(fleet: FleetRef, o?: CallOptions): Promise<{ gates: GateSnapshot[]; invalid: string[] }> {
        const gates: GateSnapshot[] = [];
        const invalid: string[] = [];
        const first = this.url(`${formatFleetId(fleet)}/gates`, this.fleetApiVersion);
        for await (const item of this.listItems("gates", first, o)) {
            const p = parseGateResource(item);
            if (p.ok)
                gates.push({
                    view: p.view,
                    ...(p.eTag !== undefined ? { eTag: p.eTag } : {}),
                    ...(p.createdAt !== undefined ? { createdAt: p.createdAt } : {}),
                });
            else invalid.push(p.reason);
        }
        return { gates, invalid };
    }

    async patchGateState(
        gateId: string,
        state: "Completed",
        eTag: string | undefined,
        o?: CallOptions,
    ): Promise<PatchResult> {
        const what = `PATCH gate ${gateId}`;
        const headers: Record<string, string> = {};
        if (eTag !== undefined) headers["If-Match"] = eTag;
        const r = await this.call(what, this.url(gateId, this.fleetApiVersion), o, {
            method: "PATCH",
            headers,
            body: JSON.stringify({ properties: { state } }),
        });
        if (r.status === 412) return { kind: "precondition-failed" };
        if (r.status === 404) return { kind: "not-found" };
        if (r.status === 200) return { kind: "done", gate: this.gateFrom(what, r) };
        if (r.status === 202) return this.pollLro(gateId, r, o);
        throw armErrorFrom(what, r);
    }

    /**
     * Follows a 202: poll `Location` (final-state-via: location) until 200, honouring Retry-After. A poll
     * answered 403 or 404 falls back to reading the gate until it shows the new state.
     */
    private async pollLro(gateId: string, accepted: SendResult, o?: CallOptions): Promise<PatchResult> {
        let location = accepted.headers.get("location");
        let delay = retryAfterMs(accepted) ?? this.pollDelayMs;
        for (;;) {
            await sleep(Math.min(delay, this.maxPollDelayMs), o?.abortSignal);
            if (location === undefined) {
                // No Location: read the gate until it shows the new state.
                const g = await this.getGate(gateId, o);
                if (g === undefined) return { kind: "not-found" };
                if (g.view.state === "Completed") return { kind: "done", gate: g };
                delay = this.pollDelayMs;
                continue;
            }
            const what = `poll PATCH of gate ${gateId}`;
            const r = await this.call(what, location, o);
            if (r.status === 202) {
                delay = retryAfterMs(r) ?? this.pollDelayMs;
                location = r.headers.get("location") ?? location;
                continue;
            }
            if (r.status === 200) {
                try {
                    const g = this.gateFrom(what, r);
                    return { kind: "done", gate: g };
                } catch {
                    // An operation status body rather than the gate: done, state not shown.
                    return { kind: "done" };
                }
            }
            if (r.status === 204) return { kind: "done" };
            if (r.status === 403 || r.status === 404) {
                // The operation sits at subscription scope (`.../locations/{region}/operationresults/...`), where a
                // role held at the fleet may not reach (403), or it may be gone (404): read the gate instead.
                location = undefined;
                delay = 0;
                continue;
            }
            throw armErrorFrom(what, r);
        }
    }

    async getUpdateRun(updateRunId: string, o?: CallOptions): Promise<UpdateRunStatus | undefined> {
        const what = `GET update run ${updateRunId}`;
        const r = await this.call(what, this.url(updateRunId, this.fleetApiVersion), o);
        if (r.status === 404) return undefined;
        if (r.status !== 200) throw armErrorFrom(what, r);
        return parseUpdateRunStatus(updateRunId, jsonBody(what, r));
    }

    async getManagedCluster(clusterId: string, o?: CallOptions): Promise<ManagedClusterStatus | undefined> {
        const what = `GET managed cluster ${clusterId}`;
        const parsed = parseArmId(clusterId);
        if (!isType(parsed, "Microsoft.ContainerService", ["managedClusters"]))
            throw new ArmError(`${what}: not a managed cluster id`, false);
        const r = await this.call(what, this.url(clusterId, this.clusterApiVersion), o);
        if (r.status === 404) return undefined;
        if (r.status !== 200) throw armErrorFrom(what, r);
        const body = obj(jsonBody(what, r));
        const props = obj(body.properties);
        const provisioningState = str(props.provisioningState);
        const powerState = str(obj(props.powerState).code);
        const location = str(body.location);
        return {
            id: clusterId,
            ...(provisioningState !== undefined ? { provisioningState } : {}),
            ...(powerState !== undefined ? { powerState } : {}),
            ...(location !== undefined ? { location } : {}),
        };
    }
}
