/**
 * The rehearsal's vocabulary: its options, what it reports per gate (outcome, routing, why a gate
 * is stuck), the timeline entries, and the result the output (`output.ts`) and the CLI read.
 */
import type { BlobAccess } from "../dead-letter-storage";
import type { JsonObject } from "../../../core/event-filter";
import type { GateTiming } from "../../../core/rules";
import type { GatePosition } from "../../../core/strategy";
import type { Notification } from "../../../handlers/gate-approval/src/notifier";
import type { Fault } from "../../emulators/arm";
import type { DeadLetterBlob, DeliverySubscription } from "../../emulators/event-grid";
import type { Plan } from "../../plan/plan";

export const REHEARSAL_RUN_NAME = "rehearsal-1";
export const DEFAULT_HORIZON_HOURS = 7 * 24;
/** Virtual minutes one member's upgrade takes: an assumption of the rehearsal, not a Fleet figure. */
export const DEFAULT_UPGRADE_MINUTES = 10;

/** An option the stack cannot take (`--fail` of no member, `--new-version` that is not one): the CLI says it and exits 1. */
export class RehearsalInputError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RehearsalInputError";
    }
}

export type RehearsalOutcome = "approved" | "manual" | "held" | "unrouted";

export interface RehearsalGate {
    readonly stage: string;
    readonly group: string | null;
    readonly timing: GateTiming;
    readonly displayName: string;
    /** The rule the handler decided with (or, for an unrouted gate, the rule that should have routed it). */
    readonly rule: string | null;
    /** Rule subscriptions whose filter matched the FleetGateCreated event (the lifecycle one never counts). */
    readonly subscriptions: string[];
    readonly outcome: RehearsalOutcome;
}

export interface StuckGate {
    readonly displayName: string;
    readonly stage: string;
    readonly group: string | null;
    readonly reason: string;
}

export interface TimelineEntry {
    /** Virtual time, ISO 8601. */
    readonly at: string;
    /** The stage, or the update run's name for run-wide entries (its deletion). */
    readonly stage: string;
    readonly group: string | null;
    /** The gate's display name; null for upgrades and waits. */
    readonly gate: string | null;
    /** The subscription that delivered the event, `sweep`, `person`, or null. */
    readonly subscription: string | null;
    /** created · a handler outcome (approved, held, manual, ignored, …) · upgrading · upgraded · wait · unrouted · stuck · … */
    readonly decision: string;
    readonly reason: string | null;
}

export interface RehearsalResult {
    readonly stack: string;
    readonly fleetId: string;
    /** The update run walked: `rehearsal-1`, or the one the handler started for `newVersion`. */
    readonly runName: string;
    readonly gates: RehearsalGate[];
    readonly stuck: StuckGate[];
    /** Virtual time from the start of the run to its end (or to where it got stuck). */
    readonly durationMs: number;
    readonly timeline: TimelineEntry[];
    /** Gates the run never reached because an earlier one was stuck (not in `gates`). */
    readonly notReached: GatePosition[];
    /** What the handler sent to its notifier (manual gates, holds, escalations). */
    readonly notifications: readonly Notification[];
    /** Dead-letter blobs the emulated Event Grid wrote (Azure's path and content). */
    readonly deadLetters: readonly DeadLetterBlob[];
    /** Requests Event Grid made to the handler (retries and duplicates included). */
    readonly deliveries: number;
    /** PATCHes that changed a gate's state in the emulator: one per gate the handler approved. */
    readonly gateWrites: number;
}

export interface RehearseOptions {
    readonly stack: string;
    /** Directory of `Pulumi.<stack>.yaml`; default the project root. */
    readonly dir?: string;
    /** Start of the virtual clock; default the real time. */
    readonly now?: Date;
    /** Manual gates are approved as a person would; otherwise the run waits at the first one (stuck). */
    readonly approveManual?: boolean;
    /** Member names whose upgrade fails (update state `Failed`; with routed upgrade events, NodePoolRollingFailed too). */
    readonly fail?: readonly string[];
    /**
     * Start from AKS announcing this version (`1.33.2`): each member's NewKubernetesVersionAvailable goes through
     * the plan's cluster subscriptions to the handler, which creates and starts the run (`upgradeEvents.startRun`);
     * the rehearsal then walks that run. Without it, the run `rehearsal-1` is seeded.
     */
    readonly newVersion?: string;
    /** How long a held gate is re-checked before it is reported stuck; default 7 × 24 h. */
    readonly horizonHours?: number;
    /** Virtual minutes one member's upgrade takes; default {@link DEFAULT_UPGRADE_MINUTES}. */
    readonly upgradeMinutes?: number;
    /** At the end, a person deletes the update run: Fleet deletes its gates and publishes FleetGateDeleted. */
    readonly deleteRun?: boolean;
    /** Probability (0..1) that Event Grid delivers a request twice (a duplicate may come up to 3 minutes late). */
    readonly duplicates?: number;
    /** Deliveries and processes due at the same instant in random order. */
    readonly shuffle?: boolean;
    /** Seed of the RNG behind duplicates and shuffling; default 1. */
    readonly seed?: number;
    /** An already computed plan of the stack (skips planning; lets callers rehearse a modified plan). */
    readonly plan?: Plan;
    /** Faults injected into the ARM emulator once it is seeded (e.g. 503s on `gates.patch`: Event Grid redelivers). */
    readonly faults?: readonly Fault[];
    /** Progress of long phases (held gates swept over virtual days), one line each. */
    readonly onProgress?: (line: string) => void;
    /** Sees every batch of events Fleet publishes, as published (Event Grid schema, before filtering). */
    readonly onPublish?: (events: readonly JsonObject[]) => void;
    /**
     * A storage account (Blob endpoint, e.g. Azurite's) the dead-letter blobs are written to at the end,
     * each in its subscription's dead-letter container, as Event Grid writes them.
     */
    readonly deadLetterStorage?: { readonly accountUrl: string } & BlobAccess;
}

/** An event subscription of the plan, as deployed. */
export interface PlannedSubscription extends DeliverySubscription {
    readonly schema: "EventGridSchema" | "CloudEventSchemaV1_0";
    /** The lifecycle subscription (Updated/Deleted events); it never counts as routing a gate. */
    readonly lifecycle: boolean;
}

/** A gate's position as one string key (stage, group, timing, display name). */
export function positionKey(p: GatePosition): string {
    return [p.stage, p.group ?? "", p.timing, p.displayName].join("\u0000");
}
