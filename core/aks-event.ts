/**
 * AKS upgrade events from a cluster's `Microsoft.ContainerService.ManagedClusters` system topic:
 * envelope and data schemas for both delivery schemas (Event Grid and CloudEvents 1.0), validated
 * with zod and normalised to one `AksEvent`.
 *
 * Shapes, from Microsoft's "Azure Kubernetes Service (AKS) as an Event Grid source" page and the
 * Event Grid SDKs' system-event models:
 * - types `Microsoft.ContainerService.{NewKubernetesVersionAvailable, ClusterSupportEnding,
 *   ClusterSupportEnded, NodePoolRollingStarted, NodePoolRollingSucceeded, NodePoolRollingFailed}`;
 * - `topic` (Event Grid) / `source` (CloudEvents): the cluster's ARM id; `subject`: the cluster's
 *   name (the docs' samples); a subject carrying the full cluster id is accepted too;
 * - data: `latestSupportedKubernetesVersion`, `latestStableKubernetesVersion`,
 *   `lowestMinorKubernetesVersion`, `latestPreviewKubernetesVersion` (camelCase; "there might not
 *   be any version in preview", so it may be absent or empty); `kubernetesVersion` for the support
 *   events; `nodePoolName` for the node pool events.
 *
 * Decisions: types compare ignoring case (Event Grid filters do too). The ARM id in `topic` is
 * parsed with `arm-id.ts`, whose segment names compare ignoring case, so the lower-cased
 * `microsoft.containerservice/managedclusters` spelling Event Grid shows for these topics is
 * accepted. The docs' sample topic `/resourceGroups<rg>` (a missing `/`) and `<...>` placeholders
 * are rejected as samples. The three non-preview versions are required (a NewKubernetesVersionAvailable
 * without them cannot be acted on); unknown extra fields are tolerated. Events of other types from
 * the same topic are `ignored`, not rejected.
 */
import { z } from "zod";
import { ArmIdError, formatArmId, isType, parseArmId } from "./arm-id";
import {
    ENVELOPE_LIMITS,
    clip,
    cloudEventCasingProblem,
    describeIssue,
    openEvent,
    parseBatch,
    readEnvelope,
    sourceField,
} from "./event-envelope";
import { detectSchema, type EventSchema } from "./event-filter";
import { parseKubernetesMinor, parseKubernetesVersion, type AvailableVersions } from "./kubernetes-version";

export const MANAGED_CLUSTERS_TOPIC_TYPE = "Microsoft.ContainerService.ManagedClusters";

export const AKS_EVENT_TYPES = {
    newKubernetesVersionAvailable: "Microsoft.ContainerService.NewKubernetesVersionAvailable",
    clusterSupportEnding: "Microsoft.ContainerService.ClusterSupportEnding",
    clusterSupportEnded: "Microsoft.ContainerService.ClusterSupportEnded",
    nodePoolRollingStarted: "Microsoft.ContainerService.NodePoolRollingStarted",
    nodePoolRollingSucceeded: "Microsoft.ContainerService.NodePoolRollingSucceeded",
    nodePoolRollingFailed: "Microsoft.ContainerService.NodePoolRollingFailed",
} as const;
export type AksEventKind = keyof typeof AKS_EVENT_TYPES;
export const AKS_EVENT_KINDS = Object.keys(AKS_EVENT_TYPES) as AksEventKind[];

const KIND_BY_TYPE: ReadonlyMap<string, AksEventKind> = new Map(
    (Object.entries(AKS_EVENT_TYPES) as [AksEventKind, string][]).map(([k, t]) => [t.toLowerCase(), k]),
);

/** The AKS event kind of a type string (any case), or undefined. */
export function aksEventKindOf(type: unknown): AksEventKind | undefined {
    return typeof type === "string" ? KIND_BY_TYPE.get(type.toLowerCase()) : undefined;
}

/** True when a raw event (either schema) carries one of the AKS upgrade event types. */
export function isAksUpgradeEvent(raw: unknown): boolean {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return false;
    const r = raw as Record<string, unknown>;
    return aksEventKindOf(r.eventType ?? r.type) !== undefined;
}

export const AKS_EVENT_LIMITS = {
    eventBytes: 16 * 1024,
    eventId: ENVELOPE_LIMITS.eventId,
    armId: ENVELOPE_LIMITS.armId,
    time: ENVELOPE_LIMITS.time,
} as const;

/** The cluster an event is about. */
export interface ClusterRef {
    readonly subscriptionId: string;
    readonly resourceGroup: string;
    readonly name: string;
    /** Canonical ARM id (`.../providers/Microsoft.ContainerService/managedClusters/{name}`). */
    readonly id: string;
}

interface AksEventBase {
    readonly eventId: string;
    readonly eventType: string;
    readonly schema: EventSchema;
    readonly cluster: ClusterRef;
    /** `topic` / `source` as delivered. */
    readonly source: string;
    readonly subject: string;
    readonly eventTime: string;
}

export type AksEvent =
    | (AksEventBase & { readonly kind: "newKubernetesVersionAvailable"; readonly available: AvailableVersions })
    | (AksEventBase & {
          readonly kind: "clusterSupportEnding" | "clusterSupportEnded";
          readonly kubernetesVersion: string;
      })
    | (AksEventBase & {
          readonly kind: "nodePoolRollingStarted" | "nodePoolRollingSucceeded" | "nodePoolRollingFailed";
          readonly nodePoolName: string;
      });

export type AksEventParse =
    | { readonly ok: true; readonly event: AksEvent }
    | {
          readonly ok: false;
          readonly eventId?: string;
          readonly reason: string;
          readonly disposition: "rejected" | "ignored";
      };

const version = z
    .string()
    .max(32)
    .refine((s) => parseKubernetesVersion(s) !== undefined, "expected a version like 1.33.2");
const versionOrMinor = z
    .string()
    .max(32)
    .refine(
        (s) => parseKubernetesVersion(s) !== undefined || parseKubernetesMinor(s) !== undefined,
        "expected a version like 1.33.2",
    );

const NewVersionData = z.object({
    latestSupportedKubernetesVersion: version,
    latestStableKubernetesVersion: version,
    lowestMinorKubernetesVersion: version,
    // "There might not be any version in preview at the time of publishing the event."
    latestPreviewKubernetesVersion: z.union([z.literal(""), z.null(), version]).optional(),
});
const SupportData = z.object({ kubernetesVersion: versionOrMinor });
/** AKS agent pool names: a lower-case letter, then lower-case letters and digits, 12 at most. */
const NodePoolData = z.object({
    nodePoolName: z
        .string()
        .max(12)
        .regex(/^[a-z][a-z0-9]{0,11}$/, "expected an AKS node pool name (lower-case letters and digits, ≤ 12)"),
});

function reject(reason: string, id?: string): AksEventParse {
    return { ok: false, reason, disposition: "rejected", ...(id !== undefined ? { eventId: id } : {}) };
}

/** The cluster named by `topic`/`source`; a reason string when it is not a managed cluster id. */
export function clusterRefOf(source: string): ClusterRef | string {
    const placeholder = /<[^<>]{0,64}>|\{[^{}]{0,64}\}/.exec(source)?.[0];
    if (placeholder !== undefined)
        return `documentation placeholder ${clip(placeholder)} (a published sample, not a real event)`;
    try {
        const p = parseArmId(source);
        if (!isType(p, "Microsoft.ContainerService", ["managedClusters"]) || p.segments.length !== 1)
            return `${clip(source)} is not a Microsoft.ContainerService/managedClusters id`;
        const name = p.segments[0]![1];
        const canonical = formatArmId({
            ...p,
            provider: "Microsoft.ContainerService",
            segments: [["managedClusters", name]],
        });
        return { subscriptionId: p.subscriptionId, resourceGroup: p.resourceGroup, name, id: canonical };
    } catch (e) {
        return e instanceof ArmIdError ? e.message : String(e);
    }
}

/** Parses one delivered AKS event (either schema). Never throws. */
export function parseAksEvent(input: unknown): AksEventParse {
    const opened = openEvent(input, AKS_EVENT_LIMITS.eventBytes);
    if (!opened.ok) return reject(opened.reason, opened.eventId);
    const { raw: r, eventId: id } = opened;

    const schema = detectSchema(r);
    const casing = schema === "CloudEventSchemaV1_0" ? cloudEventCasingProblem(r) : undefined;
    if (casing !== undefined) return reject(casing, id);
    const type = schema === "EventGridSchema" ? r.eventType : r.type;
    const kind = aksEventKindOf(type);
    if (kind === undefined) {
        if (typeof type !== "string")
            return reject(`${schema === "EventGridSchema" ? "eventType" : "type"}: required (missing)`, id);
        return {
            ok: false,
            disposition: "ignored",
            reason: `event type ${clip(type)} is not an AKS upgrade event`,
            ...(id !== undefined ? { eventId: id } : {}),
        };
    }

    const env = readEnvelope(r, schema);
    if (typeof env === "string") return reject(env, id);
    const cluster = clusterRefOf(env.source);
    if (typeof cluster === "string") return reject(`${sourceField(schema)}: ${cluster}`, env.id);
    const subjectOk =
        env.subject.toLowerCase() === cluster.name.toLowerCase() ||
        (() => {
            const s = clusterRefOf(env.subject);
            return typeof s !== "string" && s.id.toLowerCase() === cluster.id.toLowerCase();
        })();
    if (!subjectOk)
        return reject(
            `subject ${clip(env.subject)} is neither the cluster's name ${clip(cluster.name)} nor its id (${sourceField(schema)} ${clip(env.source)})`,
            env.id,
        );

    const base = {
        eventId: env.id,
        eventType: env.type,
        schema,
        cluster,
        source: env.source,
        subject: env.subject,
        eventTime: env.time,
    };
    switch (kind) {
        case "newKubernetesVersionAvailable": {
            const d = NewVersionData.safeParse(r.data);
            if (!d.success) return reject(describeIssue(d.error, r.data, "data"), env.id);
            const preview = d.data.latestPreviewKubernetesVersion;
            const available: AvailableVersions = {
                latestSupported: d.data.latestSupportedKubernetesVersion,
                latestStable: d.data.latestStableKubernetesVersion,
                lowestMinor: d.data.lowestMinorKubernetesVersion,
                ...(typeof preview === "string" && preview !== "" ? { latestPreview: preview } : {}),
            };
            return { ok: true, event: { ...base, kind, available } };
        }
        case "clusterSupportEnding":
        case "clusterSupportEnded": {
            const d = SupportData.safeParse(r.data);
            if (!d.success) return reject(describeIssue(d.error, r.data, "data"), env.id);
            return { ok: true, event: { ...base, kind, kubernetesVersion: d.data.kubernetesVersion } };
        }
        default: {
            const d = NodePoolData.safeParse(r.data);
            if (!d.success) return reject(describeIssue(d.error, r.data, "data"), env.id);
            return { ok: true, event: { ...base, kind, nodePoolName: d.data.nodePoolName } };
        }
    }
}

/** Parses a delivery: one event or an array of them. One result per event, in order. */
export function parseAksEvents(body: unknown): AksEventParse[] {
    return parseBatch(body, parseAksEvent, (reason) => reject(reason));
}

/** Builds an event as AKS publishes it, in the Event Grid schema (emulation, tests). */
export function aksEventFor(spec: {
    readonly kind: AksEventKind;
    readonly clusterId: string;
    readonly id: string;
    readonly time: string;
    readonly data: Readonly<Record<string, string>>;
}): Record<string, unknown> {
    const cluster = clusterRefOf(spec.clusterId);
    if (typeof cluster === "string") throw new Error(`aksEventFor: ${cluster}`);
    return {
        topic: spec.clusterId,
        subject: cluster.name,
        eventType: AKS_EVENT_TYPES[spec.kind],
        id: spec.id,
        data: { ...spec.data },
        dataVersion: "1",
        metadataVersion: "1",
        eventTime: spec.time,
    };
}
