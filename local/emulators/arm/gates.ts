/**
 * Fleets and their gates in the ARM emulator: seeding gates (as Fleet creates them for an update
 * run), a person changing one, and the routes the gate handler calls: `GET`/list/`PATCH` of
 * `fleets/{fleet}/gates` (paging, `$filter` on state, ETag preconditions, sync or 202-async PATCH)
 * and the async operation's status. Gate JSON follows the Fleet 2026-06-01 `Gate` definition.
 */
import {
    ArmIdError,
    GATE_NAME_PATTERN,
    eq,
    gateId as formatGateId,
    parseFleetId,
    parseUpdateRunId,
    sameFleet,
} from "../../../core/arm-id";
import {
    CONTAINER_SERVICE,
    HttpError,
    etagListMatches,
    isRecord,
    quoteEtag,
    resourceNotFound,
    type Reply,
    type RouteRequest,
} from "./http";
import type { ArmStore, FleetRecord, GateRecord } from "./store";
import { FLEET_API_VERSION, GATE_STATES, type EmulatorGate, type GateState } from "./types";

const GATE_TYPE = "Microsoft.ContainerService/fleets/gates";

export type AddGateSpec = Omit<EmulatorGate, "eTag" | "id"> & { fleetId: string; eTag?: string };

/** A snapshot of a gate: callers never hold the emulator's own object. */
export function copyGate(g: EmulatorGate): EmulatorGate {
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

/** Adds a gate; its id is derived from `fleetId` and `name` (a lower-case GUID, as the service issues). */
export function addGate(store: ArmStore, gate: AddGateSpec): EmulatorGate {
    const fleet = store.fleetRecord(gate.fleetId);
    if (!GATE_NAME_PATTERN.test(gate.name))
        throw new Error(`gate name ${JSON.stringify(gate.name)} is not a lower-case GUID`);
    if (fleet.gates.has(gate.name.toLowerCase())) throw new Error(`gate ${gate.name} already exists in ${fleet.id}`);
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
        eTag: gate.eTag ?? store.nextEtag(),
        target: { id: gate.target.id, updateRunProperties: { ...props } },
    };
    if (gate.displayName !== undefined) stored.displayName = gate.displayName;
    const now = store.now();
    const record: GateRecord = {
        gate: stored,
        fleetKey: fleet.id.toLowerCase(),
        createdAt: now,
        lastModifiedAt: now,
        lastModifiedBy: CONTAINER_SERVICE,
        lastModifiedByType: "Application",
    };
    fleet.gates.set(gate.name.toLowerCase(), record);
    store.gateIndex.set(id.toLowerCase(), record);
    return copyGate(stored);
}

/** Sets a gate's state as a person in the portal would; always a write, so the eTag changes. */
export function setGateState(store: ArmStore, id: string, state: GateState): EmulatorGate {
    const r = store.gateIndex.get(id.toLowerCase());
    if (!r) throw new Error(`unknown gate ${id}`);
    if (!GATE_STATES.includes(state)) throw new Error(`invalid gate state ${JSON.stringify(state)}`);
    r.gate.state = state;
    r.gate.eTag = store.nextEtag();
    r.lastModifiedAt = store.now();
    r.lastModifiedBy = "approver@contoso.com";
    r.lastModifiedByType = "User";
    return copyGate(r.gate);
}

/** Removes a gate (as deleting its update run would); later requests for it answer 404. */
export function removeGate(store: ArmStore, id: string): boolean {
    const key = id.toLowerCase();
    const r = store.gateIndex.get(key);
    if (!r) return false;
    store.gateIndex.delete(key);
    store.fleets.get(r.fleetKey)?.gates.delete(r.gate.name.toLowerCase());
    return true;
}

// ----- routes ----------------------------------------------------------------------------------

/** The fleet a route's path names, or a 400 (malformed id) / 404 (unknown fleet). */
export function fleetFromParams(store: ArmStore, params: Record<string, string>): FleetRecord {
    const id = `/subscriptions/${params.sub}/resourceGroups/${params.rg}/providers/${CONTAINER_SERVICE}/fleets/${params.fleet}`;
    // Registered fleets were validated when added: a hit needs no parse (the hot path).
    const fleet = store.fleets.get(id.toLowerCase());
    if (fleet) return fleet;
    try {
        parseFleetId(id);
    } catch (err) {
        if (err instanceof ArmIdError) throw new HttpError(400, "InvalidResourceId", err.message);
        throw err;
    }
    throw resourceNotFound(`fleets/${params.fleet}`, params.rg);
}

function gateFromParams(store: ArmStore, params: Record<string, string>): GateRecord {
    const fleet = fleetFromParams(store, params);
    const gate = fleet.gates.get((params.gate ?? "").toLowerCase());
    if (!gate) throw resourceNotFound(`fleets/${params.fleet}/gates/${params.gate}`, params.rg);
    return gate;
}

function gateReply(r: GateRecord): Reply {
    return { status: 200, body: gateJson(r), headers: { ETag: quoteEtag(r.gate.eTag) } };
}

export function getGate(store: ArmStore, q: RouteRequest): Reply {
    return gateReply(gateFromParams(store, q.params));
}

/** `$filter=properties/state eq '…'`, or undefined without a filter. */
function stateFilter(filter: string | null): GateState | undefined {
    if (filter === null) return undefined;
    const m = /^\s*properties\/state\s+eq\s+'([^']*)'\s*$/i.exec(filter);
    const state = m ? GATE_STATES.find((s) => eq(s, m[1])) : undefined;
    if (!state)
        throw new HttpError(
            400,
            "InvalidFilterParameter",
            `The $filter '${filter}' is not supported; supported: properties/state eq 'Pending'|'Skipped'|'Completed'.`,
        );
    return state;
}

export function listGates(store: ArmStore, q: RouteRequest): Reply {
    const fleet = fleetFromParams(store, q.params);
    const filter = q.search.get("$filter");
    const wantState = stateFilter(filter);
    let size = store.options.pageSize;
    const top = q.search.get("$top");
    if (top !== null) {
        if (!/^[1-9]\d{0,5}$/.test(top))
            throw new HttpError(400, "InvalidTopParameter", `The $top '${top}' is not a positive integer.`);
        size = Math.min(Number(top), store.options.pageSize);
    }
    let offset = 0;
    const token = q.search.get("$skipToken");
    if (token !== null) {
        const m = /^o(\d{1,9})$/.exec(token);
        if (!m) throw new HttpError(400, "InvalidSkipToken", `The $skipToken '${token}' is invalid.`);
        offset = Number(m[1]);
    }
    const all: GateRecord[] = [];
    for (const r of fleet.gates.values()) if (wantState === undefined || r.gate.state === wantState) all.push(r);
    const page = all.slice(offset, offset + size);
    const body: { value: unknown[]; nextLink?: string } = { value: page.map((r) => gateJson(r)) };
    if (offset + size < all.length) {
        let next = `${q.baseUrl}${fleet.id}/gates?api-version=${FLEET_API_VERSION}`;
        if (filter !== null) next += `&$filter=${encodeURIComponent(filter)}`;
        if (top !== null) next += `&$top=${top}`;
        next += `&$skipToken=o${offset + size}`;
        body.nextLink = next;
    }
    return { status: 200, body };
}

export function patchGate(store: ArmStore, q: RouteRequest): Reply {
    const state = validateGatePatch(q.body);
    const r = gateFromParams(store, q.params);
    const ifMatch = q.headers["if-match"];
    if (typeof ifMatch === "string" && !etagListMatches(ifMatch, r.gate.eTag))
        throw new HttpError(412, "PreconditionFailed", `The If-Match '${ifMatch}' does not match the gate's ETag.`);
    const ifNoneMatch = q.headers["if-none-match"];
    if (typeof ifNoneMatch === "string" && etagListMatches(ifNoneMatch, r.gate.eTag))
        throw new HttpError(412, "PreconditionFailed", `The If-None-Match '${ifNoneMatch}' matches the gate's ETag.`);
    if (r.gate.state === state) return gateReply(r);
    r.gate.state = state;
    r.gate.eTag = store.nextEtag();
    r.lastModifiedAt = store.now();
    r.lastModifiedBy = "arm-client";
    r.lastModifiedByType = "Application";
    store.patches++;
    if (store.options.patchMode === "sync") return gateReply(r);
    const fleet = store.fleets.get(r.fleetKey)!;
    const opId = store.nextOperationId();
    store.operations.set(opId.toLowerCase(), {
        gateKey: r.gate.id.toLowerCase(),
        subscriptionId: fleet.subscriptionId,
    });
    const location = `${q.baseUrl}/subscriptions/${fleet.subscriptionId}/providers/${CONTAINER_SERVICE}/locations/${store.options.location}/operationresults/${opId}?api-version=${FLEET_API_VERSION}`;
    return { status: 202, headers: { Location: location, "Retry-After": "0" } };
}

export function getOperation(store: ArmStore, q: RouteRequest): Reply {
    const { params } = q;
    const op = store.operations.get((params.op ?? "").toLowerCase());
    if (!op || !eq(op.subscriptionId, params.sub) || !eq(params.loc, store.options.location))
        throw new HttpError(404, "ResourceNotFound", `The operation '${params.op}' was not found.`);
    const r = store.gateIndex.get(op.gateKey);
    if (!r) throw new HttpError(404, "ResourceNotFound", `The gate of operation '${params.op}' no longer exists.`);
    // Completes on the first poll: final-state-via location answers the gate itself.
    return gateReply(r);
}

function gateJson(r: GateRecord): Record<string, unknown> {
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

/** Refuses any key of `obj` but `allowed` (`path`: where `obj` sits in the body, for the message). */
function onlyPatchable(obj: Record<string, unknown>, allowed: string, path: string): void {
    const extra = Object.keys(obj).filter((k) => k !== allowed);
    if (extra.length > 0)
        throw new HttpError(
            400,
            "InvalidRequestBody",
            `Only 'properties.state' can be patched; got '${extra.map((k) => path + k).join("', '")}'.`,
        );
}

function validateGatePatch(body: unknown): GateState {
    if (!isRecord(body)) throw new HttpError(400, "InvalidRequestBody", "The request body must be a JSON object.");
    onlyPatchable(body, "properties", "");
    const props = body.properties;
    if (!isRecord(props)) throw new HttpError(400, "InvalidRequestBody", "'properties' must be an object.");
    onlyPatchable(props, "state", "properties.");
    const state = props.state;
    if (typeof state !== "string" || !GATE_STATES.includes(state as GateState))
        throw new HttpError(
            400,
            "InvalidRequestBody",
            `'properties.state' must be one of ${GATE_STATES.join(", ")}; got ${JSON.stringify(state)}.`,
        );
    return state as GateState;
}
