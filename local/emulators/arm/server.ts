/**
 * A loopback emulation of the part of Azure Resource Manager (and of the Azure Monitor metrics
 * batch data plane) that the gate handler calls, so the real handler code, with its
 * `@azure/core-rest-pipeline` retry, throttling and bearer-token policies, is exercised over real
 * HTTP. This file is the HTTP server: it routes each request (`routes.ts`), applies injected faults
 * (`../faults.ts`) and bearer-token checks, and sends what the resource family's route answers
 * (`gates.ts`, `update-runs.ts`, `clusters.ts`, `metrics.ts`). Every request is logged in memory
 * (never to stdout); the server stays fast enough for the handler benchmark (thousands of requests/s).
 */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import { type Server as HttpsServer, createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { seededRng } from "../../simulate/rng";
import { breakConnection, FaultList } from "../faults";
import { loopbackCertificate, type LoopbackCertificate } from "../tls";
import { addMember, getCluster, setMember } from "./clusters";
import { addGate, copyGate, getGate, getOperation, listGates, patchGate, removeGate, setGateState } from "./gates";
import type { AddGateSpec } from "./gates";
import {
    armError,
    checkAnyApiVersion,
    checkFleetApiVersion,
    HttpError,
    MAX_URL_LENGTH,
    readJson,
    type Reply,
    type RouteRequest,
} from "./http";
import { metricsBatch, setMetric } from "./metrics";
import { matchRoute, pathProblem } from "./routes";
import { ArmStore } from "./store";
import {
    ROUTES,
    type ArmEmulatorOptions,
    type EmulatorGate,
    type Fault,
    type GateState,
    type MemberState,
    type RequestLogEntry,
    type Route,
    type UpdateRunSpec,
} from "./types";
import { createUpdateRun, listUpdateRuns, putUpdateStrategy, startUpdateRun, startedRuns } from "./update-run-writes";
import { deleteUpdateRun, getUpdateRun, putUpdateRun } from "./update-runs";

interface RequestContext {
    req: IncomingMessage;
    res: ServerResponse;
    entry: RequestLogEntry;
}

/** Per route: which api-version it takes, whether it reads a JSON body, and the resource family's answer. */
const ROUTE_HANDLERS: Record<
    Route,
    { readonly api: "fleet" | "any"; readonly body?: true; readonly handle: (s: ArmStore, q: RouteRequest) => Reply }
> = {
    "gates.get": { api: "fleet", handle: getGate },
    "gates.list": { api: "fleet", handle: listGates },
    "gates.patch": { api: "fleet", body: true, handle: patchGate },
    "operation.get": { api: "fleet", handle: getOperation },
    "updateRuns.get": { api: "fleet", handle: getUpdateRun },
    "updateRuns.list": { api: "fleet", handle: listUpdateRuns },
    "updateRuns.put": { api: "fleet", body: true, handle: createUpdateRun },
    "updateRuns.start": { api: "fleet", handle: startUpdateRun },
    "clusters.get": { api: "any", handle: getCluster },
    "metrics.batch": { api: "any", body: true, handle: metricsBatch },
};

/** The injected HTTP faults' answers (resets and stalls act on the socket instead). */
const FAULT_ERRORS: Record<"403" | "404" | "429" | "500" | "503", { status: number; code: string; message: string }> = {
    "403": {
        status: 403,
        code: "AuthorizationFailed",
        message: "The client does not have authorization to perform this action over this scope (injected fault).",
    },
    "404": { status: 404, code: "NotFound", message: "The resource was not found (injected fault)." },
    "429": { status: 429, code: "TooManyRequests", message: "The request is being throttled (injected fault)." },
    "500": { status: 500, code: "InternalServerError", message: "An internal error occurred (injected fault)." },
    "503": {
        status: 503,
        code: "ServiceUnavailable",
        message: "The service is temporarily unavailable (injected fault).",
    },
};

export class ArmEmulator {
    /** Starts an emulator on 127.0.0.1 with an ephemeral port. */
    static async start(options: ArmEmulatorOptions = {}): Promise<ArmEmulator> {
        const credentials = options.tls ? (options.certificate ?? (await loopbackCertificate())) : undefined;
        const emu = new ArmEmulator(options, credentials);
        await emu.listen();
        return emu;
    }

    private readonly server: Server | HttpsServer;
    private readonly sockets = new Set<Socket>();
    private readonly timers = new Set<NodeJS.Timeout>();
    private readonly requireAuth: boolean;
    private readonly latencyMs: number;
    private readonly maxLogEntries: number;
    private readonly store: ArmStore;
    private readonly faults: FaultList<Route>;
    private port = 0;
    private stopped = false;
    private scheme: "http" | "https" = "http";
    /** With `tls: true`: the PEM certificate of the server, to trust as a CA. */
    readonly ca: string | undefined;
    private log: RequestLogEntry[] = [];

    private constructor(options: ArmEmulatorOptions, credentials: LoopbackCertificate | undefined) {
        const pageSize = options.pageSize ?? 50;
        if (!Number.isInteger(pageSize) || pageSize < 1) throw new Error("pageSize must be a positive integer");
        this.store = new ArmStore({
            pageSize,
            patchMode: options.patchMode ?? "sync",
            location: options.location ?? "westeurope",
            clock: options.clock ?? Date.now,
        });
        this.requireAuth = options.requireAuth ?? true;
        this.latencyMs = Math.max(0, options.latencyMs ?? 0);
        this.maxLogEntries = options.maxLogEntries ?? Infinity;
        this.faults = new FaultList(ROUTES, seededRng(options.seed ?? 1));
        const onRequest = (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res);
        if (credentials) {
            this.ca = credentials.cert;
            this.scheme = "https";
            this.server = createHttpsServer(
                { keepAlive: true, key: credentials.key, cert: credentials.cert },
                onRequest,
            );
        } else {
            this.server = createServer({ keepAlive: true }, onRequest);
        }
        this.server.keepAliveTimeout = 10_000;
        this.server.on("connection", (socket: Socket) => {
            this.sockets.add(socket);
            socket.on("close", () => this.sockets.delete(socket));
        });
    }

    private listen(): Promise<void> {
        return new Promise((resolve, reject) => {
            this.server.once("error", reject);
            this.server.listen(0, "127.0.0.1", () => {
                this.server.off("error", reject);
                this.port = (this.server.address() as AddressInfo).port;
                resolve();
            });
        });
    }

    /** `http://127.0.0.1:<port>` (`https://` with `tls: true`) */
    get url(): string {
        return `${this.scheme}://127.0.0.1:${this.port}`;
    }

    /** Closes the server and every connection, stalled ones included. */
    async stop(): Promise<void> {
        if (this.stopped) return;
        this.stopped = true;
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
        this.server.closeAllConnections();
        for (const s of this.sockets) s.destroy();
        await closed;
    }

    // ----- seeding and changing resources (see each family's file) -----------------------------

    /** Registers an empty fleet (lists then answer `{ value: [] }` instead of 404). Returns its canonical id. */
    addFleet(fleetId: string): string {
        return this.store.fleetRecord(fleetId).id;
    }

    /** Adds a gate; its id is derived from `fleetId` and `name` (a lower-case GUID, as the service issues). */
    addGate(gate: AddGateSpec): EmulatorGate {
        return addGate(this.store, gate);
    }

    /** Case-insensitive id lookup; a snapshot. */
    gate(id: string): EmulatorGate | undefined {
        const r = this.store.gateIndex.get(id.toLowerCase());
        return r ? copyGate(r.gate) : undefined;
    }

    /** Every gate of every fleet, in insertion order (snapshots). */
    gates(): EmulatorGate[] {
        return [...this.store.gateIndex.values()].map((r) => copyGate(r.gate));
    }

    /** Sets a gate's state as a person in the portal would; always a write, so the eTag changes. */
    setGateState(id: string, state: GateState): EmulatorGate {
        return setGateState(this.store, id, state);
    }

    /** Removes a gate (as deleting its update run would); later requests for it answer 404. */
    removeGate(id: string): boolean {
        return removeGate(this.store, id);
    }

    /** Adds (or replaces) a fleet member; its managed cluster is served at `clusterResourceId`. */
    addMember(fleetId: string, member: MemberState): void {
        addMember(this.store, fleetId, member);
    }

    /** Changes a member (e.g. its upgrade failing, its cluster stopping). */
    setMember(name: string, patch: Partial<MemberState>): void {
        setMember(this.store, name, patch);
    }

    /** Serves `GET {fleetId}/updateRuns/{name}`; status is built per request from the spec, member states and gate states. */
    putUpdateRun(spec: UpdateRunSpec): void {
        putUpdateRun(this.store, spec);
    }

    /** An update strategy runs can be created from (`PUT …/updateRuns/{run}` with its `updateStrategyId`); returns its id. */
    putUpdateStrategy(fleetId: string, name: string, stages: UpdateRunSpec["stages"]): string {
        return putUpdateStrategy(this.store, fleetId, name, stages);
    }

    /** Runs started through `POST …/start`, in order: `[fleetId, name]`. */
    startedRuns(): [string, string][] {
        return startedRuns(this.store);
    }

    /** Deletes an update run and, as the service does, every gate targeting it. */
    deleteUpdateRun(fleetId: string, name: string): boolean {
        return deleteUpdateRun(this.store, fleetId, name);
    }

    /** The value `metrics.batch` serves for every aggregation of `metric` on that resource; null = no data. */
    setMetric(clusterResourceId: string, metric: string, value: number | null): void {
        setMetric(this.store, clusterResourceId, metric, value);
    }

    // ----- faults and log ---------------------------------------------------------------------

    /** Adds a fault; returns a function that removes it. */
    inject(fault: Fault): () => void {
        return this.faults.inject(fault);
    }

    clearFaults(): void {
        this.faults.clear();
    }

    /** Every request, in arrival order. */
    get requests(): readonly RequestLogEntry[] {
        return this.log;
    }

    resetLog(): void {
        this.log = [];
    }

    /** Successful PATCHes that changed a gate's state. */
    get patchCount(): number {
        return this.store.patches;
    }

    // ----- request handling -------------------------------------------------------------------

    private onRequest(req: IncomingMessage, res: ServerResponse): void {
        const rawUrl = req.url ?? "/";
        const q = rawUrl.indexOf("?");
        const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
        const query = q < 0 ? "" : rawUrl.slice(q + 1);
        const method = (req.method ?? "GET").toUpperCase();
        const auth = req.headers.authorization;
        const authorized = typeof auth === "string" && /^Bearer\s+\S/i.test(auth);
        const entry: RequestLogEntry = {
            method,
            path: path.length > MAX_URL_LENGTH ? `${path.slice(0, MAX_URL_LENGTH)}…` : path,
            query: query.length > MAX_URL_LENGTH ? `${query.slice(0, MAX_URL_LENGTH)}…` : query,
            route: "unknown",
            status: 0,
            at: Date.now(),
            authorized,
        };
        this.record(entry);
        const ctx: RequestContext = { req, res, entry };
        req.on("error", () => undefined);
        try {
            if (rawUrl.length > MAX_URL_LENGTH)
                throw new HttpError(400, "InvalidUrl", `The request URL is longer than ${MAX_URL_LENGTH} characters.`);
            const match = matchRoute(method, path.slice(1).split("/"));
            entry.route = match.route;
            if (this.applyFault(ctx, match.route)) return;
            if (this.requireAuth && !authorized)
                throw new HttpError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing or is not a Bearer token.",
                    { "WWW-Authenticate": "Bearer" },
                );
            const problem = pathProblem(path);
            if (problem) throw new HttpError(400, "InvalidUrl", problem);
            if (match.route === "unknown") {
                if (match.allow)
                    throw new HttpError(
                        405,
                        "MethodNotAllowed",
                        `The method '${method}' is not allowed on this resource.`,
                        {
                            Allow: match.allow.join(", "),
                        },
                    );
                throw new HttpError(404, "NotFound", "No route matches the request path.");
            }
            const params: Record<string, string> = {};
            for (const [k, v] of Object.entries(match.params)) params[k] = decodeURIComponent(v);
            const search = new URLSearchParams(query);
            this.dispatch(ctx, match.route, params, search).catch((err: unknown) => this.sendError(ctx, err));
        } catch (err) {
            this.sendError(ctx, err);
        }
    }

    private record(entry: RequestLogEntry): void {
        this.log.push(entry);
        if (this.log.length > this.maxLogEntries) this.log.splice(0, this.log.length - this.maxLogEntries);
    }

    /** True when a fault answered (or swallowed) the request. */
    private applyFault(ctx: RequestContext, route: Route | "unknown"): boolean {
        const fault = this.faults.take(route);
        if (!fault) return false;
        if (fault.kind === "reset" || fault.kind === "stall") {
            ctx.entry.status = fault.kind;
            breakConnection(ctx.req.socket, fault, this.timers);
            return true;
        }
        const e = FAULT_ERRORS[fault.kind];
        const headers: Record<string, string> =
            fault.kind === "500" ? {} : { "Retry-After": String(fault.retryAfterSeconds ?? 1) };
        this.sendError(ctx, new HttpError(e.status, e.code, e.message, headers));
        return true;
    }

    private async dispatch(ctx: RequestContext, route: Route, params: Record<string, string>, search: URLSearchParams) {
        const handler = ROUTE_HANDLERS[route];
        if (handler.api === "fleet") checkFleetApiVersion(search);
        else checkAnyApiVersion(search);
        const request: RouteRequest = {
            params,
            search,
            headers: ctx.req.headers,
            baseUrl: this.url,
            ...(handler.body ? { body: await readJson(ctx.req, ctx.res) } : {}),
        };
        const reply = handler.handle(this.store, request);
        this.send(ctx, reply.status, reply.body, reply.headers);
    }

    private sendError(ctx: RequestContext, err: unknown): void {
        if (err instanceof HttpError) {
            this.send(ctx, err.status, armError(err.code, err.message), err.headers);
        } else {
            this.send(
                ctx,
                500,
                armError("InternalServerError", `emulator error: ${(err as Error)?.message ?? String(err)}`),
            );
        }
    }

    private send(ctx: RequestContext, status: number, body: unknown, headers: Record<string, string> = {}): void {
        const { req, res, entry } = ctx;
        if (typeof entry.status !== "number" || entry.status !== 0) return; // answered (or reset) already
        entry.status = status;
        // A string body lets node write headers and body in one syscall.
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const out: Record<string, string | number> = {
            "x-ms-request-id": randomUUID(),
            ...headers,
            "Content-Length": payload === undefined ? 0 : Buffer.byteLength(payload, "utf8"),
        };
        const clientRequestId = req.headers["x-ms-client-request-id"];
        if (typeof clientRequestId === "string") out["x-ms-client-request-id"] = clientRequestId;
        if (payload !== undefined) out["Content-Type"] = "application/json; charset=utf-8";
        const write = () => {
            if (res.destroyed || res.writableEnded) return;
            res.writeHead(status, out);
            if (payload === undefined) res.end();
            else res.end(payload, "utf8");
        };
        if (this.latencyMs > 0) {
            const timer = setTimeout(() => {
                this.timers.delete(timer);
                write();
            }, this.latencyMs);
            this.timers.add(timer);
        } else {
            write();
        }
    }
}
