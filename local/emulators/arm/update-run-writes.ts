/**
 * Update runs created and started through ARM, as the gate handler does it for AKS upgrade events
 * (Fleet 2026-06-01): `GET fleets/{fleet}/updateRuns` (the list), `PUT …/updateRuns/{run}` from an
 * `updateStrategyId` (the strategy's stages are snapshotted into the run, as the service does;
 * `If-None-Match: *` answers 412 when the run exists; the run starts `NotStarted`), and
 * `POST …/updateRuns/{run}/start` (202 + Location, `Running` at once; 409 when it is not `NotStarted`).
 * Strategies are seeded with `putUpdateStrategy`.
 */
import { parseFleetId } from "../../../core/arm-id";
import { fleetFromParams } from "./gates";
import { CONTAINER_SERVICE, HttpError, isRecord, type Reply, type RouteRequest } from "./http";
import type { ArmStore } from "./store";
import type { UpdateRunSpec } from "./types";
import { getUpdateRun, putUpdateRun } from "./update-runs";

type Stages = UpdateRunSpec["stages"];

/** Per emulator: lower-case strategy id → stages. Kept beside the store, which knows only runs. */
const strategies = new WeakMap<ArmStore, Map<string, Stages>>();
/** Runs created through PUT, and when each was started (the rehearsal walks the started one). */
const started = new WeakMap<ArmStore, Map<string, string>>();

export function putUpdateStrategy(store: ArmStore, fleetId: string, name: string, stages: Stages): string {
    const fleet = store.fleetRecord(fleetId);
    const id = `${fleet.id}/updateStrategies/${name}`;
    let m = strategies.get(store);
    if (!m) strategies.set(store, (m = new Map()));
    m.set(id.toLowerCase(), JSON.parse(JSON.stringify(stages)) as Stages);
    return id;
}

/** Runs started through `POST …/start`, in the order they were started: `[fleetId, name]`. */
export function startedRuns(store: ArmStore): [string, string][] {
    return [...(started.get(store)?.keys() ?? [])].map((k) => JSON.parse(k) as [string, string]);
}

function runName(q: RouteRequest): string {
    return q.params.run ?? "";
}

export function listUpdateRuns(store: ArmStore, q: RouteRequest): Reply {
    const fleet = fleetFromParams(store, q.params);
    const value = [...fleet.runs.values()].map(
        (r) => getUpdateRun(store, { ...q, params: { ...q.params, run: r.spec.name } }).body,
    );
    return { status: 200, body: { value } };
}

export function createUpdateRun(store: ArmStore, q: RouteRequest): Reply {
    const fleet = fleetFromParams(store, q.params);
    const name = runName(q);
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 50)
        throw new HttpError(
            400,
            "InvalidParameter",
            `update run name '${name}' does not match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ (1-50)`,
        );
    const exists = fleet.runs.has(name.toLowerCase());
    if (exists && q.headers["if-none-match"] === "*")
        throw new HttpError(412, "PreconditionFailed", `The update run '${name}' already exists (If-None-Match: *).`);
    if (exists)
        throw new HttpError(409, "Conflict", `The update run '${name}' exists; this emulator does not update runs.`);
    const props = isRecord(q.body) && isRecord(q.body.properties) ? q.body.properties : undefined;
    if (!props) throw new HttpError(400, "InvalidRequestContent", "The request body must have properties.");
    const update = isRecord(props.managedClusterUpdate) ? props.managedClusterUpdate : undefined;
    const upgrade = update && isRecord(update.upgrade) ? update.upgrade : undefined;
    if (!upgrade)
        throw new HttpError(400, "InvalidRequestContent", "properties.managedClusterUpdate.upgrade is required.");
    const type = upgrade.type;
    if (type !== "Full" && type !== "ControlPlaneOnly" && type !== "NodeImageOnly")
        throw new HttpError(
            400,
            "InvalidRequestContent",
            `upgrade.type '${String(type)}' is not Full, ControlPlaneOnly or NodeImageOnly.`,
        );
    if ((type === "NodeImageOnly") !== (upgrade.kubernetesVersion === undefined))
        throw new HttpError(
            400,
            "InvalidRequestContent",
            "upgrade.kubernetesVersion is required for Full and ControlPlaneOnly and not allowed for NodeImageOnly.",
        );
    const strategyId = typeof props.updateStrategyId === "string" ? props.updateStrategyId : undefined;
    if (strategyId === undefined || props.strategy !== undefined)
        throw new HttpError(400, "InvalidRequestContent", "This emulator creates runs from an updateStrategyId only.");
    const stages = strategies.get(store)?.get(strategyId.toLowerCase());
    if (!stages) throw new HttpError(404, "ResourceNotFound", `The update strategy '${strategyId}' was not found.`);
    putUpdateRun(store, {
        fleetId: fleet.id,
        name,
        state: "NotStarted",
        managedClusterUpdate: update as Record<string, unknown>,
        stages: JSON.parse(JSON.stringify(stages)) as Stages,
    });
    const reply = getUpdateRun(store, q);
    return { status: 201, body: reply.body, headers: reply.headers ?? {} };
}

export function startUpdateRun(store: ArmStore, q: RouteRequest): Reply {
    const fleet = fleetFromParams(store, q.params);
    const name = runName(q);
    const run = fleet.runs.get(name.toLowerCase());
    if (!run)
        throw new HttpError(
            404,
            "ResourceNotFound",
            `The Resource '${CONTAINER_SERVICE}/fleets/${q.params.fleet}/updateRuns/${name}' was not found.`,
        );
    if (run.spec.state !== "NotStarted")
        throw new HttpError(
            409,
            "Conflict",
            `The update run '${name}' cannot be started: it is ${run.spec.state ?? "started"}.`,
        );
    // Running at once; the rehearsal then walks it (members, gates).
    putUpdateRun(store, { ...run.spec, state: "Running" });
    let m = started.get(store);
    if (!m) started.set(store, (m = new Map()));
    m.set(JSON.stringify([fleet.id, run.spec.name]), new Date(store.now()).toISOString());
    const ref = parseFleetId(fleet.id);
    return {
        status: 202,
        headers: {
            Location: `${q.baseUrl}/subscriptions/${ref.subscriptionId}/providers/${CONTAINER_SERVICE}/locations/westeurope/operationresults/start-${name}?api-version=2026-06-01`,
            "Retry-After": "0",
        },
    };
}
