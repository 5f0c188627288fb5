/**
 * AKS upgrade event schemas: both envelopes, the published casing quirks, and malformed input
 * rejected with a reason that names the field (never an exception).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
    AKS_EVENT_TYPES,
    aksEventFor,
    isAksUpgradeEvent,
    parseAksEvent,
    parseAksEvents,
    type AksEventKind,
} from "../core/aks-event";
import { parseGateEvent } from "../core/gate-event";

const SUB = "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e";
const CLUSTER = `/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/managedClusters/aks-dev-blue-1`;
const NEW_VERSION_DATA = {
    latestSupportedKubernetesVersion: "1.34.1",
    latestStableKubernetesVersion: "1.33.2",
    lowestMinorKubernetesVersion: "1.31.9",
    latestPreviewKubernetesVersion: "1.35.0",
};

/** The docs' Event Grid sample with concrete ids. */
function eventGrid(over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        topic: CLUSTER,
        subject: "aks-dev-blue-1",
        eventType: "Microsoft.ContainerService.NewKubernetesVersionAvailable",
        id: "1234567890abcdef1234567890abcdef12345678",
        data: { ...NEW_VERSION_DATA },
        dataVersion: "1",
        metadataVersion: "1",
        eventTime: "2026-12-01T04:52:57.0000000Z",
        ...over,
    };
}

/** The docs' CloudEvents sample with concrete ids. */
function cloudEvent(over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        source: CLUSTER,
        subject: "aks-dev-blue-1",
        type: "Microsoft.ContainerService.NewKubernetesVersionAvailable",
        id: "1234567890abcdef1234567890abcdef12345678",
        data: { ...NEW_VERSION_DATA },
        specversion: "1.0",
        time: "2026-12-01T04:52:57.0000000Z",
        ...over,
    };
}

describe("parseAksEvent: both envelopes", () => {
    it("reads the Event Grid schema sample into the same event as the CloudEvents one", () => {
        const a = parseAksEvent(eventGrid());
        const b = parseAksEvent(cloudEvent());
        expect(a.ok && b.ok).toBe(true);
        if (!a.ok || !b.ok) return;
        expect(a.event.schema).toBe("EventGridSchema");
        expect(b.event.schema).toBe("CloudEventSchemaV1_0");
        expect(a.event.kind).toBe("newKubernetesVersionAvailable");
        const strip = ({ schema: _s, ...rest }: Record<string, unknown>) => rest;
        expect(strip(a.event as never)).toEqual(strip(b.event as never));
        if (a.event.kind !== "newKubernetesVersionAvailable") return;
        expect(a.event.available).toEqual({
            latestSupported: "1.34.1",
            latestStable: "1.33.2",
            lowestMinor: "1.31.9",
            latestPreview: "1.35.0",
        });
        expect(a.event.cluster).toEqual({
            subscriptionId: SUB,
            resourceGroup: "rg-fleet-dev",
            name: "aks-dev-blue-1",
            id: CLUSTER,
        });
    });

    it("accepts the lower-cased provider spelling of the topic and normalises the cluster id", () => {
        const topic = CLUSTER.replace(
            "Microsoft.ContainerService/managedClusters",
            "microsoft.containerservice/managedclusters",
        );
        const r = parseAksEvent(eventGrid({ topic }));
        expect(r.ok && r.event.cluster.id).toBe(CLUSTER);
        expect(r.ok && r.event.source).toBe(topic);
    });

    it("compares the event type ignoring case and accepts a subject carrying the full cluster id", () => {
        const r = parseAksEvent(
            eventGrid({ eventType: "microsoft.containerservice.newkubernetesversionavailable", subject: CLUSTER }),
        );
        expect(r.ok).toBe(true);
    });

    it.each([
        ["no preview field", (d: Record<string, unknown>) => delete d.latestPreviewKubernetesVersion],
        ["an empty preview", (d: Record<string, unknown>) => (d.latestPreviewKubernetesVersion = "")],
        ["a null preview", (d: Record<string, unknown>) => (d.latestPreviewKubernetesVersion = null)],
    ])("treats %s as no preview version", (_what, change) => {
        const data: Record<string, unknown> = { ...NEW_VERSION_DATA };
        change(data);
        const r = parseAksEvent(eventGrid({ data }));
        expect(r.ok).toBe(true);
        if (r.ok && r.event.kind === "newKubernetesVersionAvailable")
            expect(r.event.available.latestPreview).toBeUndefined();
    });

    it.each([
        ["clusterSupportEnding", { kubernetesVersion: "1.31.9" }, "kubernetesVersion", "1.31.9"],
        ["clusterSupportEnded", { kubernetesVersion: "1.30" }, "kubernetesVersion", "1.30"],
        ["nodePoolRollingStarted", { nodePoolName: "nodepool1" }, "nodePoolName", "nodepool1"],
        ["nodePoolRollingSucceeded", { nodePoolName: "system" }, "nodePoolName", "system"],
        ["nodePoolRollingFailed", { nodePoolName: "np2" }, "nodePoolName", "np2"],
    ] as const)("reads %s in both schemas", (kind, data, field, value) => {
        for (const make of [eventGrid, cloudEvent]) {
            const key = make === eventGrid ? "eventType" : "type";
            const r = parseAksEvent(make({ [key]: AKS_EVENT_TYPES[kind as AksEventKind], data }));
            expect(r.ok).toBe(true);
            if (r.ok) {
                expect(r.event.kind).toBe(kind);
                expect((r.event as unknown as Record<string, unknown>)[field]).toBe(value);
            }
        }
    });

    it("builds events the parser accepts (aksEventFor)", () => {
        const ev = aksEventFor({
            kind: "nodePoolRollingFailed",
            clusterId: CLUSTER,
            id: "e1",
            time: "2026-12-01T10:00:00Z",
            data: { nodePoolName: "nodepool1" },
        });
        expect(ev.subject).toBe("aks-dev-blue-1");
        expect(parseAksEvent(ev)).toMatchObject({
            ok: true,
            event: { kind: "nodePoolRollingFailed", nodePoolName: "nodepool1" },
        });
    });

    it("parses a batch one result per event, and isAksUpgradeEvent tells AKS events from gate events", () => {
        const results = parseAksEvents([eventGrid(), eventGrid({ id: "x", data: {} })]);
        expect(results.map((r) => r.ok)).toEqual([true, false]);
        expect(isAksUpgradeEvent(eventGrid())).toBe(true);
        expect(isAksUpgradeEvent(cloudEvent())).toBe(true);
        expect(isAksUpgradeEvent({ eventType: "Microsoft.ResourceNotifications.AksResources.FleetGateCreated" })).toBe(
            false,
        );
        expect(isAksUpgradeEvent([eventGrid()])).toBe(false);
    });

    it("the gate parser ignores AKS events rather than rejecting them", () => {
        expect(parseGateEvent(eventGrid())).toMatchObject({ ok: false, disposition: "ignored" });
    });
});

describe("parseAksEvent: bad input is rejected with a reason", () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
        [
            "the docs' placeholder topic",
            eventGrid({
                topic: "/subscriptions/<id>/resourceGroups<rg>/providers/Microsoft.ContainerService/managedClusters/<cluster>",
                subject: "<cluster>",
            }),
            /^topic: documentation placeholder "<id>"/,
        ],
        [
            "a topic that is not a managed cluster",
            eventGrid({
                topic: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/fleets/f`,
            }),
            /^topic: .* is not a Microsoft.ContainerService\/managedClusters id$/,
        ],
        ["a subscription-scoped topic", eventGrid({ topic: `/subscriptions/${SUB}` }), /^topic: invalid ARM id/],
        [
            "a subject naming another cluster",
            eventGrid({ subject: "aks-dev-green-1" }),
            /^subject "aks-dev-green-1" is neither the cluster's name "aks-dev-blue-1" nor its id/,
        ],
        ["a missing eventTime", eventGrid({ eventTime: undefined }), /^eventTime: .*\(missing\)$/],
        [
            "a bad eventTime",
            eventGrid({ eventTime: "yesterday" }),
            /^eventTime: expected an RFC 3339 date-time \(got "yesterday"\)$/,
        ],
        [
            "a version with a v prefix",
            eventGrid({ data: { ...NEW_VERSION_DATA, latestStableKubernetesVersion: "v1.33.2" } }),
            /^data.latestStableKubernetesVersion: expected a version like 1.33.2 \(got "v1.33.2"\)$/,
        ],
        [
            "a missing latestSupportedKubernetesVersion",
            eventGrid({ data: { latestStableKubernetesVersion: "1.33.2", lowestMinorKubernetesVersion: "1.31.9" } }),
            /^data.latestSupportedKubernetesVersion: .*\(missing\)$/,
        ],
        [
            "PascalCase data fields",
            eventGrid({ data: { LatestSupportedKubernetesVersion: "1.34.1" } }),
            /^data.latestSupportedKubernetesVersion: .*\(missing\)$/,
        ],
        [
            "a node pool name with capitals",
            eventGrid({ eventType: AKS_EVENT_TYPES.nodePoolRollingFailed, data: { nodePoolName: "NodePool1" } }),
            /^data.nodePoolName: expected an AKS node pool name/,
        ],
        [
            "a support event without a version",
            eventGrid({ eventType: AKS_EVENT_TYPES.clusterSupportEnded, data: {} }),
            /^data.kubernetesVersion: .*\(missing\)$/,
        ],
        [
            "a mis-cased CloudEvents attribute",
            cloudEvent({ specVersion: "1.0", specversion: undefined }),
            /^CloudEvents attribute "specVersion" must be lower-case/,
        ],
        ["a CloudEvents specversion 0.3", cloudEvent({ specversion: "0.3" }), /^specversion: /],
    ];
    it.each(cases)("rejects %s", (_what, raw, reason) => {
        const clean = JSON.parse(JSON.stringify(raw)) as unknown;
        const r = parseAksEvent(clean);
        expect(r.ok).toBe(false);
        if (!r.ok) {
            expect(r.disposition).toBe("rejected");
            expect(r.reason).toMatch(reason);
        }
    });

    it("ignores another event type of the same topic (not rejected)", () => {
        const r = parseAksEvent(eventGrid({ eventType: "Microsoft.ContainerService.SomethingElse" }));
        expect(r).toMatchObject({
            ok: false,
            disposition: "ignored",
            reason: 'event type "Microsoft.ContainerService.SomethingElse" is not an AKS upgrade event',
        });
    });

    it("never throws and never accepts arbitrary JSON (fast-check)", () => {
        fc.assert(
            fc.property(fc.jsonValue(), (v) => {
                const r = parseAksEvent(v);
                expect(r.ok).toBe(false);
                if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
            }),
            { numRuns: 500 },
        );
    });

    it("rejects any mutation of one data field to a non-version string (fast-check)", () => {
        const field = fc.constantFrom(
            "latestSupportedKubernetesVersion",
            "latestStableKubernetesVersion",
            "lowestMinorKubernetesVersion",
        );
        const bad = fc
            .string({ maxLength: 20 })
            .filter((s) => !/^(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,4})$/.test(s));
        fc.assert(
            fc.property(field, bad, (f, v) => {
                const r = parseAksEvent(eventGrid({ data: { ...NEW_VERSION_DATA, [f]: v } }));
                expect(r.ok).toBe(false);
                if (!r.ok) expect(r.reason.startsWith(`data.${f}: `)).toBe(true);
            }),
            { numRuns: 300 },
        );
    });
});
