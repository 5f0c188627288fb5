/**
 * The public shapes of the loopback ARM emulator: the routes it serves, its request log, the gates,
 * members and update runs it is seeded with, and its options. Shapes follow the Fleet 2026-06-01
 * OpenAPI document (`shared/specs/containerservice-fleet/2026-06-01/`).
 */
import type { LoopbackCertificate } from "../tls";
import type { Fault as SharedFault } from "../faults";

export const FLEET_API_VERSION = "2026-06-01";

export type Route =
    | "gates.get"
    | "gates.list"
    | "gates.patch"
    | "operation.get"
    | "updateRuns.get"
    | "updateRuns.list"
    | "updateRuns.put"
    | "updateRuns.start"
    | "clusters.get"
    | "metrics.batch";

export const ROUTES: readonly Route[] = [
    "gates.get",
    "gates.list",
    "gates.patch",
    "operation.get",
    "updateRuns.get",
    "updateRuns.list",
    "updateRuns.put",
    "updateRuns.start",
    "clusters.get",
    "metrics.batch",
];

/** A fault injected into one of the emulator's routes (or all of them). */
export type Fault = SharedFault<Route>;

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
    /** With `tls`: the certificate to serve instead of the process's own (a worker gets its parent's). */
    certificate?: LoopbackCertificate;
}

export const GATE_STATES: readonly GateState[] = ["Pending", "Skipped", "Completed"];
export const UPDATE_STATES: readonly UpdateState[] = [
    "NotStarted",
    "Running",
    "Stopping",
    "Stopped",
    "Skipped",
    "Failed",
    "Pending",
    "Completed",
];
