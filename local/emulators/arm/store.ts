/**
 * The ARM emulator's state: fleets with their gates and update runs, members and the clusters they
 * own, metric values, pending async operations, and the counters behind ETags and operation ids.
 * Every resource family (`gates.ts`, `update-runs.ts`, `clusters.ts`, `metrics.ts`) reads and
 * writes it; the HTTP server (`server.ts`) only routes to them.
 */
import { fleetId as formatFleetId, parseFleetId } from "../../../core/arm-id";
import type { EmulatorGate, MemberState, UpdateRunSpec } from "./types";

export interface GateRecord {
    gate: EmulatorGate;
    fleetKey: string;
    createdAt: string;
    lastModifiedAt: string;
    lastModifiedBy: string;
    lastModifiedByType: string;
}

export interface RunRecord {
    id: string;
    spec: UpdateRunSpec;
    eTag: string;
    createdAt: string;
    lastModifiedAt: string;
}

export interface MemberRecord {
    fleetKey: string;
    state: MemberState;
}

export interface FleetRecord {
    id: string;
    subscriptionId: string;
    /** Lower-case gate name → record, in insertion order. */
    gates: Map<string, GateRecord>;
    /** Lower-case run name → record. */
    runs: Map<string, RunRecord>;
}

export interface OperationRecord {
    gateKey: string;
    subscriptionId: string;
}

export interface StoreOptions {
    readonly pageSize: number;
    readonly patchMode: "sync" | "async";
    readonly location: string;
    readonly clock: () => number;
}

export class ArmStore {
    readonly fleets = new Map<string, FleetRecord>();
    /** Lower-case gate id → record. */
    readonly gateIndex = new Map<string, GateRecord>();
    /** Lower-case member name → record. */
    readonly members = new Map<string, MemberRecord>();
    /** Lower-case cluster id → lower-case member name. */
    readonly clusters = new Map<string, string>();
    /** Lower-case resource id → lower-case metric name → value. */
    readonly metrics = new Map<string, Map<string, number | null>>();
    readonly operations = new Map<string, OperationRecord>();
    /** Successful PATCHes that changed a gate's state. */
    patches = 0;
    private etagSeq = 0;
    private opSeq = 0;

    constructor(readonly options: StoreOptions) {}

    /** The clock's time as ISO 8601, for `systemData`. */
    now(): string {
        return new Date(this.options.clock()).toISOString();
    }

    fleetKeyOf(fleetId: string): string {
        return formatFleetId(parseFleetId(fleetId)).toLowerCase();
    }

    /** The fleet's record, registered on first use. */
    fleetRecord(fleetId: string): FleetRecord {
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

    nextEtag(): string {
        const n = (++this.etagSeq).toString(16).padStart(12, "0");
        return `"00000000-0000-0000-0000-${n}"`;
    }

    nextOperationId(): string {
        const n = (++this.opSeq).toString(16).padStart(12, "0");
        return `0a0a0a0a-0000-4000-8000-${n}`;
    }
}
