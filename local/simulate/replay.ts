/**
 * `npm run replay`: push recorded gate events through the real handler (its Event Grid trigger,
 * engine, ARM client and checks) against the loopback ARM emulator, seeded from a stack.
 *
 * Seeding: the stack's fleet with healthy members; for every update run the events name, a running
 * run built from the stack's strategy, in which the members before the furthest gate the events
 * reach have updated successfully; a Pending gate for every FleetGateCreated event of the fleet.
 * With `fleet-gates:upgradeEvents`, AKS upgrade events go to the same trigger: the handler gets the
 * stack's `UPGRADE_EVENTS`, the emulator the stack's strategy (so a started run is built from it) and
 * each member's configured `kubernetesVersion` (default the emulator's 1.33.0).
 */
import type { HttpClient } from "@azure/core-rest-pipeline";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fleetId as fleetIdOf, gateId as gateIdOf } from "../../core/arm-id";
import { isAksUpgradeEvent } from "../../core/aks-event";
import { parseGateEvents, type GateEvent } from "../../core/gate-event";
import { upgradeEventsSetting } from "../../core/upgrade-events";
import type { Announcement } from "../../handlers/gate-approval/src/upgrade/announcer";
import type { GatePosition, StageSpec } from "../../core/strategy";
import { parseConfigMap } from "../../config";
import type { Decision, Outcome } from "../../handlers/gate-approval/src/audit";
import { RedeliveryRequested } from "../../handlers/gate-approval/src/event-handler";
import { createHandlerHttpClient } from "../../handlers/gate-approval/src/http-client";
import type { Notification } from "../../handlers/gate-approval/src/notifier";
import { managedClusterId } from "../../components/fleet";
import { ArmEmulator, type EmulatorGate, type MemberState, type UpdateRunSpec } from "../emulators/arm";
import { ArmEmulatorRemote } from "../emulators/arm/worker";
import { OFFLINE_DEFAULTS } from "../plan/mocks";
import { offlineHandler } from "./offline-handler";
import { loadStackFile } from "../plan/stack-file";
import { PROJECT_ROOT } from "../plan/plan";

/** The `--json` contract: one object per event, in order (README, DESIGN.md). */
export interface ReplayDecision {
    readonly eventId: string | null;
    readonly gateId: string | null;
    readonly outcome: Outcome;
    readonly rule: string | null;
    readonly reason: string | null;
}

export interface ReplayOptions {
    readonly stack: string;
    /** The events: a JSON array, one JSON object, or JSON lines; either schema; batches flattened. */
    readonly events: readonly unknown[];
    /** Fixes the handler's clock (window checks); default: the real clock. */
    readonly now?: Date;
    /** Directory of `Pulumi.<stack>.yaml`; default: the project root. */
    readonly dir?: string;
    /**
     * Events handled at once, as the Functions host handles concurrent deliveries (default 1: strictly
     * in order). Decisions are reported in event order either way.
     */
    readonly concurrency?: number;
    /**
     * Where the emulator runs: "in-process" (default) shares the handler's thread; "worker" runs it in a
     * worker thread (its own core), for throughput measurements.
     */
    readonly emulator?: "in-process" | "worker";
}

export interface ReplayResult {
    readonly stack: string;
    readonly fleetId: string;
    readonly decisions: ReplayDecision[];
    readonly notifications: readonly Notification[];
    /** AKS upgrade event messages (new versions, support escalations, failed node pools). */
    readonly announcements: readonly Announcement[];
    /** Requests the handler made to the emulator, gate PATCHes that changed state, token acquisitions. */
    readonly requests: number;
    readonly patches: number;
    readonly tokenAcquisitions: number;
    /** Time each event spent in the handler, in ms, in order. */
    readonly handlerMs: number[];
    /** Of that, time spent waiting on HTTP (the emulator), in ms: the rest is the handler's own work. */
    readonly transportMs: number[];
    /** Time from the first event to the last decision. */
    readonly wallMs: number;
    /** When each event's decisions were in, in ms since the first event started, in event order. */
    readonly completedMs: number[];
    /** Every request the emulator answered, by route (for request budgets). */
    readonly requestLog: readonly { route: string; status: number | string }[];
}

/** The handler's own HTTP client, measuring the wall time during which at least one request is in flight. */
function timedHttpClient(): HttpClient & { busyMs(): number; close(): Promise<void> } {
    const inner = createHandlerHttpClient();
    let inFlight = 0;
    let since = 0;
    let busy = 0;
    return {
        busyMs: () => busy + (inFlight > 0 ? performance.now() - since : 0),
        close: () => inner.close(),
        async sendRequest(request) {
            if (inFlight++ === 0) since = performance.now();
            try {
                return await inner.sendRequest(request);
            } finally {
                if (--inFlight === 0) busy += performance.now() - since;
            }
        },
    };
}

export class ReplayInputError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ReplayInputError";
    }
}

/** Events from a file's text: a JSON array (batches flattened), a single JSON object, or JSON lines. */
export function parseEventsText(text: string, file = "events"): unknown[] {
    const trimmed = text.trim();
    if (trimmed === "") throw new ReplayInputError(`${file}: no events`);
    let doc: unknown;
    try {
        doc = JSON.parse(trimmed);
    } catch {
        doc = trimmed.split(/\r?\n/).flatMap((line, i) => {
            if (line.trim() === "") return [];
            try {
                return [JSON.parse(line) as unknown];
            } catch (e) {
                throw new ReplayInputError(`${file}:${i + 1}: not JSON: ${(e as Error).message}`);
            }
        });
    }
    const list = Array.isArray(doc) ? doc : [doc];
    return list.flatMap((e) => (Array.isArray(e) ? (e as unknown[]) : [e]));
}

export function readEventsFile(file: string): unknown[] {
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch (e) {
        throw new ReplayInputError(`${file}: ${(e as Error).message}`);
    }
    return parseEventsText(text, file);
}

/** Groups whose members have completed their update when a run reaches `gate`. */
export function groupsCompletedAt(stages: readonly StageSpec[], gate: GatePosition): Set<string> {
    const done = new Set<string>();
    for (const stage of stages) {
        if (stage.name === gate.stage) {
            if (gate.group === undefined && gate.timing === "After") stage.groups.forEach((g) => done.add(g.name));
            if (gate.group !== undefined && gate.timing === "After") done.add(gate.group);
            break;
        }
        stage.groups.forEach((g) => done.add(g.name));
    }
    return done;
}

/** What `samePosition` compares, as one key: events with equal keys are at the same position. */
function positionKey(e: GateEvent): string {
    return [e.stage ?? "", e.group ?? "", e.timing, e.displayName ?? ""].join("\u0000").toLowerCase();
}

function samePosition(g: GatePosition, e: GateEvent): boolean {
    const eq = (a: string | undefined, b: string | undefined) => (a ?? "").toLowerCase() === (b ?? "").toLowerCase();
    return eq(g.stage, e.stage) && eq(g.group, e.group) && g.timing === e.timing && eq(g.displayName, e.displayName);
}

function toReplayDecision(d: Decision): ReplayDecision {
    return {
        eventId: d.eventId ?? null,
        gateId: d.gateId ?? null,
        outcome: d.outcome,
        rule: d.rule ?? null,
        reason: d.outcome === "approved" ? null : (d.reason ?? d.outcome),
    };
}

/** The part of the emulator replay uses, in-process or in a worker thread. */
interface ReplayEmulator {
    readonly url: string;
    readonly ca: string | undefined;
    addFleet(fleetId: string): unknown;
    addMember(fleetId: string, member: MemberState): unknown;
    putUpdateRun(spec: UpdateRunSpec): unknown;
    putUpdateStrategy(fleetId: string, name: string, stages: UpdateRunSpec["stages"]): unknown;
    addGates(gates: (Omit<EmulatorGate, "eTag" | "id"> & { fleetId: string })[]): unknown;
    requests(): Promise<{ route: string; status: number | string }[]>;
    patchCount(): Promise<number>;
    stop(): Promise<void>;
}

async function startEmulator(where: "in-process" | "worker"): Promise<ReplayEmulator> {
    if (where === "worker") return ArmEmulatorRemote.start({ tls: true });
    const emu = await ArmEmulator.start({ tls: true });
    return {
        url: emu.url,
        ca: emu.ca,
        addFleet: (fleetId) => emu.addFleet(fleetId),
        addMember: (fleetId, member) => emu.addMember(fleetId, member),
        putUpdateRun: (spec) => emu.putUpdateRun(spec),
        putUpdateStrategy: (fleetId, name, stages) => emu.putUpdateStrategy(fleetId, name, stages),
        addGates: (gates) => gates.map((g) => emu.addGate(g)),
        requests: () => Promise.resolve(emu.requests.map((q) => ({ route: q.route, status: q.status }))),
        patchCount: () => Promise.resolve(emu.patchCount),
        stop: () => emu.stop(),
    };
}

/**
 * Seeds the emulator from the stack and the events: its fleet with healthy members (those of groups
 * before the furthest gate reached have updated), the update runs the events name, and a Pending
 * gate per FleetGateCreated.
 */
async function seedEmulator(
    emu: ReplayEmulator,
    cfg: ReturnType<typeof parseConfigMap>,
    fleetId: string,
    subscriptionId: string,
    created: readonly GateEvent[],
): Promise<void> {
    // Thousands of events name a few gate positions: look each position up once.
    const completed = new Set<string>();
    const positions = new Map<string, GateEvent>();
    for (const e of created) positions.set(positionKey(e), e);
    for (const e of positions.values()) {
        const position = cfg.gates.find((g) => samePosition(g, e));
        if (position) groupsCompletedAt(cfg.updateStrategy.stages, position).forEach((g) => completed.add(g));
    }

    // Seeding calls are sent in order (a worker answers them in order): await them all at once.
    const seeding: unknown[] = [emu.addFleet(fleetId)];
    for (const m of cfg.members) {
        seeding.push(
            emu.addMember(fleetId, {
                name: m.name,
                clusterResourceId: managedClusterId(subscriptionId, cfg.resourceGroupName, m.name),
                group: m.group,
                updateState: completed.has(m.group) ? "Completed" : "NotStarted",
                provisioningState: "Succeeded",
                powerState: "Running",
                ...(m.kubernetesVersion !== undefined ? { kubernetesVersion: fullVersion(m.kubernetesVersion) } : {}),
            }),
        );
    }
    const stages = cfg.updateStrategy.stages.map((s) => ({
        name: s.name,
        groups: s.groups.map((g) => ({
            name: g.name,
            members: cfg.members.filter((m) => m.group === g.name).map((m) => m.name),
        })),
    }));
    for (const run of new Set(created.map((e) => e.updateRun.updateRunName)))
        seeding.push(emu.putUpdateRun({ fleetId, name: run, stages }));
    // The strategy a run started for an AKS upgrade event is built from (gates included).
    if (cfg.upgradeEvents) seeding.push(emu.putUpdateStrategy(fleetId, cfg.updateStrategy.name, strategyStages(cfg)));
    // All gates in one call: a worker answering thousands of messages one by one costs a second.
    const gates = new Map<string, Parameters<ReplayEmulator["addGates"]>[0][number]>();
    for (const e of created) {
        if (e.gateType !== "Approval" || gates.has(e.gate.gateName)) continue;
        gates.set(e.gate.gateName, {
            fleetId,
            name: e.gate.gateName,
            ...(e.displayName !== undefined ? { displayName: e.displayName } : {}),
            gateType: "Approval",
            state: "Pending",
            target: {
                id: e.updateRunId,
                updateRunProperties: {
                    name: e.updateRun.updateRunName,
                    ...(e.stage !== undefined ? { stage: e.stage } : {}),
                    ...(e.group !== undefined ? { group: e.group } : {}),
                    timing: e.timing,
                },
            },
        });
    }
    if (gates.size > 0) seeding.push(emu.addGates([...gates.values()]));
    await Promise.all(seeding);
}

/** `1.33` → `1.33.0`: a member configured with a minor runs its first patch, as far as replay knows. */
function fullVersion(v: string): string {
    return /^\d+\.\d+$/.test(v) ? `${v}.0` : v;
}

/** The stack's strategy as emulator stages, with its gates. */
function strategyStages(cfg: ReturnType<typeof parseConfigMap>): UpdateRunSpec["stages"] {
    const gates = (gs: readonly { displayName: string }[] | undefined) =>
        (gs ?? []).map((g) => ({ displayName: g.displayName, type: "Approval" as const }));
    return cfg.updateStrategy.stages.map((s) => ({
        name: s.name,
        groups: s.groups.map((g) => ({
            name: g.name,
            members: cfg.members.filter((m) => m.group === g.name).map((m) => m.name),
            beforeGates: gates(g.beforeGates),
            afterGates: gates(g.afterGates),
        })),
        beforeGates: gates(s.beforeGates),
        afterGates: gates(s.afterGates),
    }));
}

/** The handler's `UPGRADE_EVENTS` for the stack, as the program writes it; undefined when not configured. */
export function stackUpgradeEvents(
    cfg: ReturnType<typeof parseConfigMap>,
    fleetId: string,
    subscriptionId: string,
): string | undefined {
    if (!cfg.upgradeEvents) return undefined;
    return upgradeEventsSetting(
        cfg.upgradeEvents,
        `${fleetId}/updateStrategies/${cfg.updateStrategy.name}`,
        cfg.members.map((m) => ({
            name: m.name,
            clusterId: managedClusterId(subscriptionId, cfg.resourceGroupName, m.name),
            group: m.group,
        })),
    );
}

/**
 * The valid FleetGateCreated events among `events` (batches flattened) for gates of the stack's fleet
 * (the fleet id begins with its subscription, so the prefix also checks that).
 */
function createdGateEvents(events: readonly unknown[], fleetId: string): GateEvent[] {
    const prefix = `${fleetId.toLowerCase()}/`;
    return events
        .flatMap((e) =>
            parseGateEvents(Array.isArray(e) ? e.filter((x) => !isAksUpgradeEvent(x)) : isAksUpgradeEvent(e) ? [] : e),
        )
        .flatMap((p) => (p.ok && p.event.kind === "created" ? [p.event] : []))
        .filter((e) => gateIdOf(e.gate).toLowerCase().startsWith(prefix));
}

/** Seeds the emulator from the stack and the events, then runs every event through the handler. */
export async function replay(opts: ReplayOptions): Promise<ReplayResult> {
    const file = loadStackFile(opts.stack, opts.dir ?? PROJECT_ROOT);
    const cfg = parseConfigMap(file.config, file.secretKeys);
    const subscriptionId = file.config["azure-native:subscriptionId"] ?? OFFLINE_DEFAULTS.subscriptionId;
    const fleet = { subscriptionId, resourceGroup: cfg.resourceGroupName, fleetName: cfg.fleet.name };
    const fleetId = fleetIdOf(fleet);

    // The emulator boots (a worker thread loading its modules) while this thread reads the events.
    const starting = startEmulator(opts.emulator ?? "in-process");
    let created: GateEvent[];
    try {
        created = createdGateEvents(opts.events, fleetId);
    } catch (e) {
        await (await starting).stop();
        throw e;
    }
    const emu = await starting;
    const httpClient = timedHttpClient();
    try {
        await seedEmulator(emu, cfg, fleetId, subscriptionId, created);

        const now = opts.now?.getTime();
        const offline = offlineHandler({
            fleetId,
            subscriptionId,
            approvals: cfg.approvals,
            escalateAfterMinutes: cfg.handler.escalateAfterMinutes,
            emulator: emu,
            httpClient,
            ...(cfg.upgradeEvents ? { upgradeEvents: stackUpgradeEvents(cfg, fleetId, subscriptionId)! } : {}),
            ...(now !== undefined ? { clock: () => now } : {}),
        });

        const perEvent: { decisions: ReplayDecision[]; ms: number; transport: number; done: number }[] = [];
        let wallStart = 0;
        const handle = async (event: unknown, i: number) => {
            const context = offline.context(`replay-${i + 1}`);
            const httpBefore = httpClient.busyMs();
            const t0 = performance.now();
            let result: readonly Decision[];
            try {
                result = await offline.trigger(event, context);
            } catch (e) {
                if (!(e instanceof RedeliveryRequested)) throw e;
                result = e.decisions;
            }
            const done = performance.now();
            perEvent[i] = {
                decisions: result.map(toReplayDecision),
                ms: done - t0,
                transport: httpClient.busyMs() - httpBefore,
                done: done - wallStart,
            };
        };
        const width = Math.max(1, opts.concurrency ?? 1);
        let next = 0;
        wallStart = performance.now();
        await Promise.all(
            Array.from({ length: Math.min(width, opts.events.length) }, async () => {
                while (next < opts.events.length) {
                    const i = next++;
                    await handle(opts.events[i], i);
                }
            }),
        );
        const wallMs = performance.now() - wallStart;
        const decisions = perEvent.flatMap((e) => e.decisions);
        const handlerMs = perEvent.map((e) => e.ms);
        // With concurrency, transport time overlaps other events' work: only meaningful at width 1.
        const transportMs = perEvent.map((e) => e.transport);
        const requestLog = await emu.requests();
        return {
            stack: opts.stack,
            fleetId,
            decisions,
            notifications: offline.notifications,
            announcements: offline.announcements,
            requests: requestLog.length,
            patches: await emu.patchCount(),
            tokenAcquisitions: offline.tokenAcquisitions(),
            handlerMs,
            transportMs,
            wallMs,
            completedMs: perEvent.map((e) => e.done),
            requestLog,
        };
    } finally {
        await httpClient.close();
        await emu.stop();
    }
}

/** One line per decision, for a person reading a terminal. */
export function formatReplay(r: ReplayResult): string {
    const lines = r.decisions.map((d, i) => {
        const gate = d.gateId ? d.gateId.split("/").pop() : "-";
        const rule = d.rule ? ` rule=${d.rule}` : "";
        return `${String(i + 1).padStart(3)}  ${d.outcome.padEnd(17)} gate=${gate}${rule}${d.reason ? `  ${d.reason}` : ""}`;
    });
    const counts = new Map<string, number>();
    for (const d of r.decisions) counts.set(d.outcome, (counts.get(d.outcome) ?? 0) + 1);
    return [
        `replay of ${r.decisions.length} event(s) against stack ${r.stack} (fleet ${r.fleetId})`,
        ...lines,
        "",
        [...counts.entries()].map(([o, n]) => `${n} ${o}`).join(", "),
        `${r.requests} ARM request(s), ${r.patches} gate approval(s), ${r.notifications.length} notification(s)` +
            (r.announcements.length > 0 ? `, ${r.announcements.length} upgrade message(s)` : ""),
        ...r.announcements.map((a) => `  ${a.escalation ? "escalation: " : ""}${a.title}`),
    ].join("\n");
}
