/**
 * Fleet's gate events as Event Grid carries them: the event types (and the two spellings of the
 * topic type the service uses), the event fields approval-rule filters key on, and events
 * synthesised the way the service shapes them, in either delivery schema (for tests, the offline
 * delivery emulator and the rehearsal). `event-filter.ts` re-exports all of it.
 */
import { createHash } from "node:crypto";
import { parseFleetId } from "./arm-id";
import { type EventSchema, type JsonObject } from "./event-filter-types";
import type { GateTiming } from "./rules";

// ---------------------------------------------------------------------------------------------
// Fleet gate events
// ---------------------------------------------------------------------------------------------

/** Event types in the docs' spelling (`AKSResources`); payloads spell `AksResources` — compare ignoring case. */
export const FLEET_GATE_EVENT_TYPES = {
    created: "Microsoft.ResourceNotifications.AKSResources.FleetGateCreated",
    updated: "Microsoft.ResourceNotifications.AKSResources.FleetGateUpdated",
    deleted: "Microsoft.ResourceNotifications.AKSResources.FleetGateDeleted",
} as const;
export type GateEventKind = keyof typeof FLEET_GATE_EVENT_TYPES;

/** The two spellings of the type namespace seen in the wild: docs `AKSResources`, payloads `AksResources`. */
export const EVENT_TYPE_SPELLINGS = ["AKSResources", "AksResources"] as const;
export type EventTypeSpelling = (typeof EVENT_TYPE_SPELLINGS)[number];

/** The documented filter keys of gate events (azure-facts §5.1, event-grid.md §5.4). */
export const GATE_FILTER_KEYS = {
    resourceId: "data.resourceInfo.id",
    name: "data.resourceInfo.name",
    displayName: "data.resourceInfo.properties.displayName",
    gateType: "data.resourceInfo.properties.gateType",
    state: "data.resourceInfo.properties.state",
    targetId: "data.resourceInfo.properties.target.id",
    updateRunName: "data.resourceInfo.properties.target.updateRunProperties.name",
    stage: "data.resourceInfo.properties.target.updateRunProperties.stage",
    group: "data.resourceInfo.properties.target.updateRunProperties.group",
    timing: "data.resourceInfo.properties.target.updateRunProperties.timing",
} as const;

// ---------------------------------------------------------------------------------------------
// Synthesising gate events
// ---------------------------------------------------------------------------------------------

export interface GateEventSpec {
    /** `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/fleets/{fleet}`. */
    readonly fleetId: string;
    /** Lower-case GUID, as the service issues gate names. */
    readonly gateName: string;
    readonly updateRunName: string;
    readonly stage?: string;
    /** Group gates only. */
    readonly group?: string;
    readonly timing: GateTiming;
    readonly displayName?: string;
    /** Default `created`. */
    readonly kind?: GateEventKind;
    /** Default `Completed` for `updated`, else `Pending`. */
    readonly state?: "Pending" | "Completed";
    /** Default `Approval`. */
    readonly gateType?: string;
    /** Event id; default a GUID derived from the gate id and the kind (stable). */
    readonly id?: string;
    /** Envelope time, UTC ISO 8601 with `Z`; default `GATE_EVENT_DEFAULT_TIME` (pure: no clock). */
    readonly time?: string;
    /** `data.operationalInfo.resourceEventTime`; default `time` in `+00:00` form. */
    readonly resourceEventTime?: string;
    /** `data.apiVersion`; default `2026-06-01`. */
    readonly apiVersion?: string;
}

export interface GateEventOptions {
    /** Default `EventGridSchema`. */
    readonly schema?: EventSchema;
    /** Default `AksResources` (what payloads carry). */
    readonly spelling?: EventTypeSpelling;
}

export const GATE_EVENT_DEFAULT_TIME = "2026-01-01T00:00:00.0000000Z";
const GATE_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function stableEventId(...parts: string[]): string {
    const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The event type string in one spelling, e.g. `...AksResources.FleetGateCreated`. */
export function gateEventType(kind: GateEventKind, spelling: EventTypeSpelling = "AksResources"): string {
    return FLEET_GATE_EVENT_TYPES[kind].replace("AKSResources", spelling);
}

/**
 * The event Fleet publishes for a gate (FleetGateCreated unless `kind` says otherwise), shaped like
 * the published samples (`shared/fixtures/events/resolved/`), in either envelope and type spelling.
 */
export function gateEventFor(spec: GateEventSpec, options: GateEventOptions = {}): JsonObject {
    const fleet = parseFleetId(spec.fleetId);
    if (!GATE_NAME.test(spec.gateName))
        throw new Error(`gateEventFor: gateName "${spec.gateName}" is not a lower-case GUID`);
    const kind = spec.kind ?? "created";
    const schema = options.schema ?? "EventGridSchema";
    const gateId = `${spec.fleetId}/gates/${spec.gateName}`;
    const time = spec.time ?? GATE_EVENT_DEFAULT_TIME;
    const updateRunProperties: JsonObject = { name: spec.updateRunName };
    if (spec.group !== undefined) updateRunProperties.group = spec.group;
    if (spec.stage !== undefined) updateRunProperties.stage = spec.stage;
    updateRunProperties.timing = spec.timing;
    const properties: JsonObject = {};
    if (spec.displayName !== undefined) properties.displayName = spec.displayName;
    Object.assign(properties, {
        gateType: spec.gateType ?? "Approval",
        provisioningState: "Succeeded",
        state: spec.state ?? (kind === "updated" ? "Completed" : "Pending"),
        target: { id: `${spec.fleetId}/updateRuns/${spec.updateRunName}`, updateRunProperties },
    });
    const data: JsonObject = {
        resourceInfo: { id: gateId, name: spec.gateName, type: "Microsoft.ContainerService/fleets/gates", properties },
        operationalInfo: { resourceEventTime: spec.resourceEventTime ?? time.replace(/Z$/, "+00:00") },
        apiVersion: spec.apiVersion ?? "2026-06-01",
    };
    const id = spec.id ?? stableEventId(gateId.toLowerCase(), kind);
    const source = `/subscriptions/${fleet.subscriptionId}`;
    const type = gateEventType(kind, options.spelling);
    if (schema === "CloudEventSchemaV1_0") return { source, subject: gateId, type, time, id, data, specversion: "1.0" };
    return {
        id,
        topic: source,
        subject: gateId,
        data,
        eventType: type,
        dataVersion: "1",
        metadataVersion: "1",
        eventTime: time,
    };
}

export interface GateEventVariant {
    readonly schema: EventSchema;
    readonly spelling: EventTypeSpelling;
    readonly event: JsonObject;
}

/** The same gate event in both envelopes × both type spellings (four variants). */
export function gateEventVariants(spec: GateEventSpec): GateEventVariant[] {
    const schemas: EventSchema[] = ["EventGridSchema", "CloudEventSchemaV1_0"];
    return schemas.flatMap((schema) =>
        EVENT_TYPE_SPELLINGS.map((spelling) => ({ schema, spelling, event: gateEventFor(spec, { schema, spelling }) })),
    );
}
