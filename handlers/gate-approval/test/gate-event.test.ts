/**
 * Parsing FleetGate events: the published fixtures, both envelopes and every spelling of the event
 * types, batches, malformed events rejected with a reason (never an exception), and gate resources read
 * with their eTag.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { gateEventFor, gateEventVariants, type JsonObject } from "../../../core/event-filter";
import { GATE_EVENT_LIMITS, parseGateEvent, parseGateEvents, parseGateResource } from "../../../core/gate-event";
import { FIXTURES, FLEET_ID, OTHER_FLEET_ID, SUB, guid } from "./helpers";

function fixture(kind: "raw" | "resolved", name: string): unknown {
    return JSON.parse(fs.readFileSync(path.join(FIXTURES, kind, name), "utf8"));
}

const NAMES = [
    "cloudevents-schema-gate-created.json",
    "cloudevents-schema-gate-deleted.json",
    "cloudevents-schema-gate-updated.json",
    "eventgrid-schema-gate-created.json",
];

function base(): JsonObject {
    return gateEventFor({
        fleetId: FLEET_ID,
        gateName: guid(1),
        updateRunName: "run-1",
        stage: "dev",
        group: "blue",
        timing: "After",
        displayName: "blue healthy",
    });
}

/** A deep copy of the base event with `edit` applied. */
function edited(
    // Edits poke at arbitrary paths of untyped JSON.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    edit: (e: any) => void,
    schema: "EventGridSchema" | "CloudEventSchemaV1_0" = "EventGridSchema",
): unknown {
    const e = JSON.parse(
        JSON.stringify(
            schema === "EventGridSchema"
                ? base()
                : gateEventFor(
                      {
                          fleetId: FLEET_ID,
                          gateName: guid(1),
                          updateRunName: "run-1",
                          stage: "dev",
                          group: "blue",
                          timing: "After",
                          displayName: "blue healthy",
                      },
                      { schema },
                  ),
        ),
    );
    edit(e);
    return e;
}

function rejected(raw: unknown): string {
    const r = parseGateEvent(raw);
    expect(r.ok).toBe(false);
    if (r.ok) throw new Error("unreachable");
    expect(r.disposition).toBe("rejected");
    return r.reason;
}

describe("published fixtures", () => {
    it.each(NAMES)("raw/%s is rejected for its documentation placeholder", (name) => {
        const results = parseGateEvents(fixture("raw", name));
        expect(results).toHaveLength(1);
        const r = results[0]!;
        expect(r.ok).toBe(false);
        if (r.ok) return;
        expect(r.disposition).toBe("rejected");
        expect(r.reason).toMatch(/documentation placeholder/);
        expect(r.reason).toMatch(/\{subscription-id\}|xxxxxxxxxx/);
    });

    it("resolved CloudEvents Created parses to the normalised event", () => {
        const [r] = parseGateEvents(fixture("resolved", NAMES[0]!));
        expect(r).toEqual({
            ok: true,
            event: {
                gateId: "/subscriptions/8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev/gates/cc0ec874-911f-5828-843f-e902faa93d85",
                gate: {
                    subscriptionId: SUB,
                    resourceGroup: "rg-fleet-dev",
                    fleetName: "flt-dev",
                    gateName: "cc0ec874-911f-5828-843f-e902faa93d85",
                },
                displayName: "before-stage",
                gateType: "Approval",
                state: "Pending",
                updateRunId: `${FLEET_ID}/updateRuns/run-1`,
                updateRun: {
                    subscriptionId: SUB,
                    resourceGroup: "rg-fleet-dev",
                    fleetName: "flt-dev",
                    updateRunName: "run-1",
                },
                stage: "stage-1",
                timing: "Before",
                eventId: "fc23ccda-34fc-586c-9d9d-449b9fd62204",
                kind: "created",
                schema: "CloudEventSchemaV1_0",
                eventType: "Microsoft.ResourceNotifications.AksResources.FleetGateCreated",
                source: `/subscriptions/${SUB}`,
                eventTime: "2025-09-09T01:10:58.4955907Z",
                resourceEventTime: "2025-09-08T18:10:58.4955907-07:00",
                apiVersion: "2025-04-01-preview",
            },
        });
    });

    it("resolved Deleted, Updated (group gate) and the Event Grid batch parse with their kinds", () => {
        const deleted = parseGateEvents(fixture("resolved", NAMES[1]!))[0]!;
        const updated = parseGateEvents(fixture("resolved", NAMES[2]!))[0]!;
        const eg = parseGateEvents(fixture("resolved", NAMES[3]!));
        expect(deleted.ok && deleted.event.kind).toBe("deleted");
        expect(deleted.ok && deleted.event.state).toBe("Pending");
        expect(updated.ok && [updated.event.kind, updated.event.state, updated.event.group]).toEqual([
            "updated",
            "Completed",
            "group-1",
        ]);
        expect(eg).toHaveLength(1);
        expect(eg[0]!.ok && [eg[0]!.event.schema, eg[0]!.event.gate.fleetName, eg[0]!.event.stage]).toEqual([
            "EventGridSchema",
            "flt-mgr-approvals-01",
            "chinanorth-development",
        ]);
    });
});

describe("envelopes and spellings", () => {
    const spec = {
        fleetId: FLEET_ID,
        gateName: guid(7),
        updateRunName: "run-1",
        stage: "dev",
        timing: "Before" as const,
        displayName: "x",
    };

    it.each(gateEventVariants(spec).map((v) => [v.schema, v.spelling, v.event] as const))(
        "%s with %s parses the same gate",
        (schema, _spelling, event) => {
            const r = parseGateEvent(event);
            expect(r.ok).toBe(true);
            if (!r.ok) return;
            expect(r.event.schema).toBe(schema);
            expect(r.event.kind).toBe("created");
            expect(r.event.gate.gateName).toBe(guid(7));
        },
    );

    it("event types compare ignoring case, in any spelling", () => {
        for (const type of [
            "microsoft.resourcenotifications.aksresources.fleetgatecreated",
            "MICROSOFT.RESOURCENOTIFICATIONS.AKSRESOURCES.FLEETGATECREATED",
        ]) {
            const r = parseGateEvent(edited((e) => (e.eventType = type)));
            expect(r.ok && r.event.kind).toBe("created");
        }
    });

    it("an array is a batch; a single object is one event", () => {
        expect(parseGateEvents([base(), base()])).toHaveLength(2);
        expect(parseGateEvents(base())).toHaveLength(1);
        expect(parseGateEvents([])).toEqual([]);
    });

    it("a batch over the Event Grid maximum is rejected as a whole", () => {
        const r = parseGateEvents(new Array(GATE_EVENT_LIMITS.batchEvents + 1).fill(0));
        expect(r).toHaveLength(1);
        expect(r[0]!.ok === false && r[0]!.reason).toMatch(/batch: 5001 events/);
    });

    it("an unknown event type with a valid envelope is ignored, not rejected", () => {
        const r = parseGateEvent(
            edited((e) => (e.eventType = "Microsoft.ResourceNotifications.AKSResources.ManagedClusterUpdated")),
        );
        expect(r).toMatchObject({ ok: false, disposition: "ignored", eventId: expect.any(String) });
        expect(r.ok === false && r.reason).toMatch(/not a Fleet gate event/);
        const v = parseGateEvent({
            id: "v1",
            eventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
            subject: "",
            data: { validationCode: "x" },
            eventTime: "2026-01-01T00:00:00Z",
        });
        expect(v.ok === false && v.disposition).toBe("ignored");
    });
});

describe("rejections", () => {
    const cases: [string, () => unknown, RegExp][] = [
        ["not an object", () => "hello", /expected a JSON object/],
        ["null", () => null, /expected a JSON object/],
        ["no id", () => edited((e) => delete e.id), /^id: .*missing/],
        ["id with spaces", () => edited((e) => (e.id = "a b")), /^id: /],
        ["numeric id", () => edited((e) => (e.id = 5)), /^id: /],
        ["no data", () => edited((e) => delete e.data), /^data: /],
        ["data is a string", () => edited((e) => (e.data = "x")), /^data: /],
        [
            "gate name is not a GUID",
            () =>
                edited((e) => {
                    const id = `${FLEET_ID}/gates/not-a-guid`;
                    e.subject = id;
                    e.data.resourceInfo.id = id;
                    e.data.resourceInfo.name = "not-a-guid";
                }),
            /gate name is not a lower-case GUID/,
        ],
        [
            "upper-case gate name",
            () =>
                edited((e) => {
                    const name = "ABCDEF01-0000-4000-8000-00000000000A";
                    const id = `${FLEET_ID}/gates/${name}`;
                    e.subject = id;
                    e.data.resourceInfo.id = id;
                    e.data.resourceInfo.name = name;
                }),
            /lower-case GUID/,
        ],
        [
            "traversal in the gate id",
            () =>
                edited((e) => {
                    const id = `${FLEET_ID}/gates/../../fleets/evil/gates/${guid(1)}`;
                    e.subject = id;
                    e.data.resourceInfo.id = id;
                }),
            /traversal segment/,
        ],
        [
            "traversal in the target",
            () =>
                edited(
                    (e) =>
                        (e.data.resourceInfo.properties.target.id = `${FLEET_ID}/updateRuns/../../../x/updateRuns/run-1`),
                ),
            /target\.id: .*traversal/,
        ],
        [
            "subject differs from resourceInfo.id",
            () => edited((e) => (e.subject = `${FLEET_ID}/gates/${guid(2)}`)),
            /subject .* is not data\.resourceInfo\.id/,
        ],
        [
            "resourceInfo.name differs from the id",
            () => edited((e) => (e.data.resourceInfo.name = guid(2))),
            /name .* is not the last segment/,
        ],
        [
            "target in another fleet",
            () => edited((e) => (e.data.resourceInfo.properties.target.id = `${OTHER_FLEET_ID}/updateRuns/run-1`)),
            /is not in the gate's fleet/,
        ],
        [
            "target is not an update run",
            () => edited((e) => (e.data.resourceInfo.properties.target.id = `${FLEET_ID}/members/m1`)),
            /not a Microsoft\.ContainerService\/fleets\/updateRuns id/,
        ],
        [
            "update run name disagrees with target",
            () => edited((e) => (e.data.resourceInfo.properties.target.updateRunProperties.name = "run-2")),
            /is not the update run of target\.id/,
        ],
        [
            "topic of another subscription",
            () => edited((e) => (e.topic = `/subscriptions/${guid(9)}`)),
            /is not the gate's subscription/,
        ],
        [
            "resource type not gates",
            () => edited((e) => (e.data.resourceInfo.type = "Microsoft.ContainerService/fleets")),
            /resourceInfo\.type/,
        ],
        [
            "timing is lower-case",
            () => edited((e) => (e.data.resourceInfo.properties.target.updateRunProperties.timing = "before")),
            /timing/,
        ],
        [
            "stage with upper case",
            () => edited((e) => (e.data.resourceInfo.properties.target.updateRunProperties.stage = "Dev")),
            /stage/,
        ],
        [
            "stage too long",
            () => edited((e) => (e.data.resourceInfo.properties.target.updateRunProperties.stage = "a".repeat(51))),
            /stage/,
        ],
        [
            "displayName too long",
            () => edited((e) => (e.data.resourceInfo.properties.displayName = "d".repeat(101))),
            /displayName/,
        ],
        [
            "displayName with a newline",
            () => edited((e) => (e.data.resourceInfo.properties.displayName = "a\nb")),
            /control characters/,
        ],
        ["state is a number", () => edited((e) => (e.data.resourceInfo.properties.state = 1)), /state/],
        ["gateType is an object", () => edited((e) => (e.data.resourceInfo.properties.gateType = {})), /gateType/],
        [
            "group without stage",
            () => edited((e) => delete e.data.resourceInfo.properties.target.updateRunProperties.stage),
            /group gate without a stage/,
        ],
        ["eventTime is not a time", () => edited((e) => (e.eventTime = "yesterday")), /eventTime/],
        [
            "oversized event",
            () => edited((e) => (e.data.padding = "x".repeat(GATE_EVENT_LIMITS.eventBytes))),
            /the limit is 65536/,
        ],
        ["id of 10,000 characters", () => edited((e) => (e.subject = `/${"a/".repeat(5000)}`)), /subject/],
        [
            "CloudEvents specVersion",
            () =>
                edited((e) => {
                    e.specVersion = e.specversion;
                    delete e.specversion;
                }, "CloudEventSchemaV1_0"),
            /must be lower-case/,
        ],
        ["CloudEvents 0.3", () => edited((e) => (e.specversion = "0.3"), "CloudEventSchemaV1_0"), /specversion/],
        ["CloudEvents without subject", () => edited((e) => delete e.subject, "CloudEventSchemaV1_0"), /subject/],
        [
            "placeholder in the target",
            () => edited((e) => (e.data.resourceInfo.properties.target.id = `${FLEET_ID}/updateRuns/{run-name}`)),
            /placeholder "\{run-name\}"/,
        ],
        ["BigInt-like unserializable", () => ({ id: "x", data: { n: BigInt(1) } }), /not serializable/],
    ];

    it.each(cases)("%s", (_name, make, reason) => {
        expect(rejected(make())).toMatch(reason);
    });

    it("keeps the event id in the rejection when it is readable", () => {
        const r = parseGateEvent(edited((e) => (e.subject = "nope")));
        expect(r.ok === false && r.eventId).toBe((base() as { id: string }).id);
    });
});

describe("parseGateResource", () => {
    it("reads a gate resource with its eTag and creation time", () => {
        const r = parseGateResource({
            id: `${FLEET_ID}/gates/${guid(3)}`,
            name: guid(3),
            type: "Microsoft.ContainerService/fleets/gates",
            eTag: '"e1"',
            systemData: { createdAt: "2026-01-01T00:00:00Z" },
            properties: {
                gateType: "Approval",
                state: "Pending",
                target: {
                    id: `${FLEET_ID}/updateRuns/run-1`,
                    updateRunProperties: { name: "run-1", stage: "dev", timing: "After" },
                },
            },
        });
        expect(r.ok && [r.view.gate.gateName, r.view.stage, r.eTag, r.createdAt]).toEqual([
            guid(3),
            "dev",
            '"e1"',
            "2026-01-01T00:00:00Z",
        ]);
    });

    it("rejects a resource whose target is in another fleet", () => {
        const r = parseGateResource({
            id: `${FLEET_ID}/gates/${guid(3)}`,
            name: guid(3),
            properties: {
                gateType: "Approval",
                state: "Pending",
                target: {
                    id: `${OTHER_FLEET_ID}/updateRuns/run-1`,
                    updateRunProperties: { name: "run-1", timing: "After" },
                },
            },
        });
        expect(r.ok === false && r.reason).toMatch(/not in the gate's fleet/);
    });
});
