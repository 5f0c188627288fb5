/**
 * Azure Resource Manager ids: parse and format, with ARM's rules (segment names compare
 * case-insensitively; names are kept as written). Never split an id by index: events carry ids
 * from the outside world, and a traversal segment or a stray provider must fail the parse.
 */

export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Gate names as the service issues them: lower-case GUIDs (2026-06-01 spec). */
export const GATE_NAME_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Resource group names: 1-90 of letters, digits, `_ - . ( )`, not ending with `.`. */
const RESOURCE_GROUP_PATTERN = /^[-\w.()]{0,89}[-\w()]$/;
/** A child name segment: no separators, no traversal, no control characters. */
const NAME_SEGMENT_PATTERN = /^[^/\\?#%\s\u0000-\u001f]{1,260}$/;
const MAX_ID_LENGTH = 2048;

export interface ArmResourceId {
    readonly subscriptionId: string;
    readonly resourceGroup: string;
    /** Provider namespace, e.g. `Microsoft.ContainerService`. */
    readonly provider: string;
    /** Type and name pairs below the provider, e.g. `[["fleets","flt-dev"],["gates","<guid>"]]`. */
    readonly segments: readonly (readonly [type: string, name: string])[];
}

export class ArmIdError extends Error {
    constructor(
        readonly id: string,
        reason: string,
    ) {
        super(`invalid ARM id ${JSON.stringify(id.length > 200 ? `${id.slice(0, 200)}…` : id)}: ${reason}`);
        this.name = "ArmIdError";
    }
}

const PROVIDER_PATTERN = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/;
const TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * Recently parsed ids (an event's ids are parsed again from the gate resource, the PATCH answer and
 * the state store). Only successful parses are kept, frozen; cleared when full.
 */
const parsedIds = new Map<string, ArmResourceId>();
const PARSED_IDS_MAX = 1024;

/** Parses a resource-group-scoped provider resource id. Throws `ArmIdError` with the reason. */
export function parseArmId(id: string): ArmResourceId {
    if (typeof id !== "string") throw new ArmIdError(String(id), "not a string");
    const cached = parsedIds.get(id);
    if (cached !== undefined) return cached;
    const parsed = parseArmIdUncached(id);
    if (parsedIds.size >= PARSED_IDS_MAX) parsedIds.clear();
    parsedIds.set(id, parsed);
    return parsed;
}

function parseArmIdUncached(id: string): ArmResourceId {
    if (id.length > MAX_ID_LENGTH) throw new ArmIdError(id, `longer than ${MAX_ID_LENGTH} characters`);
    if (!id.startsWith("/")) throw new ArmIdError(id, "must start with '/'");
    const parts = id.slice(1).split("/");
    let empty = false;
    let traversal = false;
    for (const p of parts) {
        if (p.length === 0) empty = true;
        else if (p === "." || p === "..") traversal = true;
    }
    if (empty) throw new ArmIdError(id, "empty segment");
    if (traversal) throw new ArmIdError(id, "traversal segment");
    const [subKey, subscriptionId, rgKey, resourceGroup, providersKey, provider] = parts;
    if (!eq(subKey, "subscriptions") || subscriptionId === undefined)
        throw new ArmIdError(id, "expected /subscriptions/{id}");
    if (!GUID_PATTERN.test(subscriptionId)) throw new ArmIdError(id, "subscription id is not a GUID");
    if (!eq(rgKey, "resourceGroups") || resourceGroup === undefined)
        throw new ArmIdError(id, "expected /resourceGroups/{name}");
    if (!RESOURCE_GROUP_PATTERN.test(resourceGroup)) throw new ArmIdError(id, "invalid resource group name");
    if (!eq(providersKey, "providers") || provider === undefined)
        throw new ArmIdError(id, "expected /providers/{namespace}");
    if (!PROVIDER_PATTERN.test(provider)) throw new ArmIdError(id, "invalid provider namespace");
    const rest = parts.length - 6;
    if (rest <= 0 || rest % 2 !== 0) throw new ArmIdError(id, "expected type/name pairs after the provider");
    const segments: (readonly [string, string])[] = [];
    for (let i = 6; i < parts.length; i += 2) {
        const type = parts[i]!;
        const name = parts[i + 1]!;
        if (!TYPE_PATTERN.test(type)) throw new ArmIdError(id, `invalid type segment "${type}"`);
        if (eq(type, "providers")) throw new ArmIdError(id, "nested provider segment");
        if (!NAME_SEGMENT_PATTERN.test(name)) throw new ArmIdError(id, `invalid name segment "${name}"`);
        segments.push(Object.freeze([type, name] as const));
    }
    return Object.freeze({ subscriptionId, resourceGroup, provider, segments: Object.freeze(segments) });
}

/** Formats an id; the inverse of `parseArmId`. */
export function formatArmId(id: ArmResourceId): string {
    const tail = id.segments.map(([t, n]) => `${t}/${n}`).join("/");
    return `/subscriptions/${id.subscriptionId}/resourceGroups/${id.resourceGroup}/providers/${id.provider}/${tail}`;
}

export function eq(a: string | undefined, b: string | undefined): boolean {
    if (a === undefined || b === undefined) return false;
    // Equal as written is the common case: no lower-cased copies for it.
    return a === b || a.toLowerCase() === b.toLowerCase();
}

/** ARM ids compare case-insensitively. */
export function sameArmId(a: string, b: string): boolean {
    return a === b || a.toLowerCase() === b.toLowerCase();
}

/** True when `id` is of provider `provider` and its type path equals `types` (case-insensitive). */
export function isType(id: ArmResourceId, provider: string, types: readonly string[]): boolean {
    return (
        eq(id.provider, provider) &&
        id.segments.length === types.length &&
        id.segments.every(([t], i) => eq(t, types[i]))
    );
}

export interface FleetRef {
    readonly subscriptionId: string;
    readonly resourceGroup: string;
    readonly fleetName: string;
}

export interface GateRef extends FleetRef {
    readonly gateName: string;
}

export interface UpdateRunRef extends FleetRef {
    readonly updateRunName: string;
}

const FLEETS = "Microsoft.ContainerService";

export function fleetId(f: FleetRef): string {
    return formatArmId({
        subscriptionId: f.subscriptionId,
        resourceGroup: f.resourceGroup,
        provider: FLEETS,
        segments: [["fleets", f.fleetName]],
    });
}

export function parseFleetId(id: string): FleetRef {
    const p = parseArmId(id);
    if (!isType(p, FLEETS, ["fleets"])) throw new ArmIdError(id, "not a Microsoft.ContainerService/fleets id");
    return { subscriptionId: p.subscriptionId, resourceGroup: p.resourceGroup, fleetName: p.segments[0]![1] };
}

/**
 * `/subscriptions/{id}/resourceGroups/{name}` of the fleet's resource group: the narrowest scope a custom
 * role may list as assignable (Azure accepts management groups, subscriptions and resource groups).
 */
export function fleetResourceGroupId(fleetArmId: string): string {
    const f = parseFleetId(fleetArmId);
    return `/subscriptions/${f.subscriptionId}/resourceGroups/${f.resourceGroup}`;
}

/** Parses a gate id; the gate name must be a lower-case GUID as the service issues them. */
export function parseGateId(id: string): GateRef {
    const p = parseArmId(id);
    if (!isType(p, FLEETS, ["fleets", "gates"]))
        throw new ArmIdError(id, "not a Microsoft.ContainerService/fleets/gates id");
    const gateName = p.segments[1]![1];
    if (!GATE_NAME_PATTERN.test(gateName)) throw new ArmIdError(id, "gate name is not a lower-case GUID");
    return {
        subscriptionId: p.subscriptionId,
        resourceGroup: p.resourceGroup,
        fleetName: p.segments[0]![1],
        gateName,
    };
}

export function parseUpdateRunId(id: string): UpdateRunRef {
    const p = parseArmId(id);
    if (!isType(p, FLEETS, ["fleets", "updateRuns"]))
        throw new ArmIdError(id, "not a Microsoft.ContainerService/fleets/updateRuns id");
    return {
        subscriptionId: p.subscriptionId,
        resourceGroup: p.resourceGroup,
        fleetName: p.segments[0]![1],
        updateRunName: p.segments[1]![1],
    };
}

export function gateId(g: GateRef): string {
    return `${fleetId(g)}/gates/${g.gateName}`;
}

export function updateRunId(r: UpdateRunRef): string {
    return `${fleetId(r)}/updateRuns/${r.updateRunName}`;
}

/** True when both refs name the same fleet (ARM's case-insensitive comparison). */
export function sameFleet(a: FleetRef, b: FleetRef): boolean {
    return (
        eq(a.subscriptionId, b.subscriptionId) && eq(a.resourceGroup, b.resourceGroup) && eq(a.fleetName, b.fleetName)
    );
}
