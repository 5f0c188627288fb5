/**
 * One structured audit record per decision (DESIGN.md, "Handler decisions"): the gate, its update
 * run, stage, group and timing, the rule, each check with its observed value and duration, the
 * outcome and its reason, the attempt and the latency. Written as one JSON log line.
 */
import type { CheckResult } from "./checks/types";

export const OUTCOMES = [
    "approved",
    "already-completed",
    "held",
    "manual",
    "ignored",
    "rejected",
    "retry",
    // AKS upgrade events (upgrade/decide.ts): a message sent; an update run created and started.
    "notified",
    "run-started",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface Decision {
    readonly outcome: Outcome;
    /** Why; present for every outcome but `approved`. */
    readonly reason?: string;
    readonly trigger: "event" | "sweep";
    readonly eventId?: string;
    readonly eventType?: string;
    readonly gateId?: string;
    readonly displayName?: string;
    readonly updateRunId?: string;
    readonly stage?: string;
    readonly group?: string;
    readonly timing?: string;
    readonly rule?: string;
    /** AKS upgrade events: the member whose cluster published the event, and the version it is about. */
    readonly member?: string;
    readonly kubernetesVersion?: string;
    readonly checks: readonly CheckResult[];
    /** 1 for the first decision about this gate, then counting (from the state store or the caller). */
    readonly attempt: number;
    readonly latencyMs: number;
    /** The injected clock's time of the decision, ISO 8601. */
    readonly at: string;
}

export interface AuditRecord extends Decision {
    readonly msg: "gate decision";
}

export type AuditSink = (record: AuditRecord) => void;

export function auditRecord(d: Decision): AuditRecord {
    return { msg: "gate decision", ...d };
}

/** A sink writing one JSON line per record through `write` (e.g. `context.log`). */
export function jsonLineSink(write: (line: string) => void): AuditSink {
    return (record) => write(JSON.stringify(record));
}
