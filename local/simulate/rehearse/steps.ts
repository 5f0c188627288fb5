/**
 * The steps of Fleet's order, one function each, as the rehearsal walks an update run: the run
 * (stages one after another, then an optional deletion), a stage (Before gates, groups in parallel
 * within the stage's concurrency, After gates, the wait), a group (Before gates, member upgrades,
 * After gates), the members' upgrade, a gate (created, routed, then approved by the handler, by a
 * person, or by the sweep, or stuck) and the sweep that re-checks a held gate.
 */
import { sameArmId } from "../../../core/arm-id";
import { explainFilter, type JsonObject } from "../../../core/event-filter";
import { rulesForGate, type GateTiming } from "../../../core/rules";
import type { GatePosition } from "../../../core/strategy";
import type { StackConfig } from "../../../config";
import type { EmulatorGate } from "../../emulators/arm";
import { toCloudEvent, type Delivery } from "../../emulators/event-grid";
import { Semaphore } from "../scheduler";
import type { Simulator } from "./simulator";
import { positionKey, type RehearsalOutcome } from "./types";
import { nextSweepAt, resolveConcurrency } from "./world";

type StrategyStage = StackConfig["updateStrategy"]["stages"][number];
type StrategyGroup = StrategyStage["groups"][number];

/** The update run: its stages in order until one cannot complete; then late deliveries and, on demand, its deletion. */
export async function walkRun(sim: Simulator): Promise<void> {
    await sim.sched.spawn(async () => {
        if (sim.setup.newVersion !== undefined && !(await sim.announceNewVersion())) {
            sim.ended();
            return;
        }
        for (const stage of sim.setup.cfg.updateStrategy.stages) if (!(await runStage(sim, stage))) break;
        sim.ended();
        await sim.drainLate();
        if (sim.setup.opts.deleteRun) {
            await deleteRun(sim);
            await sim.drainLate();
        }
    });
}

/** A stage: its Before gates, its groups in parallel (within its maxConcurrency), its After gates, its wait. */
export async function runStage(sim: Simulator, stage: StrategyStage): Promise<boolean> {
    for (const g of stage.beforeGates ?? [])
        if (!(await passGate(sim, { stage: stage.name, timing: "Before", displayName: g.displayName }))) return false;
    const stageMembers = stage.groups.reduce((n, g) => n + sim.membersOf(g.name).length, 0);
    const slots =
        stage.maxConcurrency !== undefined && stageMembers > 0
            ? new Semaphore(sim.sched, resolveConcurrency(stage.maxConcurrency, stageMembers))
            : undefined;
    // Fleet runs the groups of a stage in parallel.
    const done = await sim.sched.all(stage.groups.map((g) => sim.sched.spawn(() => runGroup(sim, stage, g, slots))));
    if (!done.every(Boolean)) return false;
    for (const g of stage.afterGates ?? [])
        if (!(await passGate(sim, { stage: stage.name, timing: "After", displayName: g.displayName }))) return false;
    const wait = stage.afterStageWaitInSeconds ?? 0;
    if (wait > 0) {
        sim.note({
            stage: stage.name,
            group: null,
            gate: null,
            subscription: null,
            decision: "wait",
            reason: `afterStageWaitInSeconds ${wait}`,
        });
        await sim.sched.sleep(wait * 1000);
    }
    return true;
}

/** A group: its Before gates, the upgrade of its members, its After gates. */
export async function runGroup(
    sim: Simulator,
    stage: StrategyStage,
    group: StrategyGroup,
    slots?: Semaphore,
): Promise<boolean> {
    const pos = (timing: GateTiming, displayName: string): GatePosition => ({
        stage: stage.name,
        group: group.name,
        timing,
        displayName,
    });
    for (const g of group.beforeGates ?? []) if (!(await passGate(sim, pos("Before", g.displayName)))) return false;
    await upgradeMembers(sim, stage, group, slots);
    for (const g of group.afterGates ?? []) if (!(await passGate(sim, pos("After", g.displayName)))) return false;
    return true;
}

/** The group's members upgrade: `upgradeMinutes` each, maxConcurrency at a time, within the stage's slots. */
export async function upgradeMembers(
    sim: Simulator,
    stage: StrategyStage,
    group: StrategyGroup,
    stageSlots?: Semaphore,
): Promise<void> {
    const { failing, upgradeMinutes } = sim.setup;
    const members = sim.membersOf(group.name);
    if (members.length === 0) return;
    const concurrency = resolveConcurrency(group.maxConcurrency, members.length);
    const where = { stage: stage.name, group: group.name, gate: null, subscription: null };
    sim.note({
        ...where,
        decision: "upgrading",
        reason: `${members.length} member(s), ${concurrency} at a time, ${upgradeMinutes} min each`,
    });
    let next = 0;
    const worker = async () => {
        while (next < members.length) {
            const m = members[next++]!;
            if (stageSlots) await stageSlots.acquire();
            sim.emu.setMember(m.name, { updateState: "Running" });
            await sim.sched.sleep(upgradeMinutes * 60_000);
            const fails = failing.has(m.name.toLowerCase());
            // AKS reports the failed roll on the cluster's topic before Fleet marks the member Failed.
            if (fails) await sim.nodePoolFailed(m.name);
            sim.emu.setMember(m.name, { updateState: fails ? "Failed" : "Completed" });
            stageSlots?.release();
        }
    };
    await sim.sched.all(Array.from({ length: concurrency }, () => sim.sched.spawn(worker)));
    const failed = members.filter((m) => failing.has(m.name.toLowerCase())).map((m) => m.name);
    sim.note({
        ...where,
        decision: "upgraded",
        reason:
            `${members.length - failed.length}/${members.length} member(s) Completed` +
            (failed.length > 0 ? `; Failed: ${failed.join(", ")}` : ""),
    });
}

/** A gate on its way through the rehearsal: where it is, what routed it, the rule deciding it. */
interface GateVisit {
    readonly pos: GatePosition;
    readonly where: { readonly stage: string; readonly group: string | null; readonly gate: string };
    readonly gate: EmulatorGate;
    /** FleetGateCreated as published. */
    readonly created: JsonObject;
    /** The approval rules matching the gate. */
    readonly rules: readonly { readonly name: string }[];
    /** Rule subscriptions whose filter matched FleetGateCreated. */
    readonly routedNames: string[];
    /** Their first (not duplicate) deliveries. */
    readonly routed: readonly Delivery[];
    rule: string | null;
}

/** One gate, from creation to Completed; false when the run cannot pass it (stuck). */
export async function passGate(sim: Simulator, pos: GatePosition): Promise<boolean> {
    const visit = await createGate(sim, pos);
    const { rules } = visit;
    if (visit.routedNames.length === 0 && rules.length > 0) return unrouted(sim, visit);
    const handlerSaysManual = visit.routed.some((d) => sim.decisionsOf(d).some((x) => x.outcome === "manual"));
    if (!sim.completed(visit.gate.id) && (rules.length === 0 || handlerSaysManual)) {
        if (!sim.setup.opts.approveManual)
            return stop(sim, visit, "manual", "manual gate: no approval rule decides it; the run waits for a person");
        sim.emu.setGateState(visit.gate.id, "Completed");
        sim.note({
            ...visit.where,
            subscription: "person",
            decision: "approved",
            reason: "manual gate approved by a person",
        });
        record(sim, visit, "manual");
    } else {
        if (!(await sweepUntilApproved(sim, visit))) return false;
        record(sim, visit, "approved");
    }
    // The gate is Completed: the service announces it.
    await sim.publish([sim.gateEvent(pos, visit.gate.name, "updated")]);
    return true;
}

/** Fleet creates the gate Pending and publishes FleetGateCreated; the handler gets it where a filter routes it. */
async function createGate(sim: Simulator, pos: GatePosition): Promise<GateVisit> {
    sim.reached.add(positionKey(pos));
    const where = { stage: pos.stage, group: pos.group ?? null, gate: pos.displayName };
    const gateName = sim.nextGateName(pos);
    const gate = sim.emu.addGate({
        fleetId: sim.setup.fleetId,
        name: gateName,
        displayName: pos.displayName,
        gateType: "Approval",
        state: "Pending",
        target: {
            id: sim.setup.runId,
            updateRunProperties: {
                name: sim.setup.runName,
                stage: pos.stage,
                ...(pos.group !== undefined ? { group: pos.group } : {}),
                timing: pos.timing,
            },
        },
    });
    sim.positions.set(gate.id.toLowerCase(), pos);
    sim.note({ ...where, subscription: null, decision: "created", reason: `gate ${gateName} Pending` });

    const rules = rulesForGate(sim.setup.cfg.approvals, pos);
    const created = sim.gateEvent(pos, gateName, "created");
    const published = await sim.publish([created]);
    const ruleSubs = new Set(sim.setup.subscriptions.filter((s) => !s.lifecycle).map((s) => s.name));
    const routedNames = (published.routed[0] ?? []).filter((n) => ruleSubs.has(n));
    const routed = published.deliveries.filter((d) => ruleSubs.has(d.subscription) && !d.duplicate);
    let rule: string | null = rules[0]?.name ?? null;
    for (const d of routed) {
        const last = sim.decisionsOf(d).at(-1);
        if (last?.rule !== undefined) rule = last.rule;
    }
    return { pos, where, gate, created, rules, routedNames, routed, rule };
}

/** A gate a rule matches but no rule subscription's filter routes: stuck, with each filter's reason. */
function unrouted(sim: Simulator, visit: GateVisit): false {
    const { created, rules } = visit;
    const why = sim.setup.subscriptions
        .filter((s) => !s.lifecycle)
        .map((s) => {
            const event = s.schema === "CloudEventSchemaV1_0" ? toCloudEvent(created) : created;
            return `${s.name}: ${explainFilter(s.filter, event, s.schema).reason ?? "?"}`;
        });
    const wanted = rules.map((r) => r.name).join(", ");
    sim.note({ ...visit.where, subscription: null, decision: "unrouted", reason: null });
    return stop(
        sim,
        visit,
        "unrouted",
        `rule ${wanted} matches the gate but no rule subscription's filter routes FleetGateCreated` +
            (why.length > 0 ? ` (${why.join("; ")})` : " (no rule subscriptions in the plan)"),
    );
}

/** A reason with its numbers blanked: what changes between two sweeps' reasons when nothing really changed. */
function shape(reason: string | undefined): string {
    return (reason ?? "").replace(/\d+/g, "#").replace(/\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b/g, "#");
}

/**
 * The handler's reconcile sweep re-checks a held gate on its timer's grid until it is Completed;
 * false (stuck) when the horizon comes first.
 */
async function sweepUntilApproved(sim: Simulator, visit: GateVisit): Promise<boolean> {
    const { gate } = visit;
    const { cfg, horizonHours, opts } = sim.setup;
    let lastReason = visit.routed
        .flatMap((d) => sim.decisionsOf(d))
        .map((d) => d.reason)
        .pop();
    let sweepCount = 0;
    let progressAt = sim.clock.now();
    while (!sim.completed(gate.id)) {
        const next = nextSweepAt(sim.clock.now(), cfg.handler.sweepMinutes);
        if (next > sim.horizon) {
            await sim.sched.sleepUntil(sim.horizon);
            if (sim.completed(gate.id)) break;
            return stop(
                sim,
                visit,
                "held",
                `held until the horizon (${horizonHours} h, ${sweepCount} sweep(s)): ${lastReason ?? "checks failing"}`,
            );
        }
        await sim.sched.sleepUntil(next);
        // A late (duplicate or retried) delivery may have approved it meanwhile.
        if (sim.completed(gate.id)) break;
        sweepCount++;
        const decisions = await sim.sweepAt(next);
        const mine = decisions.find((d) => d.gateId?.toLowerCase() === gate.id.toLowerCase());
        // One line per change of outcome or kind of reason (times and counts inside reasons vary).
        if (mine && (mine.outcome === "approved" || shape(mine.reason) !== shape(lastReason))) {
            if (mine.rule !== undefined) visit.rule = mine.rule;
            sim.note({
                ...visit.where,
                subscription: "sweep",
                decision: mine.outcome,
                reason:
                    mine.outcome === "approved" ? `checks passed after ${sweepCount} sweep(s)` : (mine.reason ?? null),
            });
            lastReason = mine.reason;
        }
        if (opts.onProgress && sim.clock.now() - progressAt >= 24 * 3_600_000) {
            progressAt = sim.clock.now();
            opts.onProgress(
                `  … ${visit.pos.displayName}: still held at ${sim.at()} (${sweepCount} sweeps): ${lastReason ?? ""}`,
            );
        }
    }
    return true;
}

function record(sim: Simulator, visit: GateVisit, outcome: RehearsalOutcome): void {
    const { pos } = visit;
    sim.gates.push({
        stage: pos.stage,
        group: visit.where.group,
        timing: pos.timing,
        displayName: pos.displayName,
        rule: visit.rule,
        subscriptions: visit.routedNames,
        outcome,
    });
}

/** The run cannot pass this gate: recorded with its outcome and reported stuck. */
function stop(sim: Simulator, visit: GateVisit, outcome: RehearsalOutcome, reason: string): false {
    record(sim, visit, outcome);
    const { pos, where } = visit;
    sim.stuck.push({ displayName: pos.displayName, stage: pos.stage, group: where.group, reason });
    sim.note({ ...where, subscription: null, decision: "stuck", reason });
    return false;
}

/** A person deletes the update run: Fleet deletes its gates and announces each (FleetGateDeleted). */
export async function deleteRun(sim: Simulator): Promise<void> {
    const runGates = sim.emu.gates().filter((g) => sameArmId(g.target.id, sim.setup.runId));
    sim.emu.deleteUpdateRun(sim.setup.fleetId, sim.setup.runName);
    sim.note({
        stage: sim.setup.runName,
        group: null,
        gate: null,
        subscription: "person",
        decision: "run deleted",
        reason: `the update run is deleted; Fleet deletes its ${runGates.length} gate(s) and publishes FleetGateDeleted`,
    });
    const events = runGates.flatMap((g) => {
        const pos = sim.positions.get(g.id.toLowerCase());
        return pos ? [sim.gateEvent(pos, g.name, "deleted", g.state === "Completed" ? "Completed" : "Pending")] : [];
    });
    if (events.length > 0) await sim.publish(events);
}
