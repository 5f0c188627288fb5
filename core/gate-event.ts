/**
 * Fleet gate events: envelope and payload schemas for both delivery schemas (Event Grid schema and
 * CloudEvents 1.0, single events or arrays), validated with zod and normalised to one `GateEvent`.
 *
 * The parser is the handler's first line of defence: events arrive from outside, so every id is
 * parsed with `arm-id.ts` (never split by index), every string is bounded, and cross-field
 * invariants are checked (subject = `resourceInfo.id`, the target is an update run of the same
 * fleet, `resourceInfo.name` is the gate's lower-case GUID name, `topic`/`source` is the gate's
 * subscription). Anything else is `rejected` with a reason that names the field.
 *
 * Decisions (documented here because callers rely on them):
 * - Event types compare ignoring case (`AksResources` in payloads, `AKSResources` in the docs;
 *   event-grid.md §1.1).
 * - A well-formed envelope with a type that is not a Fleet gate event (e.g. another AKSResources
 *   event, a validation event) is **not** rejected: it comes back as `{ ok: false, disposition:
 *   "ignored" }` so the engine acknowledges it as `ignored`. Only its envelope is validated, since
 *   its payload is unknown to us.
 * - Documentation placeholders (`{subscription-id}`, `xxxxxxxxxx`) are reported as such before any
 *   other check, so the published samples are rejected for what they are.
 * - CloudEvents attribute names are lower-case by spec; `specVersion` (a doc glitch in the samples)
 *   is rejected, like any other mis-cased attribute of a CloudEvents envelope.
 * - Unknown extra properties are tolerated (Azure adds fields over time) but count towards the size
 *   limit. The gate's `state` and `gateType` are kept as strings (future values are ignored by the
 *   engine, not rejected).
 */
import { z } from "zod";
import {
    ArmIdError,
    GATE_NAME_PATTERN,
    GateRef,
    UpdateRunRef,
    gateId as formatGateId,
    parseGateId,
    parseUpdateRunId,
    sameArmId,
    sameFleet,
    updateRunId as formatUpdateRunId,
} from "./arm-id";
import {
    ENVELOPE_LIMITS,
    NO_CONTROL,
    armIdString,
    clip,
    cloudEventCasingProblem,
    describeIssue,
    eventIdSchema,
    eventTypeSchema,
    isObject,
    openEvent,
    parseBatch,
    readEnvelope,
    sourceField,
    timeSchema,
} from "./event-envelope";
import { EventSchema, FLEET_GATE_EVENT_TYPES, GateEventKind, detectSchema } from "./event-filter";
import { FLEET_NAME_PATTERN, GATE_TIMINGS, GateCoordinates, GateTiming } from "./rules";

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

export const GATE_EVENT_LIMITS = {
    /** Serialized size of one event. Real gate events are ~1.5 KB; Event Grid's own cap is 1 MB. */
    eventBytes: 64 * 1024,
    /** Events in one delivery (Event Grid's `maxEventsPerBatch` maximum). */
    batchEvents: ENVELOPE_LIMITS.batchEvents,
    eventId: ENVELOPE_LIMITS.eventId,
    eventType: ENVELOPE_LIMITS.eventType,
    /** ARM ids (`arm-id.ts` accepts up to 2048; a gate id is < 300 characters). */
    armId: ENVELOPE_LIMITS.armId,
    displayName: 100,
    /** Stage, group and update run names (2026-06-01 spec: 1-50, `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`). */
    fleetName: 50,
    time: ENVELOPE_LIMITS.time,
} as const;

// ---------------------------------------------------------------------------------------------
// Normalised form
// ---------------------------------------------------------------------------------------------

/** A gate as the handler reasons about it: from an event, or from the gate resource itself (sweep). */
export interface GateView extends GateCoordinates {
    /** The gate's ARM id, as written in the event/resource. */
    readonly gateId: string;
    readonly gate: GateRef;
    readonly displayName?: string;
    /** `Approval` in GA; other values (e.g. preview `ScheduledStart`) are ignored by the engine. */
    readonly gateType: string;
    /** `Pending` | `Completed` | `Skipped` (other values are carried, never acted on). */
    readonly state: string;
    readonly updateRunId: string;
    readonly updateRun: UpdateRunRef;
    readonly stage?: string;
    readonly group?: string;
    readonly timing: GateTiming;
}

export interface GateEvent extends GateView {
    readonly eventId: string;
    readonly kind: GateEventKind;
    readonly schema: EventSchema;
    /** The type string as delivered (either spelling). */
    readonly eventType: string;
    /** `topic` (Event Grid) or `source` (CloudEvents): `/subscriptions/{id}`. */
    readonly source: string;
    /** Envelope time (`eventTime` / `time`), as delivered. */
    readonly eventTime: string;
    /** `data.operationalInfo.resourceEventTime`, when present. */
    readonly resourceEventTime?: string;
    readonly apiVersion?: string;
}

export type GateEventParse =
    | { readonly ok: true; readonly event: GateEvent }
    | {
          readonly ok: false;
          readonly eventId?: string;
          readonly reason: string;
          /** `rejected`: malformed or hostile. `ignored`: a well-formed event of another type. */
          readonly disposition: "rejected" | "ignored";
      };

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

const fleetNameSchema = z
    .string()
    .min(1)
    .max(GATE_EVENT_LIMITS.fleetName)
    .regex(FLEET_NAME_PATTERN, "expected lower-case letters, digits and '-'");
const wordSchema = z
    .string()
    .min(1)
    .max(32)
    .regex(/^[A-Za-z]+$/, "expected a single word");

const UpdateRunPropertiesSchema = z.object({
    name: fleetNameSchema,
    stage: fleetNameSchema.optional(),
    group: fleetNameSchema.optional(),
    timing: z.enum(GATE_TIMINGS),
});

const GatePropertiesSchema = z.object({
    displayName: z
        .string()
        .min(1)
        .max(GATE_EVENT_LIMITS.displayName)
        .regex(NO_CONTROL, "contains control characters")
        .optional(),
    gateType: wordSchema,
    provisioningState: wordSchema.optional(),
    state: wordSchema,
    target: z.object({
        id: armIdString,
        updateRunProperties: UpdateRunPropertiesSchema,
    }),
});

const GATE_RESOURCE_TYPE = "Microsoft.ContainerService/fleets/gates";

const GateDataSchema = z.object({
    resourceInfo: z.object({
        id: armIdString,
        name: z.string().min(1).max(64),
        type: z
            .string()
            .max(128)
            .refine((t) => t.toLowerCase() === GATE_RESOURCE_TYPE.toLowerCase(), `expected "${GATE_RESOURCE_TYPE}"`),
        properties: GatePropertiesSchema,
    }),
    operationalInfo: z.object({ resourceEventTime: timeSchema.optional() }).optional(),
    apiVersion: z
        .string()
        .max(32)
        .regex(/^[0-9a-z-]+$/, "expected an api-version")
        .optional(),
});

/** The envelope fields every event needs before its type can be looked at (also for ignored types). */
const MinimalEnvelopeSchema = {
    EventGridSchema: z.object({ id: eventIdSchema, eventType: eventTypeSchema }),
    CloudEventSchemaV1_0: z.object({ id: eventIdSchema, type: eventTypeSchema, specversion: z.literal("1.0") }),
} as const;

/** The ARM `Gate` resource (GET/LIST of `fleets/gates`, 2026-06-01). */
export const GateResourceSchema = z.object({
    id: armIdString,
    name: z.string().min(1).max(64),
    type: z.string().max(128).optional(),
    eTag: z.string().max(256).optional(),
    systemData: z.object({ createdAt: z.string().max(64).optional() }).optional(),
    properties: GatePropertiesSchema,
});
export type GateResource = z.infer<typeof GateResourceSchema>;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const X_RUN_SEGMENT = /(?:^|\/)(x{4,})(?=\/|$)/i;

/** A documentation placeholder in an id-like string: a `{name}` segment or a run of x's. */
function placeholderIn(s: unknown): string | undefined {
    if (typeof s !== "string") return undefined;
    const braces = /\{[^{}]{0,64}\}/.exec(s);
    if (braces) return braces[0];
    // The first `/`-separated segment made only of x's.
    return X_RUN_SEGMENT.exec(s)?.[1];
}

const KIND_BY_TYPE: ReadonlyMap<string, GateEventKind> = new Map(
    (Object.entries(FLEET_GATE_EVENT_TYPES) as [GateEventKind, string][]).map(([k, t]) => [t.toLowerCase(), k]),
);

/** The gate event kind of a type string (either spelling), or undefined for any other type. */
export function gateEventKindOf(type: string): GateEventKind | undefined {
    return KIND_BY_TYPE.get(type.toLowerCase());
}

function reject(reason: string, eventId?: string): GateEventParse {
    return { ok: false, reason, disposition: "rejected", ...(eventId !== undefined ? { eventId } : {}) };
}

/**
 * Builds a `GateView` from validated gate properties and the gate id; the cross-field checks shared
 * by events and resources. Returns a reason string on failure.
 */
function gateViewOf(
    id: string,
    name: string,
    props: z.infer<typeof GatePropertiesSchema>,
    where: string,
): GateView | string {
    let gate: GateRef;
    try {
        gate = parseGateId(id);
    } catch (e) {
        return `${where}.id: ${e instanceof ArmIdError ? e.message : String(e)}`;
    }
    if (!GATE_NAME_PATTERN.test(name)) return `${where}.name: ${clip(name)} is not a lower-case GUID`;
    if (name !== gate.gateName) return `${where}.name ${clip(name)} is not the last segment of ${where}.id`;
    let run: UpdateRunRef;
    const targetId = props.target.id;
    try {
        run = parseUpdateRunId(targetId);
    } catch (e) {
        return `${where}.properties.target.id: ${e instanceof ArmIdError ? e.message : String(e)}`;
    }
    if (!sameFleet(gate, run))
        return `${where}.properties.target.id: update run ${clip(targetId)} is not in the gate's fleet ${clip(
            `${gate.subscriptionId}/${gate.resourceGroup}/${gate.fleetName}`,
        )}`;
    const urp = props.target.updateRunProperties;
    if (urp.name.toLowerCase() !== run.updateRunName.toLowerCase())
        return `${where}.properties.target.updateRunProperties.name ${clip(urp.name)} is not the update run of target.id`;
    if (urp.group !== undefined && urp.stage === undefined)
        return `${where}.properties.target.updateRunProperties: a group gate without a stage`;
    // Built by assignment, not by spreading optional parts: every view has one shape, which keeps
    // the handler's property reads monomorphic (the spread form cost a third of a parse).
    const view: Mutable<GateView> = {
        gateId: id,
        gate,
        gateType: props.gateType,
        state: props.state,
        updateRunId: targetId,
        updateRun: run,
        timing: urp.timing,
    };
    if (props.displayName !== undefined) view.displayName = props.displayName;
    if (urp.stage !== undefined) view.stage = urp.stage;
    if (urp.group !== undefined) view.group = urp.group;
    return view;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/** Parses one delivered event (either schema). */
export function parseGateEvent(input: unknown): GateEventParse {
    const opened = openEvent(input, GATE_EVENT_LIMITS.eventBytes);
    if (!opened.ok) return reject(opened.reason, opened.eventId);
    const { raw, eventId } = opened;

    // Placeholders first: the published samples are recognisable as samples.
    const data = isObject(raw.data) ? raw.data : undefined;
    const info = data && isObject(data.resourceInfo) ? data.resourceInfo : undefined;
    const props = info && isObject(info.properties) ? info.properties : undefined;
    const target = props && isObject(props.target) ? props.target : undefined;
    const candidates: [string, unknown][] = [
        ["subject", raw.subject],
        ["topic", raw.topic],
        ["source", raw.source],
        ["data.resourceInfo.id", info?.id],
        ["data.resourceInfo.name", info?.name],
        ["data.resourceInfo.properties.target.id", target?.id],
    ];
    for (const [field, value] of candidates) {
        const p = placeholderIn(value);
        if (p !== undefined)
            return reject(
                `${field}: documentation placeholder ${clip(p)} (a published sample, not a real event)`,
                eventId,
            );
    }

    // Envelope schema: `specversion` in any case marks CloudEvents; its attribute names must be lower-case.
    const schema = detectSchema(raw);
    const casing = schema === "CloudEventSchemaV1_0" ? cloudEventCasingProblem(raw) : undefined;
    if (casing !== undefined) return reject(casing, eventId);
    const minimal = MinimalEnvelopeSchema[schema].safeParse(raw);
    if (!minimal.success) return reject(describeIssue(minimal.error, raw, ""), eventId);
    const type = schema === "EventGridSchema" ? String(raw.eventType) : String(raw.type);
    const kind = gateEventKindOf(type);
    if (kind === undefined)
        return {
            ok: false,
            eventId,
            disposition: "ignored",
            reason: `event type ${clip(type)} is not a Fleet gate event`,
        };

    const envelope = readEnvelope(raw, schema);
    if (typeof envelope === "string") return reject(envelope, eventId);

    const d = GateDataSchema.safeParse(raw.data);
    if (!d.success) return reject(describeIssue(d.error, raw.data, "data"), eventId);
    const resourceInfo = d.data.resourceInfo;
    const view = gateViewOf(resourceInfo.id, resourceInfo.name, resourceInfo.properties, "data.resourceInfo");
    if (typeof view === "string") return reject(view, eventId);
    if (!sameArmId(envelope.subject, resourceInfo.id))
        return reject(
            `subject ${clip(envelope.subject)} is not data.resourceInfo.id ${clip(resourceInfo.id)}`,
            eventId,
        );
    const expectedSource = `/subscriptions/${view.gate.subscriptionId}`;
    if (!sameArmId(envelope.source, expectedSource))
        return reject(
            `${sourceField(schema)} ${clip(envelope.source)} is not the gate's subscription ${clip(expectedSource)}`,
            eventId,
        );

    const event: Mutable<GateEvent> = Object.assign(view, {
        eventId: envelope.id,
        kind,
        schema,
        eventType: type,
        source: envelope.source,
        eventTime: envelope.time,
    });
    const resourceEventTime = d.data.operationalInfo?.resourceEventTime;
    if (resourceEventTime !== undefined) event.resourceEventTime = resourceEventTime;
    if (d.data.apiVersion !== undefined) event.apiVersion = d.data.apiVersion;
    return { ok: true, event };
}

/**
 * Parses a delivery: one event object or an array of them (Event Grid schema is always an array;
 * CloudEvents unbatched is one object). One result per event, in order.
 */
export function parseGateEvents(body: unknown): GateEventParse[] {
    return parseBatch(body, parseGateEvent, (reason) => reject(reason));
}

/** Validates an ARM gate resource (GET/LIST answer) into a `GateView` plus its eTag; reason string on failure. */
export function parseGateResource(
    raw: unknown,
): { ok: true; view: GateView; eTag?: string; createdAt?: string } | { ok: false; reason: string } {
    const p = GateResourceSchema.safeParse(raw);
    if (!p.success) return { ok: false, reason: describeIssue(p.error, raw, "gate") };
    const view = gateViewOf(p.data.id, p.data.name, p.data.properties, "gate");
    if (typeof view === "string") return { ok: false, reason: view };
    return {
        ok: true,
        view,
        ...(p.data.eTag !== undefined ? { eTag: p.data.eTag } : {}),
        ...(p.data.systemData?.createdAt !== undefined ? { createdAt: p.data.systemData.createdAt } : {}),
    };
}

/** The canonical (formatted) ids of a view, for logs and state keys. */
export function canonicalIds(view: Pick<GateView, "gate" | "updateRun">): { gateId: string; updateRunId: string } {
    return { gateId: formatGateId(view.gate), updateRunId: formatUpdateRunId(view.updateRun) };
}
