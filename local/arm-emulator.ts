/**
 * A loopback emulation of the part of Azure Resource Manager (and of the Azure Monitor metrics
 * batch data plane) that the gate handler calls, so the real handler code, with its
 * `@azure/core-rest-pipeline` retry, throttling and bearer-token policies, is exercised over real
 * HTTP. Shapes follow the Fleet 2026-06-01 OpenAPI document and its examples
 * (`shared/specs/containerservice-fleet/2026-06-01/`), and `@azure/monitor-query-metrics`'s
 * `MetricsClient.queryResources` for the metrics route.
 *
 * Faults (429/500/503 with Retry-After, connection resets, stalls) are injected per route, in
 * insertion order, optionally with a seeded probability. Every request is logged in memory (never
 * to stdout); the server stays fast enough for the handler benchmark (thousands of requests/s).
 */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import { type Server as HttpsServer, createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import {
    ArmIdError,
    GATE_NAME_PATTERN,
    eq,
    fleetId as formatFleetId,
    gateId as formatGateId,
    isType,
    parseArmId,
    parseFleetId,
    parseUpdateRunId,
    sameArmId,
    sameFleet,
    updateRunId as formatUpdateRunId,
} from "../core/arm-id";
import { seededRng } from "./rng";
import { loopbackCertificate, type LoopbackCertificate } from "./tls";

export const FLEET_API_VERSION = "2026-06-01";

export type FaultKind = "403" | "404" | "429" | "500" | "503" | "reset" | "stall";
export type Route =
    "gates.get" | "gates.list" | "gates.patch" | "operation.get" | "updateRuns.get" | "clusters.get" | "metrics.batch";

export interface Fault {
    route: Route | "*";
    kind: FaultKind;
    /** Inject this many times; default Infinity. */
    times?: number;
    /** 0..1, default 1; drawn from the emulator's seeded PRNG. */
    probability?: number;
    /** For 429/503: the Retry-After header, default 1. */
    retryAfterSeconds?: number;
    /** For stall: hold the response this long, then reset the connection; default 60000. */
    stallMs?: number;
}

export interface RequestLogEntry {
    method: string;
    path: string;
    query: string;
    route: Route | "unknown";
    status: number | "reset" | "stall";
    at: number;
    authorized: boolean;
}

export type GateState = "Pending" | "Skipped" | "Completed";

export interface EmulatorGate {
    id: string;
    name: string;
    displayName?: string;
    gateType: "Approval";
    state: GateState;
    eTag: string;
    target: {
        id: string;
        updateRunProperties: { name: string; stage?: string; group?: string; timing: "Before" | "After" };
    };
}

/** `UpdateState` of the 2026-06-01 spec (update runs, stages, groups, members, gates in a run). */
export type UpdateState =
    "NotStarted" | "Running" | "Stopping" | "Stopped" | "Skipped" | "Failed" | "Pending" | "Completed";

export interface MemberState {
    name: string;
    clusterResourceId: string;
    group: string;
    updateState: "NotStarted" | "Running" | "Completed" | "Failed" | "Skipped" | "Stopped" | "Pending";
    /** Of the managed cluster; default "Succeeded". */
    provisioningState?: "Succeeded" | "Failed" | "Updating" | "Creating";
    /** Of the managed cluster; default "Running". */
    powerState?: "Running" | "Stopped";
    /** Served as the cluster's `kubernetesVersion`; default "1.33.0". */
    kubernetesVersion?: string;
    /** Served as the cluster's `location` and the metrics `resourceregion`; default the emulator's location. */
    location?: string;
}

/** A gate placement in a strategy (`GateConfiguration`). */
export interface GateConfigSpec {
    displayName?: string;
    type?: "Approval";
}

export interface UpdateRunSpec {
    fleetId: string;
    name: string;
    /** Overrides the run state derived from its stages. */
    state?: UpdateState;
    /** Served as `properties.managedClusterUpdate`; default `{ upgrade: { type: "NodeImageOnly" }, nodeImageSelection: { type: "Latest" } }`. */
    managedClusterUpdate?: Record<string, unknown>;
    stages: {
        name: string;
        /** Overrides the stage state derived from its gates and groups. */
        state?: UpdateState;
        groups: {
            name: string;
            /** Overrides the group state derived from its gates and members. */
            state?: UpdateState;
            /** Member names (each added with `addMember` to the same fleet). */
            members: string[];
            beforeGates?: GateConfigSpec[];
            afterGates?: GateConfigSpec[];
        }[];
        beforeGates?: GateConfigSpec[];
        afterGates?: GateConfigSpec[];
        afterStageWaitInSeconds?: number;
    }[];
}

export interface ArmEmulatorOptions {
    /** Gates list page size; default 50. */
    pageSize?: number;
    /** "sync" (default): PATCH answers 200 with the gate. "async": 202 + Location + Retry-After: 0; the operation completes on the first poll. */
    patchMode?: "sync" | "async";
    /** Seed of the PRNG used for fault probabilities; default 1. */
    seed?: number;
    /** Default true: 401 without `Authorization: Bearer <anything>`. */
    requireAuth?: boolean;
    /** Added to every answer; default 0. */
    latencyMs?: number;
    /** Azure region used in operation Locations and as the default cluster location; default "westeurope". */
    location?: string;
    /** Keep at most this many log entries (oldest dropped); default Infinity. */
    maxLogEntries?: number;
    /**
     * The resources' clock (ms since the epoch) for `systemData` timestamps; default the real clock.
     * The rehearsal passes its virtual clock, so a gate's age is virtual time too.
     */
    clock?: () => number;
    /**
     * Default false. True: serve HTTPS with the process's self-signed loopback certificate (`url` is then
     * `https://…`, trust it with `ca`). The handler needs this: `@azure/core-rest-pipeline`'s bearer-token
     * policy sends tokens over TLS only (e.g. `createTransport({ tlsCa: emulator.ca })`).
     */
    tls?: boolean;
}

const GATE_TYPE = "Microsoft.ContainerService/fleets/gates";
const UPDATE_RUN_TYPE = "Microsoft.ContainerService/fleets/updateRuns";
const CONTAINER_SERVICE = "Microsoft.ContainerService";
const MAX_URL_LENGTH = 4096;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_METRIC_RESOURCES = 50;
const GATE_STATES: readonly GateState[] = ["Pending", "Skipped", "Completed"];
const UPDATE_STATES: readonly UpdateState[] = [
    "NotStarted",
    "Running",
    "Stopping",
    "Stopped",
    "Skipped",
    "Failed",
    "Pending",
    "Completed",
];
const FAULT_KINDS: readonly FaultKind[] = ["403", "404", "429", "500", "503", "reset", "stall"];
const ROUTES: readonly Route[] = [
    "gates.get",
    "gates.list",
    "gates.patch",
    "operation.get",
    "updateRuns.get",
    "clusters.get",
    "metrics.batch",
];
const AGGREGATIONS = ["average", "minimum", "maximum", "total", "count"] as const;
type Aggregation = (typeof AGGREGATIONS)[number];

// ---------------------------------------------------------------------------------------------
// Routing

interface RouteTemplate {
    readonly route: Route;
    readonly method: string;
    /** Lower-case literals, or `:name` parameters (one non-empty path segment). */
    readonly parts: readonly string[];
}

const FLEET_PREFIX = [
    "subscriptions",
    ":sub",
    "resourcegroups",
    ":rg",
    "providers",
    "microsoft.containerservice",
    "fleets",
    ":fleet",
];

const TEMPLATES: readonly RouteTemplate[] = [
    { route: "gates.list", method: "GET", parts: [...FLEET_PREFIX, "gates"] },
    { route: "gates.get", method: "GET", parts: [...FLEET_PREFIX, "gates", ":gate"] },
    { route: "gates.patch", method: "PATCH", parts: [...FLEET_PREFIX, "gates", ":gate"] },
    { route: "updateRuns.get", method: "GET", parts: [...FLEET_PREFIX, "updateruns", ":run"] },
    {
        route: "clusters.get",
        method: "GET",
        parts: [
            "subscriptions",
            ":sub",
            "resourcegroups",
            ":rg",
            "providers",
            "microsoft.containerservice",
            "managedclusters",
            ":cluster",
        ],
    },
    {
        route: "operation.get",
        method: "GET",
        parts: [
            "subscriptions",
            ":sub",
            "providers",
            "microsoft.containerservice",
            "locations",
            ":loc",
            "operationresults",
            ":op",
        ],
    },
    { route: "metrics.batch", method: "POST", parts: ["subscriptions", ":sub", "metrics:getbatch"] },
];

interface RouteMatch {
    readonly route: Route | "unknown";
    /** Raw (still percent-encoded) parameter segments. */
    readonly params: Record<string, string>;
    /** Methods allowed on the path when the path matched but the method did not. */
    readonly allow?: string[];
}

function matchRoute(method: string, segments: readonly string[]): RouteMatch {
    let allow: string[] | undefined;
    for (const t of TEMPLATES) {
        if (t.parts.length !== segments.length) continue;
        const params: Record<string, string> = {};
        let ok = true;
        for (let i = 0; i < t.parts.length; i++) {
            const part = t.parts[i]!;
            const seg = segments[i]!;
            if (part.startsWith(":")) {
                if (seg.length === 0) {
                    ok = false;
                    break;
                }
                params[part.slice(1)] = seg;
            } else if (literal(seg) !== part) {
                ok = false;
                break;
            }
        }
        if (!ok) continue;
        if (t.method === method) return { route: t.route, params };
        (allow ??= []).push(t.method);
    }
    return { route: "unknown", params: {}, allow };
}

/** A literal path segment for comparison: decoded (when decodable) and lower-cased. */
function literal(seg: string): string {
    if (!seg.includes("%")) return seg.toLowerCase();
    try {
        return decodeURIComponent(seg).toLowerCase();
    } catch {
        return seg.toLowerCase();
    }
}

/** Rejects traversal, encoded separators, control characters and undecodable escapes. */
function pathProblem(path: string): string | undefined {
    if (!path.startsWith("/")) return "the path must start with '/'";
    if (/%(2f|5c|00)/i.test(path)) return "encoded separators are not allowed in the path";
    if (path.includes("\\")) return "backslashes are not allowed in the path";
    if (!path.includes("%")) {
        // Fast path: nothing to decode (node's parser already refused raw control characters).
        return /\/\.\.?(\/|$)/.test(path) ? "traversal segments are not allowed in the path" : undefined;
    }
    for (const seg of path.slice(1).split("/")) {
        let decoded: string;
        try {
            decoded = decodeURIComponent(seg);
        } catch {
            return "the path contains an invalid escape sequence";
        }
        if (decoded === "." || decoded === "..") return "traversal segments are not allowed in the path";
        if (/[\u0000-\u001f\u007f]/.test(decoded)) return "control characters are not allowed in the path";
    }
    return undefined;
}

// ---------------------------------------------------------------------------------------------
// Helpers

class HttpError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
        readonly headers: Record<string, string> = {},
    ) {
        super(message);
    }
}

function armError(code: string, message: string): { error: { code: string; message: string } } {
    return { error: { code, message } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unquoteEtag(tag: string): string {
    let t = tag.trim();
    if (t.startsWith("W/")) t = t.slice(2);
    if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1);
    return t;
}

function quoteEtag(tag: string): string {
    return tag.startsWith('"') && tag.endsWith('"') && tag.length >= 2 ? tag : `"${tag}"`;
}

/** RFC 7232 list match: `*` matches any existing entity, otherwise a comma-separated list of tags. */
function etagListMatches(header: string, current: string): boolean {
    const want = unquoteEtag(current);
    return header.split(",").some((t) => t.trim() === "*" || unquoteEtag(t) === want);
}

function decodeParam(raw: string): string {
    return decodeURIComponent(raw);
}

function copyGate(g: EmulatorGate): EmulatorGate {
    const out: EmulatorGate = {
        id: g.id,
        name: g.name,
        gateType: g.gateType,
        state: g.state,
        eTag: g.eTag,
        target: { id: g.target.id, updateRunProperties: { ...g.target.updateRunProperties } },
    };
    if (g.displayName !== undefined) out.displayName = g.displayName;
    return out;
}

function isTerminal(s: UpdateState): boolean {
    return s === "Completed" || s === "Skipped";
}

function deriveGroupState(members: UpdateState[], before: UpdateState[], after: UpdateState[]): UpdateState {
    for (const bad of ["Failed", "Stopped", "Stopping"] as const) if (members.includes(bad)) return bad;
    if (members.every(isTerminal)) {
        if (after.includes("Pending")) return "Pending";
        if (!after.every(isTerminal)) return "Running";
        if (members.length > 0 && members.every((s) => s === "Skipped")) return "Skipped";
        if (members.length === 0 && !before.every(isTerminal))
            return before.includes("Pending") ? "Pending" : "NotStarted";
        return "Completed";
    }
    if (members.every((s) => s === "NotStarted")) {
        if (before.includes("Pending")) return "Pending";
        if (before.length > 0 && before.every(isTerminal)) return "Running";
        return "NotStarted";
    }
    return "Running";
}

function deriveStageState(groups: UpdateState[], before: UpdateState[], after: UpdateState[]): UpdateState {
    for (const bad of ["Failed", "Stopped", "Stopping"] as const) if (groups.includes(bad)) return bad;
    if (groups.length > 0 && groups.every(isTerminal)) {
        if (after.includes("Pending")) return "Pending";
        if (!after.every(isTerminal)) return "Running";
        return groups.every((s) => s === "Skipped") ? "Skipped" : "Completed";
    }
    if (groups.every((s) => s === "NotStarted")) {
        if (before.includes("Pending")) return "Pending";
        if (before.length > 0 && before.every(isTerminal)) return "Running";
        return "NotStarted";
    }
    return "Running";
}

function deriveRunState(stages: UpdateState[]): UpdateState {
    for (const bad of ["Failed", "Stopped", "Stopping"] as const) if (stages.includes(bad)) return bad;
    const first = stages.findIndex((s) => !isTerminal(s));
    if (first < 0) return "Completed";
    const s = stages[first]!;
    if (s === "Pending") return "Pending";
    if (s === "NotStarted") return first === 0 ? "NotStarted" : "Running";
    return "Running";
}

// ---------------------------------------------------------------------------------------------
// State

interface GateRecord {
    gate: EmulatorGate;
    fleetKey: string;
    createdAt: string;
    lastModifiedAt: string;
    lastModifiedBy: string;
    lastModifiedByType: string;
}

interface RunRecord {
    id: string;
    spec: UpdateRunSpec;
    eTag: string;
    createdAt: string;
    lastModifiedAt: string;
}

interface MemberRecord {
    fleetKey: string;
    state: MemberState;
}

interface FleetRecord {
    id: string;
    subscriptionId: string;
    /** Lower-case gate name → record, in insertion order. */
    gates: Map<string, GateRecord>;
    /** Lower-case run name → record. */
    runs: Map<string, RunRecord>;
}

interface OperationRecord {
    gateKey: string;
    subscriptionId: string;
}

interface FaultRecord {
    fault: Fault;
    remaining: number;
}

interface RequestContext {
    req: IncomingMessage;
    res: ServerResponse;
    entry: RequestLogEntry;
}

// ---------------------------------------------------------------------------------------------

export class ArmEmulator {
    /** Starts an emulator on 127.0.0.1 with an ephemeral port. */
    static async start(options: ArmEmulatorOptions = {}): Promise<ArmEmulator> {
        const emu = new ArmEmulator(options, options.tls ? await loopbackCertificate() : undefined);
        await emu.listen();
        return emu;
    }

    private readonly server: Server | HttpsServer;
    private readonly sockets = new Set<Socket>();
    private readonly timers = new Set<NodeJS.Timeout>();
    private readonly pageSize: number;
    private readonly patchMode: "sync" | "async";
    private readonly requireAuth: boolean;
    private readonly latencyMs: number;
    private readonly location: string;
    private readonly maxLogEntries: number;
    private readonly clock: () => number;
    private readonly random: () => number;
    private port = 0;
    private stopped = false;
    private scheme: "http" | "https" = "http";
    /** With `tls: true`: the PEM certificate of the server, to trust as a CA. */
    readonly ca: string | undefined;

    private readonly fleets = new Map<string, FleetRecord>();
    private readonly gateIndex = new Map<string, GateRecord>();
    private readonly members = new Map<string, MemberRecord>();
    private readonly clusters = new Map<string, string>();
    private readonly metrics = new Map<string, Map<string, number | null>>();
    private readonly operations = new Map<string, OperationRecord>();
    private faults: FaultRecord[] = [];
    private log: RequestLogEntry[] = [];
    private etagSeq = 0;
    private opSeq = 0;
    private patches = 0;

    private constructor(options: ArmEmulatorOptions, credentials: LoopbackCertificate | undefined) {
        this.pageSize = options.pageSize ?? 50;
        if (!Number.isInteger(this.pageSize) || this.pageSize < 1)
            throw new Error("pageSize must be a positive integer");
        this.patchMode = options.patchMode ?? "sync";
        this.requireAuth = options.requireAuth ?? true;
        this.latencyMs = Math.max(0, options.latencyMs ?? 0);
        this.location = options.location ?? "westeurope";
        this.maxLogEntries = options.maxLogEntries ?? Infinity;
        this.clock = options.clock ?? Date.now;
        this.random = seededRng(options.seed ?? 1);
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

    // ----- fleets and gates -------------------------------------------------------------------

    /** Registers an empty fleet (lists then answer `{ value: [] }` instead of 404). Returns its canonical id. */
    addFleet(fleetId: string): string {
        return this.fleetRecord(fleetId).id;
    }

    /** Adds a gate; its id is derived from `fleetId` and `name` (a lower-case GUID, as the service issues). */
    addGate(gate: Omit<EmulatorGate, "eTag" | "id"> & { fleetId: string; eTag?: string }): EmulatorGate {
        const fleet = this.fleetRecord(gate.fleetId);
        if (!GATE_NAME_PATTERN.test(gate.name))
            throw new Error(`gate name ${JSON.stringify(gate.name)} is not a lower-case GUID`);
        if (fleet.gates.has(gate.name.toLowerCase()))
            throw new Error(`gate ${gate.name} already exists in ${fleet.id}`);
        if (!GATE_STATES.includes(gate.state)) throw new Error(`invalid gate state ${JSON.stringify(gate.state)}`);
        if (gate.gateType !== "Approval") throw new Error(`invalid gate type ${JSON.stringify(gate.gateType)}`);
        const run = parseUpdateRunId(gate.target.id);
        const ref = parseFleetId(fleet.id);
        if (!sameFleet(run, ref)) throw new Error(`gate target ${gate.target.id} is not an update run of ${fleet.id}`);
        const props = gate.target.updateRunProperties;
        if (!eq(props.name, run.updateRunName))
            throw new Error(`gate target name ${JSON.stringify(props.name)} does not match ${gate.target.id}`);
        if (props.timing !== "Before" && props.timing !== "After")
            throw new Error(`invalid gate timing ${JSON.stringify(props.timing)}`);
        const id = formatGateId({ ...ref, gateName: gate.name });
        const stored: EmulatorGate = {
            id,
            name: gate.name,
            gateType: "Approval",
            state: gate.state,
            eTag: gate.eTag ?? this.nextEtag(),
            target: { id: gate.target.id, updateRunProperties: { ...props } },
        };
        if (gate.displayName !== undefined) stored.displayName = gate.displayName;
        const now = new Date(this.clock()).toISOString();
        const record: GateRecord = {
            gate: stored,
            fleetKey: fleet.id.toLowerCase(),
            createdAt: now,
            lastModifiedAt: now,
            lastModifiedBy: CONTAINER_SERVICE,
            lastModifiedByType: "Application",
        };
        fleet.gates.set(gate.name.toLowerCase(), record);
        this.gateIndex.set(id.toLowerCase(), record);
        return copyGate(stored);
    }

    /** Case-insensitive id lookup; a snapshot. */
    gate(id: string): EmulatorGate | undefined {
        const r = this.gateIndex.get(id.toLowerCase());
        return r ? copyGate(r.gate) : undefined;
    }

    /** Every gate of every fleet, in insertion order (snapshots). */
    gates(): EmulatorGate[] {
        return [...this.gateIndex.values()].map((r) => copyGate(r.gate));
    }

    /** Sets a gate's state as a person in the portal would; always a write, so the eTag changes. */
    setGateState(id: string, state: GateState): EmulatorGate {
        const r = this.gateIndex.get(id.toLowerCase());
        if (!r) throw new Error(`unknown gate ${id}`);
        if (!GATE_STATES.includes(state)) throw new Error(`invalid gate state ${JSON.stringify(state)}`);
        r.gate.state = state;
        r.gate.eTag = this.nextEtag();
        r.lastModifiedAt = new Date(this.clock()).toISOString();
        r.lastModifiedBy = "approver@contoso.com";
        r.lastModifiedByType = "User";
        return copyGate(r.gate);
    }

    /** Removes a gate (as deleting its update run would); later requests for it answer 404. */
    removeGate(id: string): boolean {
        const key = id.toLowerCase();
        const r = this.gateIndex.get(key);
        if (!r) return false;
        this.gateIndex.delete(key);
        this.fleets.get(r.fleetKey)?.gates.delete(r.gate.name.toLowerCase());
        return true;
    }

    // ----- members, clusters, update runs, metrics --------------------------------------------

    /** Adds (or replaces) a fleet member; its managed cluster is served at `clusterResourceId`. */
    addMember(fleetId: string, member: MemberState): void {
        const fleet = this.fleetRecord(fleetId);
        const fleetKey = fleet.id.toLowerCase();
        const key = member.name.toLowerCase();
        const existing = this.members.get(key);
        if (existing && existing.fleetKey !== fleetKey)
            throw new Error(`member ${member.name} already exists in another fleet (${existing.fleetKey})`);
        this.checkCluster(member.clusterResourceId, key);
        if (existing) this.clusters.delete(existing.state.clusterResourceId.toLowerCase());
        this.members.set(key, { fleetKey, state: { ...member } });
        this.clusters.set(member.clusterResourceId.toLowerCase(), key);
    }

    /** Changes a member (e.g. its upgrade failing, its cluster stopping). */
    setMember(name: string, patch: Partial<MemberState>): void {
        const key = name.toLowerCase();
        const m = this.members.get(key);
        if (!m) throw new Error(`unknown member ${name}`);
        if (patch.name !== undefined && patch.name.toLowerCase() !== key)
            throw new Error("a member cannot be renamed; add a new member instead");
        if (patch.clusterResourceId !== undefined && !sameArmId(patch.clusterResourceId, m.state.clusterResourceId)) {
            this.checkCluster(patch.clusterResourceId, key);
            this.clusters.delete(m.state.clusterResourceId.toLowerCase());
            this.clusters.set(patch.clusterResourceId.toLowerCase(), key);
        }
        m.state = { ...m.state, ...patch };
    }

    private checkCluster(clusterResourceId: string, memberKey: string): void {
        const p = parseArmId(clusterResourceId);
        if (!isType(p, CONTAINER_SERVICE, ["managedClusters"]))
            throw new Error(`${clusterResourceId} is not a Microsoft.ContainerService/managedClusters id`);
        const owner = this.clusters.get(clusterResourceId.toLowerCase());
        if (owner !== undefined && owner !== memberKey)
            throw new Error(`cluster ${clusterResourceId} already belongs to member ${owner}`);
    }

    /** Serves `GET {fleetId}/updateRuns/{name}`; status is built per request from the spec, member states and gate states. */
    putUpdateRun(spec: UpdateRunSpec): void {
        const fleet = this.fleetRecord(spec.fleetId);
        const ref = parseFleetId(fleet.id);
        const id = formatUpdateRunId({ ...ref, updateRunName: spec.name });
        parseUpdateRunId(id);
        const fleetKey = fleet.id.toLowerCase();
        const checkState = (state: UpdateState | undefined, what: string) => {
            if (state !== undefined && !UPDATE_STATES.includes(state))
                throw new Error(`update run ${spec.name}: invalid state ${JSON.stringify(state)} for ${what}`);
        };
        checkState(spec.state, "the run");
        for (const stage of spec.stages) {
            checkState(stage.state, `stage ${stage.name}`);
            for (const group of stage.groups) {
                checkState(group.state, `group ${group.name}`);
                for (const member of group.members) {
                    const m = this.members.get(member.toLowerCase());
                    if (!m || m.fleetKey !== fleetKey)
                        throw new Error(`update run ${spec.name}: member ${member} was not added to ${fleet.id}`);
                }
            }
        }
        const copy: UpdateRunSpec = JSON.parse(JSON.stringify(spec)) as UpdateRunSpec;
        const now = new Date(this.clock()).toISOString();
        const existing = fleet.runs.get(spec.name.toLowerCase());
        fleet.runs.set(spec.name.toLowerCase(), {
            id,
            spec: copy,
            eTag: this.nextEtag(),
            createdAt: existing?.createdAt ?? now,
            lastModifiedAt: now,
        });
    }

    /** Deletes an update run and, as the service does, every gate targeting it. */
    deleteUpdateRun(fleetId: string, name: string): boolean {
        const fleet = this.fleets.get(this.fleetKeyOf(fleetId));
        const run = fleet?.runs.get(name.toLowerCase());
        if (!fleet || !run) return false;
        fleet.runs.delete(name.toLowerCase());
        for (const r of [...fleet.gates.values()]) if (sameArmId(r.gate.target.id, run.id)) this.removeGate(r.gate.id);
        return true;
    }

    /** The value `metrics.batch` serves for every aggregation of `metric` on that resource; null = no data. */
    setMetric(clusterResourceId: string, metric: string, value: number | null): void {
        parseArmId(clusterResourceId);
        const key = clusterResourceId.toLowerCase();
        let m = this.metrics.get(key);
        if (!m) this.metrics.set(key, (m = new Map()));
        m.set(metric.toLowerCase(), value);
    }

    // ----- faults and log ---------------------------------------------------------------------

    /** Adds a fault; returns a function that removes it. */
    inject(fault: Fault): () => void {
        if (fault.route !== "*" && !ROUTES.includes(fault.route)) throw new Error(`unknown route ${fault.route}`);
        if (!FAULT_KINDS.includes(fault.kind)) throw new Error(`unknown fault kind ${fault.kind}`);
        const times = fault.times ?? Infinity;
        if (!(times >= 0)) throw new Error("times must be >= 0");
        const p = fault.probability ?? 1;
        if (!(p >= 0 && p <= 1)) throw new Error("probability must be within 0..1");
        if (fault.retryAfterSeconds !== undefined && !(fault.retryAfterSeconds >= 0))
            throw new Error("retryAfterSeconds must be >= 0");
        if (fault.stallMs !== undefined && !(fault.stallMs >= 0)) throw new Error("stallMs must be >= 0");
        const record: FaultRecord = { fault: { ...fault }, remaining: times };
        this.faults.push(record);
        return () => {
            this.faults = this.faults.filter((f) => f !== record);
        };
    }

    clearFaults(): void {
        this.faults = [];
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
        return this.patches;
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
            if (rawUrl.length > MAX_URL_LENGTH) {
                this.sendError(
                    ctx,
                    new HttpError(400, "InvalidUrl", `The request URL is longer than ${MAX_URL_LENGTH} characters.`),
                );
                return;
            }
            const match = matchRoute(method, path.slice(1).split("/"));
            entry.route = match.route;
            if (this.applyFault(ctx, match.route)) return;
            if (this.requireAuth && !authorized) {
                this.sendError(
                    ctx,
                    new HttpError(
                        401,
                        "AuthenticationFailed",
                        "Authentication failed. The 'Authorization' header is missing or is not a Bearer token.",
                        {
                            "WWW-Authenticate": "Bearer",
                        },
                    ),
                );
                return;
            }
            const problem = pathProblem(path);
            if (problem) {
                this.sendError(ctx, new HttpError(400, "InvalidUrl", problem));
                return;
            }
            if (match.route === "unknown") {
                if (match.allow)
                    this.sendError(
                        ctx,
                        new HttpError(
                            405,
                            "MethodNotAllowed",
                            `The method '${method}' is not allowed on this resource.`,
                            {
                                Allow: match.allow.join(", "),
                            },
                        ),
                    );
                else this.sendError(ctx, new HttpError(404, "NotFound", "No route matches the request path."));
                return;
            }
            const params: Record<string, string> = {};
            for (const [k, v] of Object.entries(match.params)) params[k] = decodeParam(v);
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
        if (this.faults.length === 0) return false;
        for (const f of this.faults) {
            if (f.remaining <= 0) continue;
            if (f.fault.route !== "*" && f.fault.route !== route) continue;
            const p = f.fault.probability ?? 1;
            if (p < 1 && !(this.random() < p)) continue;
            f.remaining--;
            this.fire(ctx, f.fault);
            return true;
        }
        return false;
    }

    private fire(ctx: RequestContext, fault: Fault): void {
        const { req } = ctx;
        switch (fault.kind) {
            case "reset":
                ctx.entry.status = "reset";
                req.socket.destroy();
                return;
            case "stall": {
                ctx.entry.status = "stall";
                const socket = req.socket;
                const timer = setTimeout(() => {
                    this.timers.delete(timer);
                    socket.destroy();
                }, fault.stallMs ?? 60_000);
                this.timers.add(timer);
                socket.once("close", () => {
                    clearTimeout(timer);
                    this.timers.delete(timer);
                });
                return;
            }
            case "403":
                this.sendError(
                    ctx,
                    new HttpError(
                        403,
                        "AuthorizationFailed",
                        "The client does not have authorization to perform this action over this scope (injected fault).",
                    ),
                );
                return;
            case "404":
                this.sendError(ctx, new HttpError(404, "NotFound", "The resource was not found (injected fault)."));
                return;
            case "429":
                this.sendError(
                    ctx,
                    new HttpError(429, "TooManyRequests", "The request is being throttled (injected fault).", {
                        "Retry-After": String(fault.retryAfterSeconds ?? 1),
                    }),
                );
                return;
            case "503":
                this.sendError(
                    ctx,
                    new HttpError(
                        503,
                        "ServiceUnavailable",
                        "The service is temporarily unavailable (injected fault).",
                        {
                            "Retry-After": String(fault.retryAfterSeconds ?? 1),
                        },
                    ),
                );
                return;
            case "500":
                this.sendError(
                    ctx,
                    new HttpError(500, "InternalServerError", "An internal error occurred (injected fault)."),
                );
                return;
        }
    }

    private async dispatch(ctx: RequestContext, route: Route, params: Record<string, string>, search: URLSearchParams) {
        switch (route) {
            case "gates.get":
                this.checkFleetApiVersion(search);
                return this.getGate(ctx, params);
            case "gates.list":
                this.checkFleetApiVersion(search);
                return this.listGates(ctx, params, search);
            case "gates.patch":
                this.checkFleetApiVersion(search);
                return this.patchGate(ctx, params, await this.readJson(ctx));
            case "operation.get":
                this.checkFleetApiVersion(search);
                return this.getOperation(ctx, params);
            case "updateRuns.get":
                this.checkFleetApiVersion(search);
                return this.getUpdateRun(ctx, params);
            case "clusters.get":
                this.checkAnyApiVersion(search);
                return this.getCluster(ctx, params);
            case "metrics.batch":
                this.checkAnyApiVersion(search);
                return this.metricsBatch(ctx, params, search, await this.readJson(ctx));
        }
    }

    private checkFleetApiVersion(search: URLSearchParams): void {
        const v = search.get("api-version");
        if (v === null || v === "")
            throw new HttpError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        if (v !== FLEET_API_VERSION)
            throw new HttpError(
                400,
                "InvalidApiVersionParameter",
                `The api-version '${v}' is invalid. The supported versions are '${FLEET_API_VERSION}'.`,
            );
    }

    private checkAnyApiVersion(search: URLSearchParams): void {
        const v = search.get("api-version");
        if (v === null || v === "")
            throw new HttpError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
    }

    private readJson(ctx: RequestContext): Promise<unknown> {
        const { req } = ctx;
        return new Promise((resolve, reject) => {
            const chunks: Buffer[] = [];
            let size = 0;
            let failed = false;
            req.on("data", (chunk: Buffer) => {
                if (failed) return;
                size += chunk.length;
                if (size > MAX_BODY_BYTES) {
                    failed = true;
                    ctx.res.setHeader("Connection", "close");
                    reject(
                        new HttpError(
                            413,
                            "RequestEntityTooLarge",
                            `The request body is larger than ${MAX_BODY_BYTES} bytes.`,
                        ),
                    );
                    return;
                }
                chunks.push(chunk);
            });
            req.on("end", () => {
                if (failed) return;
                const text = Buffer.concat(chunks).toString("utf8");
                if (text.trim() === "") {
                    reject(new HttpError(400, "InvalidRequestContent", "The request content is empty."));
                    return;
                }
                try {
                    resolve(JSON.parse(text));
                } catch (err) {
                    reject(
                        new HttpError(
                            400,
                            "InvalidRequestContent",
                            `The request content is not valid JSON: ${(err as Error).message}`,
                        ),
                    );
                }
            });
            req.on("close", () => {
                if (!req.complete) reject(new HttpError(400, "InvalidRequestContent", "The request was aborted."));
            });
        });
    }

    // ----- fleets routes ----------------------------------------------------------------------

    private fleetFromParams(params: Record<string, string>): FleetRecord {
        const id = `/subscriptions/${params.sub}/resourceGroups/${params.rg}/providers/${CONTAINER_SERVICE}/fleets/${params.fleet}`;
        // Registered fleets were validated when added: a hit needs no parse (the hot path).
        const fleet = this.fleets.get(id.toLowerCase());
        if (fleet) return fleet;
        try {
            parseFleetId(id);
        } catch (err) {
            if (err instanceof ArmIdError) throw new HttpError(400, "InvalidResourceId", err.message);
            throw err;
        }
        throw new HttpError(
            404,
            "ResourceNotFound",
            `The Resource '${CONTAINER_SERVICE}/fleets/${params.fleet}' under resource group '${params.rg}' was not found.`,
        );
    }

    private gateFromParams(params: Record<string, string>): GateRecord {
        const fleet = this.fleetFromParams(params);
        const gate = fleet.gates.get((params.gate ?? "").toLowerCase());
        if (!gate)
            throw new HttpError(
                404,
                "ResourceNotFound",
                `The Resource '${CONTAINER_SERVICE}/fleets/${params.fleet}/gates/${params.gate}' under resource group '${params.rg}' was not found.`,
            );
        return gate;
    }

    private getGate(ctx: RequestContext, params: Record<string, string>): void {
        const r = this.gateFromParams(params);
        this.send(ctx, 200, this.gateJson(r), { ETag: quoteEtag(r.gate.eTag) });
    }

    private listGates(ctx: RequestContext, params: Record<string, string>, search: URLSearchParams): void {
        const fleet = this.fleetFromParams(params);
        const filter = search.get("$filter");
        let wantState: GateState | undefined;
        if (filter !== null) {
            const m = /^\s*properties\/state\s+eq\s+'([^']*)'\s*$/i.exec(filter);
            const state = m ? GATE_STATES.find((s) => eq(s, m[1])) : undefined;
            if (!state)
                throw new HttpError(
                    400,
                    "InvalidFilterParameter",
                    `The $filter '${filter}' is not supported; supported: properties/state eq 'Pending'|'Skipped'|'Completed'.`,
                );
            wantState = state;
        }
        let size = this.pageSize;
        const top = search.get("$top");
        if (top !== null) {
            if (!/^[1-9]\d{0,5}$/.test(top))
                throw new HttpError(400, "InvalidTopParameter", `The $top '${top}' is not a positive integer.`);
            size = Math.min(Number(top), this.pageSize);
        }
        let offset = 0;
        const token = search.get("$skipToken");
        if (token !== null) {
            const m = /^o(\d{1,9})$/.exec(token);
            if (!m) throw new HttpError(400, "InvalidSkipToken", `The $skipToken '${token}' is invalid.`);
            offset = Number(m[1]);
        }
        const all: GateRecord[] = [];
        for (const r of fleet.gates.values()) if (wantState === undefined || r.gate.state === wantState) all.push(r);
        const page = all.slice(offset, offset + size);
        const body: { value: unknown[]; nextLink?: string } = { value: page.map((r) => this.gateJson(r)) };
        if (offset + size < all.length) {
            let next = `${this.url}${fleet.id}/gates?api-version=${FLEET_API_VERSION}`;
            if (filter !== null) next += `&$filter=${encodeURIComponent(filter)}`;
            if (top !== null) next += `&$top=${top}`;
            next += `&$skipToken=o${offset + size}`;
            body.nextLink = next;
        }
        this.send(ctx, 200, body);
    }

    private patchGate(ctx: RequestContext, params: Record<string, string>, body: unknown): void {
        const state = validateGatePatch(body);
        const r = this.gateFromParams(params);
        const ifMatch = ctx.req.headers["if-match"];
        if (typeof ifMatch === "string" && !etagListMatches(ifMatch, r.gate.eTag))
            throw new HttpError(412, "PreconditionFailed", `The If-Match '${ifMatch}' does not match the gate's ETag.`);
        const ifNoneMatch = ctx.req.headers["if-none-match"];
        if (typeof ifNoneMatch === "string" && etagListMatches(ifNoneMatch, r.gate.eTag))
            throw new HttpError(
                412,
                "PreconditionFailed",
                `The If-None-Match '${ifNoneMatch}' matches the gate's ETag.`,
            );
        if (r.gate.state === state) {
            this.send(ctx, 200, this.gateJson(r), { ETag: quoteEtag(r.gate.eTag) });
            return;
        }
        r.gate.state = state;
        r.gate.eTag = this.nextEtag();
        r.lastModifiedAt = new Date(this.clock()).toISOString();
        r.lastModifiedBy = "arm-client";
        r.lastModifiedByType = "Application";
        this.patches++;
        if (this.patchMode === "sync") {
            this.send(ctx, 200, this.gateJson(r), { ETag: quoteEtag(r.gate.eTag) });
            return;
        }
        const fleet = this.fleets.get(r.fleetKey)!;
        const opId = this.nextOperationId();
        this.operations.set(opId.toLowerCase(), {
            gateKey: r.gate.id.toLowerCase(),
            subscriptionId: fleet.subscriptionId,
        });
        const location = `${this.url}/subscriptions/${fleet.subscriptionId}/providers/${CONTAINER_SERVICE}/locations/${this.location}/operationresults/${opId}?api-version=${FLEET_API_VERSION}`;
        this.send(ctx, 202, undefined, { Location: location, "Retry-After": "0" });
    }

    private getOperation(ctx: RequestContext, params: Record<string, string>): void {
        const op = this.operations.get((params.op ?? "").toLowerCase());
        if (!op || !eq(op.subscriptionId, params.sub) || !eq(params.loc, this.location))
            throw new HttpError(404, "ResourceNotFound", `The operation '${params.op}' was not found.`);
        const r = this.gateIndex.get(op.gateKey);
        if (!r) throw new HttpError(404, "ResourceNotFound", `The gate of operation '${params.op}' no longer exists.`);
        // Completes on the first poll: final-state-via location answers the gate itself.
        this.send(ctx, 200, this.gateJson(r), { ETag: quoteEtag(r.gate.eTag) });
    }

    private getUpdateRun(ctx: RequestContext, params: Record<string, string>): void {
        const fleet = this.fleetFromParams(params);
        const run = fleet.runs.get((params.run ?? "").toLowerCase());
        if (!run)
            throw new HttpError(
                404,
                "ResourceNotFound",
                `The Resource '${CONTAINER_SERVICE}/fleets/${params.fleet}/updateRuns/${params.run}' under resource group '${params.rg}' was not found.`,
            );
        this.send(ctx, 200, this.updateRunJson(fleet, run), { ETag: quoteEtag(run.eTag) });
    }

    private getCluster(ctx: RequestContext, params: Record<string, string>): void {
        const id = `/subscriptions/${params.sub}/resourceGroups/${params.rg}/providers/${CONTAINER_SERVICE}/managedClusters/${params.cluster}`;
        const memberKey = this.clusters.get(id.toLowerCase());
        const m = memberKey === undefined ? undefined : this.members.get(memberKey);
        if (!m)
            throw new HttpError(
                404,
                "ResourceNotFound",
                `The Resource '${CONTAINER_SERVICE}/managedClusters/${params.cluster}' under resource group '${params.rg}' was not found.`,
            );
        const s = m.state;
        const parsed = parseArmId(s.clusterResourceId);
        const version = s.kubernetesVersion ?? "1.33.0";
        this.send(ctx, 200, {
            id: s.clusterResourceId,
            name: parsed.segments[parsed.segments.length - 1]![1],
            type: "Microsoft.ContainerService/ManagedClusters",
            location: s.location ?? this.location,
            properties: {
                provisioningState: s.provisioningState ?? "Succeeded",
                powerState: { code: s.powerState ?? "Running" },
                kubernetesVersion: version,
                currentKubernetesVersion: version,
            },
        });
    }

    private metricsBatch(
        ctx: RequestContext,
        params: Record<string, string>,
        search: URLSearchParams,
        body: unknown,
    ): void {
        const namespace = search.get("metricnamespace");
        if (!namespace) throw new HttpError(400, "BadRequest", "The metricnamespace query parameter is required.");
        const namesParam = search.get("metricnames");
        const names = (namesParam ?? "")
            .split(",")
            .map((n) => n.trim())
            .filter((n) => n.length > 0);
        if (names.length === 0) throw new HttpError(400, "BadRequest", "The metricnames query parameter is required.");
        const aggregations = parseAggregations(search.get("aggregation"));
        const end = parseTime(search.get("endtime"), "endtime") ?? Date.now();
        const start = parseTime(search.get("starttime"), "starttime") ?? end - 3_600_000;
        if (start > end) throw new HttpError(400, "BadRequest", "starttime must not be after endtime.");
        const interval = search.get("interval") ?? "PT1M";
        if (!isRecord(body) || !Array.isArray(body.resourceids) || body.resourceids.length === 0)
            throw new HttpError(
                400,
                "BadRequest",
                'The body must be { "resourceids": [ ... ] } with at least one resource id.',
            );
        if (body.resourceids.length > MAX_METRIC_RESOURCES)
            throw new HttpError(400, "BadRequest", `At most ${MAX_METRIC_RESOURCES} resource ids per request.`);
        const ids: string[] = [];
        for (const rid of body.resourceids) {
            if (typeof rid !== "string") throw new HttpError(400, "BadRequest", "resourceids must be strings.");
            let subscriptionId: string;
            try {
                subscriptionId = parseArmId(rid).subscriptionId;
            } catch (err) {
                throw new HttpError(400, "BadRequest", (err as Error).message);
            }
            if (!eq(subscriptionId, params.sub))
                throw new HttpError(400, "BadRequest", `Resource ${rid} is not in subscription ${params.sub}.`);
            ids.push(rid);
        }
        const stamp = new Date(Math.max(start, Math.floor((end - 60_000) / 60_000) * 60_000)).toISOString();
        const startIso = new Date(start).toISOString();
        const endIso = new Date(end).toISOString();
        const values = ids.map((rid) => {
            const memberKey = this.clusters.get(rid.toLowerCase());
            const member = memberKey === undefined ? undefined : this.members.get(memberKey);
            const series = this.metrics.get(rid.toLowerCase());
            return {
                starttime: startIso,
                endtime: endIso,
                interval,
                namespace,
                resourceregion: member?.state.location ?? this.location,
                resourceid: rid,
                value: names.map((name) => {
                    const v = series?.get(name.toLowerCase());
                    const data: Record<string, unknown>[] = [];
                    if (v !== undefined && v !== null) {
                        const point: Record<string, unknown> = { timeStamp: stamp };
                        for (const a of aggregations) point[a] = v;
                        data.push(point);
                    }
                    return {
                        id: `${rid}/providers/Microsoft.Insights/metrics/${name}`,
                        type: "Microsoft.Insights/metrics",
                        name: { value: name, localizedValue: name },
                        displayDescription: "",
                        errorCode: "Success",
                        unit: "Unspecified",
                        timeseries: [{ metadatavalues: [], data }],
                    };
                }),
            };
        });
        this.send(ctx, 200, { values });
    }

    // ----- JSON shapes ------------------------------------------------------------------------

    private gateJson(r: GateRecord): Record<string, unknown> {
        const g = r.gate;
        const properties: Record<string, unknown> = { provisioningState: "Succeeded" };
        if (g.displayName !== undefined) properties.displayName = g.displayName;
        properties.gateType = g.gateType;
        properties.state = g.state;
        properties.target = { id: g.target.id, updateRunProperties: { ...g.target.updateRunProperties } };
        return {
            id: g.id,
            name: g.name,
            type: GATE_TYPE,
            systemData: {
                createdBy: CONTAINER_SERVICE,
                createdByType: "Application",
                createdAt: r.createdAt,
                lastModifiedBy: r.lastModifiedBy,
                lastModifiedByType: r.lastModifiedByType,
                lastModifiedAt: r.lastModifiedAt,
            },
            eTag: g.eTag,
            properties,
        };
    }

    private updateRunJson(fleet: FleetRecord, run: RunRecord): Record<string, unknown> {
        const spec = run.spec;
        const runGates = [...fleet.gates.values()]
            .filter((r) => sameArmId(r.gate.target.id, run.id))
            .map((r) => r.gate);
        const used = new Set<EmulatorGate>();
        const gateStatuses = (
            configs: GateConfigSpec[] | undefined,
            timing: "Before" | "After",
            stage: string,
            group: string | undefined,
        ): { displayName?: string; gateId?: string; status: { state: UpdateState } }[] =>
            (configs ?? []).map((c) => {
                const g = runGates.find((candidate) => {
                    if (used.has(candidate)) return false;
                    const t = candidate.target.updateRunProperties;
                    if (t.timing !== timing || candidate.displayName !== c.displayName) return false;
                    if (group === undefined) return t.group === undefined && eq(t.stage, stage);
                    return eq(t.group, group) && (t.stage === undefined || eq(t.stage, stage));
                });
                const out: { displayName?: string; gateId?: string; status: { state: UpdateState } } = {
                    status: { state: "NotStarted" },
                };
                if (c.displayName !== undefined) out.displayName = c.displayName;
                if (g) {
                    used.add(g);
                    out.gateId = g.id;
                    out.status = { state: g.state };
                }
                return out;
            });
        const gateConfigs = (configs: GateConfigSpec[] | undefined) =>
            configs?.map((c) => ({
                ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
                type: c.type ?? "Approval",
            }));

        const stageStatuses = spec.stages.map((stage) => {
            const before = gateStatuses(stage.beforeGates, "Before", stage.name, undefined);
            const groups = stage.groups.map((group) => {
                const gBefore = gateStatuses(group.beforeGates, "Before", stage.name, group.name);
                const members = group.members.map((name) => {
                    const m = this.members.get(name.toLowerCase());
                    const state: UpdateState = m?.state.updateState ?? "NotStarted";
                    const status: { state: UpdateState; error?: { code: string; message: string } } = { state };
                    if (state === "Failed")
                        status.error = { code: "UpgradeFailed", message: `The upgrade of member ${name} failed.` };
                    return { status, name: m?.state.name ?? name, clusterResourceId: m?.state.clusterResourceId ?? "" };
                });
                const gAfter = gateStatuses(group.afterGates, "After", stage.name, group.name);
                const state =
                    group.state ??
                    deriveGroupState(
                        members.map((m) => m.status.state),
                        gBefore.map((g) => g.status.state),
                        gAfter.map((g) => g.status.state),
                    );
                const out: Record<string, unknown> = { status: { state }, name: group.name, members };
                if (group.beforeGates) out.beforeGates = gBefore;
                if (group.afterGates) out.afterGates = gAfter;
                return { json: out, state };
            });
            const after = gateStatuses(stage.afterGates, "After", stage.name, undefined);
            const state =
                stage.state ??
                deriveStageState(
                    groups.map((g) => g.state),
                    before.map((g) => g.status.state),
                    after.map((g) => g.status.state),
                );
            const out: Record<string, unknown> = {
                status: { state },
                name: stage.name,
                groups: groups.map((g) => g.json),
            };
            if (stage.beforeGates) out.beforeGates = before;
            if (stage.afterGates) out.afterGates = after;
            if (stage.afterStageWaitInSeconds !== undefined)
                out.afterStageWaitStatus = {
                    status: { state: state === "Completed" ? "Completed" : "NotStarted" },
                    waitDurationInSeconds: stage.afterStageWaitInSeconds,
                };
            return { json: out, state };
        });
        const runState = spec.state ?? deriveRunState(stageStatuses.map((s) => s.state));
        const strategy = {
            stages: spec.stages.map((stage) => {
                const out: Record<string, unknown> = {
                    name: stage.name,
                    groups: stage.groups.map((group) => {
                        const g: Record<string, unknown> = { name: group.name };
                        if (group.beforeGates) g.beforeGates = gateConfigs(group.beforeGates);
                        if (group.afterGates) g.afterGates = gateConfigs(group.afterGates);
                        return g;
                    }),
                };
                if (stage.beforeGates) out.beforeGates = gateConfigs(stage.beforeGates);
                if (stage.afterGates) out.afterGates = gateConfigs(stage.afterGates);
                if (stage.afterStageWaitInSeconds !== undefined)
                    out.afterStageWaitInSeconds = stage.afterStageWaitInSeconds;
                return out;
            }),
        };
        return {
            id: run.id,
            name: spec.name,
            type: UPDATE_RUN_TYPE,
            systemData: {
                createdBy: "release@contoso.com",
                createdByType: "User",
                createdAt: run.createdAt,
                lastModifiedBy: "release@contoso.com",
                lastModifiedByType: "User",
                lastModifiedAt: run.lastModifiedAt,
            },
            properties: {
                provisioningState: "Succeeded",
                strategy,
                managedClusterUpdate: spec.managedClusterUpdate ?? {
                    upgrade: { type: "NodeImageOnly" },
                    nodeImageSelection: { type: "Latest" },
                },
                status: { status: { state: runState }, stages: stageStatuses.map((s) => s.json) },
            },
            eTag: run.eTag,
        };
    }

    // ----- plumbing ---------------------------------------------------------------------------

    private fleetKeyOf(fleetId: string): string {
        return formatFleetId(parseFleetId(fleetId)).toLowerCase();
    }

    private fleetRecord(fleetId: string): FleetRecord {
        const ref = parseFleetId(fleetId);
        const id = formatFleetId(ref);
        const key = id.toLowerCase();
        let f = this.fleets.get(key);
        if (!f) {
            f = { id, subscriptionId: ref.subscriptionId, gates: new Map(), runs: new Map() };
            this.fleets.set(key, f);
        }
        return f;
    }

    private nextEtag(): string {
        const n = (++this.etagSeq).toString(16).padStart(12, "0");
        return `"00000000-0000-0000-0000-${n}"`;
    }

    private nextOperationId(): string {
        const n = (++this.opSeq).toString(16).padStart(12, "0");
        return `0a0a0a0a-0000-4000-8000-${n}`;
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

function validateGatePatch(body: unknown): GateState {
    if (!isRecord(body)) throw new HttpError(400, "InvalidRequestBody", "The request body must be a JSON object.");
    const extra = Object.keys(body).filter((k) => k !== "properties");
    if (extra.length > 0)
        throw new HttpError(
            400,
            "InvalidRequestBody",
            `Only 'properties.state' can be patched; got '${extra.join("', '")}'.`,
        );
    const props = body.properties;
    if (!isRecord(props)) throw new HttpError(400, "InvalidRequestBody", "'properties' must be an object.");
    const extraProps = Object.keys(props).filter((k) => k !== "state");
    if (extraProps.length > 0)
        throw new HttpError(
            400,
            "InvalidRequestBody",
            `Only 'properties.state' can be patched; got 'properties.${extraProps.join("', 'properties.")}'.`,
        );
    const state = props.state;
    if (typeof state !== "string" || !GATE_STATES.includes(state as GateState))
        throw new HttpError(
            400,
            "InvalidRequestBody",
            `'properties.state' must be one of ${GATE_STATES.join(", ")}; got ${JSON.stringify(state)}.`,
        );
    return state as GateState;
}

function parseAggregations(raw: string | null): Aggregation[] {
    if (raw === null || raw.trim() === "") return ["average"];
    const out: Aggregation[] = [];
    for (const part of raw.split(",")) {
        const a = AGGREGATIONS.find((x) => eq(x, part.trim()));
        if (!a) throw new HttpError(400, "BadRequest", `Unknown aggregation '${part.trim()}'.`);
        if (!out.includes(a)) out.push(a);
    }
    return out;
}

function parseTime(raw: string | null, name: string): number | undefined {
    if (raw === null || raw === "") return undefined;
    const t = Date.parse(raw);
    if (Number.isNaN(t)) throw new HttpError(400, "BadRequest", `The ${name} '${raw}' is not a valid date-time.`);
    return t;
}

// ---------------------------------------------------------------------------------------------
// A self-signed X.509 v3 certificate (EC P-256, SAN 127.0.0.1 + localhost), DER-encoded by hand so
// that TLS mode needs neither openssl nor a checked-in private key.
