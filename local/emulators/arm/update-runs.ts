/**
 * Update runs in the ARM emulator: seeding a run from a strategy-shaped spec, deleting it (and, as
 * the service does, its gates), and `GET fleets/{fleet}/updateRuns/{run}`, whose status is built per
 * request from the spec, the members' update states and the gates' states, with the run, stage and
 * group states derived the way Fleet reports them (2026-06-01 `UpdateRunStatus`).
 */
import { eq, parseFleetId, parseUpdateRunId, sameArmId, updateRunId as formatUpdateRunId } from "../../../core/arm-id";
import { removeGate, fleetFromParams } from "./gates";
import { quoteEtag, resourceNotFound, type Reply, type RouteRequest } from "./http";
import type { ArmStore, FleetRecord, RunRecord } from "./store";
import { UPDATE_STATES, type EmulatorGate, type GateConfigSpec, type UpdateRunSpec, type UpdateState } from "./types";

const UPDATE_RUN_TYPE = "Microsoft.ContainerService/fleets/updateRuns";

type StageSpec = UpdateRunSpec["stages"][number];
type GroupSpec = StageSpec["groups"][number];
type GateStatus = { displayName?: string; gateId?: string; status: { state: UpdateState } };

/** Serves `GET {fleetId}/updateRuns/{name}`; status is built per request from the spec, member states and gate states. */
export function putUpdateRun(store: ArmStore, spec: UpdateRunSpec): void {
    const fleet = store.fleetRecord(spec.fleetId);
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
                const m = store.members.get(member.toLowerCase());
                if (!m || m.fleetKey !== fleetKey)
                    throw new Error(`update run ${spec.name}: member ${member} was not added to ${fleet.id}`);
            }
        }
    }
    const copy: UpdateRunSpec = JSON.parse(JSON.stringify(spec)) as UpdateRunSpec;
    const now = store.now();
    const existing = fleet.runs.get(spec.name.toLowerCase());
    fleet.runs.set(spec.name.toLowerCase(), {
        id,
        spec: copy,
        eTag: store.nextEtag(),
        createdAt: existing?.createdAt ?? now,
        lastModifiedAt: now,
    });
}

/** Deletes an update run and, as the service does, every gate targeting it. */
export function deleteUpdateRun(store: ArmStore, fleetId: string, name: string): boolean {
    const fleet = store.fleets.get(store.fleetKeyOf(fleetId));
    const run = fleet?.runs.get(name.toLowerCase());
    if (!fleet || !run) return false;
    fleet.runs.delete(name.toLowerCase());
    for (const r of [...fleet.gates.values()]) if (sameArmId(r.gate.target.id, run.id)) removeGate(store, r.gate.id);
    return true;
}

export function getUpdateRun(store: ArmStore, q: RouteRequest): Reply {
    const { params } = q;
    const fleet = fleetFromParams(store, params);
    const run = fleet.runs.get((params.run ?? "").toLowerCase());
    if (!run) throw resourceNotFound(`fleets/${params.fleet}/updateRuns/${params.run}`, params.rg);
    return { status: 200, body: updateRunJson(store, fleet, run), headers: { ETag: quoteEtag(run.eTag) } };
}

// ----- status ----------------------------------------------------------------------------------

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

const states = (gs: GateStatus[]) => gs.map((g) => g.status.state);

/**
 * Pairs a run's gate configurations with the gates Fleet created for them (by timing, display name
 * and position; each gate used once), in the order the status is built.
 */
class GateMatcher {
    private readonly used = new Set<EmulatorGate>();

    constructor(private readonly runGates: readonly EmulatorGate[]) {}

    statuses(
        configs: GateConfigSpec[] | undefined,
        timing: "Before" | "After",
        stage: string,
        group: string | undefined,
    ): GateStatus[] {
        return (configs ?? []).map((c) => {
            const g = this.runGates.find((candidate) => {
                if (this.used.has(candidate)) return false;
                const t = candidate.target.updateRunProperties;
                if (t.timing !== timing || candidate.displayName !== c.displayName) return false;
                if (group === undefined) return t.group === undefined && eq(t.stage, stage);
                return eq(t.group, group) && (t.stage === undefined || eq(t.stage, stage));
            });
            const out: GateStatus = { status: { state: "NotStarted" } };
            if (c.displayName !== undefined) out.displayName = c.displayName;
            if (g) {
                this.used.add(g);
                out.gateId = g.id;
                out.status = { state: g.state };
            }
            return out;
        });
    }
}

function groupStatus(store: ArmStore, gates: GateMatcher, stage: StageSpec, group: GroupSpec) {
    const before = gates.statuses(group.beforeGates, "Before", stage.name, group.name);
    const members = group.members.map((name) => {
        const m = store.members.get(name.toLowerCase());
        const state: UpdateState = m?.state.updateState ?? "NotStarted";
        const status: { state: UpdateState; error?: { code: string; message: string } } = { state };
        if (state === "Failed")
            status.error = { code: "UpgradeFailed", message: `The upgrade of member ${name} failed.` };
        return { status, name: m?.state.name ?? name, clusterResourceId: m?.state.clusterResourceId ?? "" };
    });
    const after = gates.statuses(group.afterGates, "After", stage.name, group.name);
    const state =
        group.state ??
        deriveGroupState(
            members.map((m) => m.status.state),
            states(before),
            states(after),
        );
    const json: Record<string, unknown> = { status: { state }, name: group.name, members };
    if (group.beforeGates) json.beforeGates = before;
    if (group.afterGates) json.afterGates = after;
    return { json, state };
}

function stageStatus(store: ArmStore, gates: GateMatcher, stage: StageSpec) {
    const before = gates.statuses(stage.beforeGates, "Before", stage.name, undefined);
    const groups = stage.groups.map((group) => groupStatus(store, gates, stage, group));
    const after = gates.statuses(stage.afterGates, "After", stage.name, undefined);
    const state =
        stage.state ??
        deriveStageState(
            groups.map((g) => g.state),
            states(before),
            states(after),
        );
    const json: Record<string, unknown> = { status: { state }, name: stage.name, groups: groups.map((g) => g.json) };
    if (stage.beforeGates) json.beforeGates = before;
    if (stage.afterGates) json.afterGates = after;
    if (stage.afterStageWaitInSeconds !== undefined)
        json.afterStageWaitStatus = {
            status: { state: state === "Completed" ? "Completed" : "NotStarted" },
            waitDurationInSeconds: stage.afterStageWaitInSeconds,
        };
    return { json, state };
}

function gateConfigs(configs: GateConfigSpec[] | undefined) {
    return configs?.map((c) => ({
        ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
        type: c.type ?? "Approval",
    }));
}

/** The run's `strategy`, as the service echoes it. */
function strategyJson(spec: UpdateRunSpec) {
    return {
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
}

function updateRunJson(store: ArmStore, fleet: FleetRecord, run: RunRecord): Record<string, unknown> {
    const spec = run.spec;
    const gates = new GateMatcher(
        [...fleet.gates.values()].filter((r) => sameArmId(r.gate.target.id, run.id)).map((r) => r.gate),
    );
    const stageStatuses = spec.stages.map((stage) => stageStatus(store, gates, stage));
    const runState = spec.state ?? deriveRunState(stageStatuses.map((s) => s.state));
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
            strategy: strategyJson(spec),
            managedClusterUpdate: spec.managedClusterUpdate ?? {
                upgrade: { type: "NodeImageOnly" },
                nodeImageSelection: { type: "Latest" },
            },
            status: { status: { state: runState }, stages: stageStatuses.map((s) => s.json) },
        },
        eTag: run.eTag,
    };
}
