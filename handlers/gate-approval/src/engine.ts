/**
 * The decision engine: pure logic over injected clients (ARM, state, notifier, clock), callable in a
 * loop by the triggers, the offline engine and the fault soak.
 *
 * `decide(event)` for one delivered event (DESIGN.md, "Handler decisions"):
 *   invalid → rejected (no request) · unknown type → ignored · other subscription/fleet → ignored ·
 *   Updated/Deleted → tombstone in state, ignored · Created + Approval + Pending → match rules →
 *   none: manual (notify once) · checks → pass: GET gate → PATCH Completed with If-Match → approved
 *   (Completed → already-completed; 404 → ignored, gone; 412 → re-GET once) · fail: held.
 *   A transient ARM/network failure (after the pipeline's retries) or a spent budget → retry: the
 *   trigger throws so Event Grid redelivers.
 * `sweep()` lists the fleet's gates (paged) and re-evaluates every Pending Approval gate: recovers
 *   lost events, re-checks holds, notifies manual gates once, escalates gates pending too long.
 *
 * Safety: nothing here approves without every check of exactly one matching rule passing on this
 * attempt, and the PATCH is conditional on the ETag of a read that showed the gate Pending with the
 * coordinates the rule matched.
 */
import { FleetRef, eq, fleetId as formatFleetId, sameArmId, sameFleet } from "../../../core/arm-id";
import { GateEvent, GateEventParse, GateView, canonicalIds } from "../../../core/gate-event";
import { ApprovalRule, rulesForGate } from "../../../core/rules";
import { FleetApi, GateSnapshot } from "./arm-client";
import { AuditSink, Decision, Outcome, auditRecord } from "./audit";
import { DecisionScope, runChecks } from "./checks";
import type { CheckRegistry, CheckResult, CheckServices } from "./checks/types";
import type { LogFn, Notification, NotificationKind, Notifier } from "./notifier";
import { describeError } from "./pipeline";
import { GateRecord, StateStore, claimNotification, mutate, newRecord, releaseNotification } from "./state";
import { isTransient, Transient } from "./transient";
import { deadline, mapLimit } from "./util";

export type { Decision, Outcome } from "./audit";

export interface EngineSettings {
    readonly fleet: FleetRef;
    readonly subscriptionId: string;
    readonly rules: readonly ApprovalRule[];
    readonly escalateAfterMinutes: number;
    /** Budget of one decision (default 20 s): Event Grid waits 30 s for the answer. */
    readonly decisionBudgetMs?: number;
}

export interface EngineDeps {
    readonly settings: EngineSettings;
    readonly arm: FleetApi;
    /** Transport and metrics reader for the checks (`arm` is added from above). */
    readonly services: Omit<CheckServices, "arm">;
    readonly state: StateStore;
    readonly notifier: Notifier;
    readonly audit?: AuditSink;
    readonly log?: LogFn;
    /** Epoch ms; default `Date.now`. Drives windows, escalation and record times. */
    readonly clock?: () => number;
    readonly checks?: CheckRegistry;
    /** Gates evaluated at once by the sweep (default 8). */
    readonly sweepConcurrency?: number;
    /** Budget for listing the fleet's gates in a sweep (default 60 s). */
    readonly listBudgetMs?: number;
}

export interface DecideOptions {
    /** Delivery attempt as the caller knows it; default: derived from the state store. */
    readonly attempt?: number;
}

const DEFAULT_BUDGET_MS = 20_000;

function fleetLabel(f: FleetRef): string {
    return `${f.subscriptionId}/${f.resourceGroup}/${f.fleetName}`;
}

function coordinates(v: GateView): string {
    return [
        `displayName=${v.displayName === undefined ? "(none)" : JSON.stringify(v.displayName)}`,
        `stage=${v.stage ?? "(none)"}`,
        `group=${v.group ?? "(none)"}`,
        `timing=${v.timing}`,
    ].join(", ");
}

/** Differences between what an event says and what the resource says (fields that decide rule matching). */
function disagreements(event: GateView, resource: GateView): string[] {
    const out: string[] = [];
    const cmp = (name: string, a: string | undefined, b: string | undefined) => {
        if ((a ?? "").toLowerCase() !== (b ?? "").toLowerCase())
            out.push(`${name}: event ${JSON.stringify(a ?? null)}, gate ${JSON.stringify(b ?? null)}`);
    };
    cmp("displayName", event.displayName, resource.displayName);
    cmp("stage", event.stage, resource.stage);
    cmp("group", event.group, resource.group);
    cmp("timing", event.timing, resource.timing);
    cmp("gateType", event.gateType, resource.gateType);
    if (!sameArmId(event.updateRunId, resource.updateRunId))
        out.push(`target: event ${event.updateRunId}, gate ${resource.updateRunId}`);
    return out;
}

function timeOf(s: string | undefined): number | undefined {
    if (s === undefined) return undefined;
    const t = Date.parse(s);
    return Number.isFinite(t) ? t : undefined;
}

interface Evaluation {
    readonly outcome: Outcome;
    readonly reason?: string;
    readonly rule?: string;
    readonly checks: readonly CheckResult[];
}

/** Everything one decision needs; built per call. */
class Run {
    readonly now: number;
    readonly started = performance.now();
    private readonly log: LogFn;

    constructor(
        readonly deps: EngineDeps,
        readonly trigger: "event" | "sweep",
    ) {
        this.now = (deps.clock ?? Date.now)();
        this.log = deps.log ?? (() => undefined);
    }

    warn(message: string, data?: Record<string, unknown>): void {
        this.log("warn", message, data);
    }

    finish(
        d: Omit<Decision, "trigger" | "latencyMs" | "at" | "checks" | "attempt"> & {
            checks?: readonly CheckResult[];
            attempt?: number;
        },
    ): Decision {
        const decision: Decision = {
            ...d,
            trigger: this.trigger,
            checks: d.checks ?? [],
            attempt: d.attempt ?? 1,
            latencyMs: Math.round(performance.now() - this.started),
            at: new Date(this.now).toISOString(),
        };
        try {
            this.deps.audit?.(auditRecord(decision));
        } catch (e) {
            this.warn("audit sink failed", { error: describeError(e) });
        }
        return decision;
    }

    /** State operations are best effort: approvals never depend on them; failures are logged. */
    async bestEffort<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
        try {
            return await fn();
        } catch (e) {
            this.warn(`state: ${what} failed`, { error: describeError(e) });
            return undefined;
        }
    }
}

function gateFields(
    v: GateView,
): Pick<Decision, "displayName" | "updateRunId" | "stage" | "group" | "timing"> & { gateId: string } {
    const ids = canonicalIds(v);
    return {
        gateId: ids.gateId,
        ...(v.displayName !== undefined ? { displayName: v.displayName } : {}),
        updateRunId: ids.updateRunId,
        ...(v.stage !== undefined ? { stage: v.stage } : {}),
        ...(v.group !== undefined ? { group: v.group } : {}),
        timing: v.timing,
    };
}

function notificationFor(
    v: GateView,
    kind: NotificationKind,
    reason: string,
    rule?: string,
    pendingMinutes?: number,
): Notification {
    return {
        kind,
        gateId: canonicalIds(v).gateId,
        ...(v.displayName !== undefined ? { displayName: v.displayName } : {}),
        updateRun: v.updateRun.updateRunName,
        ...(v.stage !== undefined ? { stage: v.stage } : {}),
        ...(v.group !== undefined ? { group: v.group } : {}),
        timing: v.timing,
        ...(rule !== undefined ? { rule } : {}),
        reason,
        ...(pendingMinutes !== undefined ? { pendingMinutes } : {}),
    };
}

/** Sends a notification at most once per (gate, key): claim, send, release the claim if sending failed. */
async function notifyOnce(run: Run, gateId: string, key: string, n: Notification): Promise<void> {
    const { state, notifier } = run.deps;
    const claimed = await run.bestEffort(`claim ${key}`, () => claimNotification(state, gateId, key, run.now));
    if (!claimed) return;
    try {
        await notifier.notify(n);
    } catch (e) {
        run.warn("notification failed; will try again on the next decision", { gateId, key, error: describeError(e) });
        await run.bestEffort(`release ${key}`, () => releaseNotification(state, gateId, key, run.now));
    }
}

/** Records a non-final outcome for a gate (pending since, why) and escalates once per threshold. */
async function recordOpen(
    run: Run,
    v: GateView,
    status: "held" | "manual" | "pending",
    firstSeen: number | undefined,
    reason: string,
    rule: string | undefined,
): Promise<void> {
    const { state, settings } = run.deps;
    const gateId = canonicalIds(v).gateId;
    const r = await run.bestEffort("record", () =>
        mutate(state, gateId, (cur) => {
            const base = cur ?? newRecord(gateId, run.now, firstSeen ?? run.now);
            const since = Math.min(base.status === "closed" ? run.now : base.firstSeenAt, firstSeen ?? run.now);
            const { closed: _closed, ...rest } = base;
            return {
                ...rest,
                status,
                firstSeenAt: since,
                updatedAt: run.now,
                attempts: base.attempts + 1,
                reason,
                ...(rule !== undefined ? { rule } : {}),
            };
        }),
    );
    const since = r?.record?.firstSeenAt ?? firstSeen;
    if (since === undefined) return;
    const threshold = settings.escalateAfterMinutes;
    const pendingMinutes = Math.floor((run.now - since) / 60_000);
    if (pendingMinutes >= threshold)
        await notifyOnce(
            run,
            gateId,
            `escalated:${threshold}`,
            notificationFor(v, "escalation", reason, rule, pendingMinutes),
        );
}

/** The tombstone of a gate: held state (reason, rule) cleared; notification keys kept. */
function closedRecord(base: GateRecord, now: number, why: NonNullable<GateRecord["closed"]>["why"]): GateRecord {
    const { reason: _reason, rule: _rule, ...rest } = base;
    return { ...rest, status: "closed", updatedAt: now, attempts: base.attempts + 1, closed: { at: now, why } };
}

async function recordClosed(run: Run, v: GateView, why: NonNullable<GateRecord["closed"]>["why"]): Promise<void> {
    const gateId = canonicalIds(v).gateId;
    await run.bestEffort("close", () =>
        mutate(run.deps.state, gateId, (cur) => {
            if (cur?.status === "closed" && cur.closed?.why === why) return undefined;
            return closedRecord(cur ?? newRecord(gateId, run.now), run.now, why);
        }),
    );
}

/**
 * The approval step: a fresh read (or the sweep's listing, when it carries an eTag), the
 * ETag-conditional PATCH, one re-read after a 412. On the event path the resource must agree with
 * the event the rule was matched against.
 */
async function approve(
    run: Run,
    view: GateView,
    listed: GateSnapshot | undefined,
    signal: AbortSignal,
): Promise<{ outcome: Outcome; reason?: string }> {
    const { arm } = run.deps;
    const gateId = canonicalIds(view).gateId;
    const fromList = listed?.eTag !== undefined;
    const snap = fromList ? listed : await arm.getGate(gateId, { abortSignal: signal });
    if (snap === undefined) return { outcome: "ignored", reason: "gate not found (gone: its update run was deleted)" };
    if (!fromList) {
        const diff = disagreements(view, snap.view);
        if (diff.length > 0)
            return {
                outcome: "ignored",
                reason: `event disagrees with the gate resource (${diff.join("; ")}); not approved, the sweep evaluates the resource`,
            };
    }
    const state = snap.view.state;
    if (state === "Completed") return { outcome: "already-completed", reason: "gate is already Completed" };
    if (state !== "Pending") return { outcome: "ignored", reason: `gate is ${state}, not Pending` };
    const r = await arm.patchGateState(gateId, "Completed", snap.eTag, { abortSignal: signal });
    if (r.kind === "not-found") return { outcome: "ignored", reason: "gate not found when approving (gone)" };
    if (r.kind === "done") {
        if (r.gate && r.gate.view.state !== "Completed")
            throw new Transient(`PATCH answered but the gate is ${r.gate.view.state}`);
        return { outcome: "approved" };
    }
    // 412: someone changed the gate since our read. Read once more.
    const again = await arm.getGate(gateId, { abortSignal: signal });
    if (again === undefined) return { outcome: "ignored", reason: "gate not found after an ETag conflict (gone)" };
    if (again.view.state === "Completed")
        return {
            outcome: "already-completed",
            reason: "gate was completed concurrently (ETag conflict, then Completed)",
        };
    if (again.view.state !== "Pending")
        return { outcome: "ignored", reason: `gate is ${again.view.state} after an ETag conflict, not Pending` };
    throw new Transient(`ETag conflict and the gate is still ${again.view.state}`);
}

/** Match, check, approve or hold one Pending Approval gate. Throws on transient failures. */
async function evaluate(
    run: Run,
    view: GateView,
    listed: GateSnapshot | undefined,
    firstSeen: number | undefined,
    signal: AbortSignal,
): Promise<Evaluation> {
    const { settings, arm } = run.deps;
    const gateId = canonicalIds(view).gateId;
    const rules = rulesForGate(settings.rules, view);

    if (rules.length === 0) {
        const reason = `no approval rule matches the gate (${coordinates(view)})`;
        await notifyOnce(run, gateId, "manual", notificationFor(view, "manual", "waiting for a person to approve it"));
        await recordOpen(run, view, "manual", firstSeen, reason, undefined);
        return { outcome: "manual", reason, checks: [] };
    }
    if (rules.length > 1) {
        const names = rules.map((r) => r.name).join(", ");
        const reason = `ambiguous: rules ${names} all match the gate; fix the approval rules`;
        await notifyOnce(run, gateId, "held", notificationFor(view, "held", reason));
        await recordOpen(run, view, "held", firstSeen, reason, names);
        return { outcome: "held", reason, rule: names, checks: [] };
    }

    const rule = rules[0]!;
    const scope = new DecisionScope(arm, view, { abortSignal: signal });
    const checks = await runChecks(
        rule.checks,
        { gate: view, now: run.now, services: { ...run.deps.services, arm }, scope },
        { budget: signal, ...(run.deps.checks ? { registry: run.deps.checks } : {}) },
    );
    const failed = checks.filter((c) => !c.passed && !c.skipped);
    if (failed.length > 0) {
        const first = failed[0]!;
        if (failed.every((c) => c.transient)) {
            const reason = `transient failure in the ${first.type} check: ${first.observed}`;
            await recordOpen(run, view, "pending", firstSeen, reason, rule.name);
            return { outcome: "retry", reason, rule: rule.name, checks };
        }
        const reason = `${first.type} check failed: ${first.observed}`;
        await notifyOnce(run, gateId, "held", notificationFor(view, "held", reason, rule.name));
        await recordOpen(run, view, "held", firstSeen, reason, rule.name);
        return { outcome: "held", reason, rule: rule.name, checks };
    }

    let result: { outcome: Outcome; reason?: string };
    try {
        result = await approve(run, view, listed, signal);
    } catch (e) {
        if (isTransient(e) || signal.aborted) {
            const reason = `transient failure while approving: ${e instanceof Error ? e.message : String(e)}`;
            await recordOpen(run, view, "pending", firstSeen, reason, rule.name);
            return { outcome: "retry", reason, rule: rule.name, checks };
        }
        const reason = `ARM refused: ${e instanceof Error ? e.message : String(e)}`;
        await notifyOnce(run, gateId, "held", notificationFor(view, "held", reason, rule.name));
        await recordOpen(run, view, "held", firstSeen, reason, rule.name);
        return { outcome: "held", reason, rule: rule.name, checks };
    }
    if (result.outcome === "approved" || result.outcome === "already-completed")
        await recordClosed(run, view, result.outcome === "approved" ? "approved" : "completed");
    else if (result.reason?.startsWith("gate not found")) await recordClosed(run, view, "gone");
    return { ...result, rule: rule.name, checks };
}

function subscriptionMatches(deps: EngineDeps, v: GateView): boolean {
    return eq(v.gate.subscriptionId, deps.settings.subscriptionId);
}

/** Decides one delivered event (parsed with `parseGateEvents`, or a `GateEvent`). Never throws. */
export async function decide(
    input: GateEventParse | GateEvent,
    deps: EngineDeps,
    options: DecideOptions = {},
): Promise<Decision> {
    const run = new Run(deps, "event");
    const parsed: GateEventParse = "ok" in input ? input : { ok: true, event: input };
    if (!parsed.ok) {
        return run.finish({
            outcome: parsed.disposition === "ignored" ? "ignored" : "rejected",
            reason: parsed.reason,
            ...(parsed.eventId !== undefined ? { eventId: parsed.eventId } : {}),
            ...(options.attempt !== undefined ? { attempt: options.attempt } : {}),
        });
    }
    const ev = parsed.event;
    const base = { eventId: ev.eventId, eventType: ev.eventType, ...gateFields(ev) };
    const { settings } = deps;
    if (!subscriptionMatches(deps, ev))
        return run.finish({
            ...base,
            outcome: "ignored",
            reason: `subscription ${ev.gate.subscriptionId} is not this handler's (${settings.subscriptionId})`,
            ...(options.attempt !== undefined ? { attempt: options.attempt } : {}),
        });
    if (!sameFleet(ev.gate, settings.fleet))
        return run.finish({
            ...base,
            outcome: "ignored",
            reason: `gate of fleet ${fleetLabel(ev.gate)}; this handler serves ${fleetLabel(settings.fleet)}`,
            ...(options.attempt !== undefined ? { attempt: options.attempt } : {}),
        });

    const gateId = base.gateId;
    const existing = await run.bestEffort("read", () => deps.state.read(gateId));
    const attempt = options.attempt ?? (existing?.value.attempts ?? 0) + 1;

    // Lifecycle events: tombstone, so a late or duplicated Created event does not re-open the gate.
    if (ev.kind !== "created") {
        const why =
            ev.kind === "deleted"
                ? "deleted"
                : ev.state === "Completed"
                  ? "completed"
                  : ev.state === "Skipped"
                    ? "skipped"
                    : undefined;
        if (why === undefined)
            return run.finish({
                ...base,
                attempt,
                outcome: "ignored",
                reason: `gate updated, state ${ev.state}: nothing to do`,
            });
        try {
            await mutate(deps.state, gateId, (cur) => {
                if (cur?.status === "closed") return undefined;
                return closedRecord(cur ?? newRecord(gateId, run.now), run.now, why);
            });
        } catch (e) {
            if (isTransient(e))
                return run.finish({
                    ...base,
                    attempt,
                    outcome: "retry",
                    reason: `state cleanup failed: ${describeError(e)}`,
                });
            throw e;
        }
        const what = ev.kind === "deleted" ? "gate deleted (its update run was deleted)" : `gate ${ev.state}`;
        return run.finish({ ...base, attempt, outcome: "ignored", reason: `${what}: held state cleared` });
    }

    if (!eq(ev.gateType, "Approval"))
        return run.finish({
            ...base,
            attempt,
            outcome: "ignored",
            reason: `gate type ${ev.gateType} is not decided by this handler`,
        });
    if (ev.state !== "Pending")
        return run.finish({
            ...base,
            attempt,
            outcome: "ignored",
            reason: `gate is ${ev.state} in the event, not Pending`,
        });
    const closed = existing?.value.status === "closed" ? existing.value.closed : undefined;
    if (closed !== undefined) {
        if (closed.why === "approved" || closed.why === "completed")
            return run.finish({
                ...base,
                attempt,
                outcome: "already-completed",
                reason: `gate was ${closed.why} at ${new Date(closed.at).toISOString()}`,
            });
        return run.finish({
            ...base,
            attempt,
            outcome: "ignored",
            reason: `gate was ${closed.why} at ${new Date(closed.at).toISOString()}`,
        });
    }

    return evaluateWithinBudget(run, ev, undefined, timeOf(ev.resourceEventTime) ?? timeOf(ev.eventTime), {
        ...base,
        attempt,
    });
}

/**
 * Evaluates a gate within the decision budget. An exception is `retry` when transient or out of
 * budget (Event Grid or the next sweep tries again), `held` otherwise. Never throws.
 */
async function evaluateWithinBudget(
    run: Run,
    view: GateView,
    listed: GateSnapshot | undefined,
    firstSeen: number | undefined,
    fields: ReturnType<typeof gateFields> & { attempt: number },
): Promise<Decision> {
    const budget = deadline(run.deps.settings.decisionBudgetMs ?? DEFAULT_BUDGET_MS);
    try {
        const since = firstSeen !== undefined && firstSeen <= run.now ? firstSeen : undefined;
        const e = await evaluate(run, view, listed, since, budget.signal);
        return run.finish({ ...fields, ...e });
    } catch (e) {
        const transient = isTransient(e) || budget.signal.aborted;
        return run.finish({
            ...fields,
            outcome: transient ? "retry" : "held",
            reason: `${transient ? "transient failure" : "unexpected error"}: ${describeError(e)}`,
        });
    } finally {
        budget.dispose();
    }
}

/** Evaluates one listed gate in a sweep. Never throws. */
async function sweepOne(run: Run, snap: GateSnapshot): Promise<Decision> {
    const { deps } = run;
    const v = snap.view;
    const base = gateFields(v);
    const existing = await run.bestEffort("read", () => deps.state.read(base.gateId));
    const attempt = (existing?.value.attempts ?? 0) + 1;
    return evaluateWithinBudget(run, v, snap, timeOf(snap.createdAt), { ...base, attempt });
}

/**
 * Lists the fleet's gates and re-evaluates every Pending Approval gate (bounded concurrency). A
 * failed listing gives one `retry` decision without a gate. Never throws.
 */
export async function sweep(deps: EngineDeps): Promise<Decision[]> {
    const listRun = new Run(deps, "sweep");
    const budget = deadline(deps.listBudgetMs ?? 60_000);
    let listed: { gates: GateSnapshot[]; invalid: string[] };
    try {
        listed = await deps.arm.listGates(deps.settings.fleet, { abortSignal: budget.signal });
    } catch (e) {
        return [
            listRun.finish({
                outcome: "retry",
                reason: `listing the gates of ${formatFleetId(deps.settings.fleet)} failed: ${describeError(e)}`,
            }),
        ];
    } finally {
        budget.dispose();
    }
    for (const reason of listed.invalid)
        listRun.warn("sweep: skipped a gate resource that failed validation", { reason });
    const candidates = listed.gates.filter(
        (g) =>
            sameFleet(g.view.gate, deps.settings.fleet) &&
            subscriptionMatches(deps, g.view) &&
            g.view.state === "Pending" &&
            eq(g.view.gateType, "Approval"),
    );
    return mapLimit(candidates, deps.sweepConcurrency ?? 8, (g) => sweepOne(new Run(deps, "sweep"), g));
}
