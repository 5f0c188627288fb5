/**
 * Generated stacks for benchmarks and scale tests: N members spread over groups of `groupSize`,
 * groups spread over `stages` stages, a Before gate per stage and an After gate per group, and a
 * rule for every After gate (so each rule is one event subscription).
 */
import { stringify } from "yaml";
import { gateEventFor } from "../core/event-filter";
import { gatePositions, type StageSpec } from "../core/strategy";
import { gateName } from "./common";

export interface GeneratedStackOptions {
    readonly members: number;
    readonly stages?: number;
    readonly groupSize?: number;
    /** Number of update groups (overrides groupSize); gates = one per stage + one per group. */
    readonly groups?: number;
    readonly environment?: string;
    /** The check every rule runs: clusterHealth (default) or an always-open window (no cluster reads). */
    readonly check?: "clusterHealth" | "window";
}

export function generateStackConfig(opts: GeneratedStackOptions): Record<string, unknown> {
    const stagesCount = opts.stages ?? 3;
    const groupSize = opts.groupSize ?? 10;
    const groupsCount = opts.groups ?? Math.max(stagesCount, Math.ceil(opts.members / groupSize));
    const groupNames = Array.from({ length: groupsCount }, (_, i) => `g${String(i + 1).padStart(3, "0")}`);
    const stages = Array.from({ length: stagesCount }, (_, s) => ({
        name: `s${s + 1}`,
        beforeGates: [{ displayName: `stage s${s + 1} go` }],
        groups: groupNames
            .filter((_, g) => g % stagesCount === s)
            .map((name) => ({ name, afterGates: [{ displayName: `${name} healthy` }] })),
    }));
    const members = Array.from({ length: opts.members }, (_, i) => ({
        name: `aks-m${String(i + 1).padStart(4, "0")}`,
        group: groupNames[i % groupsCount]!,
        labels: { ring: String(i % 3) },
    }));
    const checks =
        opts.check === "window"
            ? [
                  {
                      type: "window",
                      days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
                      hours: "00:00-24:00",
                      timeZone: "UTC",
                  },
              ]
            : [{ type: "clusterHealth" }];
    return {
        "azure-native:location": "westeurope",
        "fleet-gates:environment": opts.environment ?? "bench",
        "fleet-gates:fleet": { name: "flt-bench" },
        "fleet-gates:members": members,
        "fleet-gates:updateStrategy": { name: "gated-rollout", stages },
        "fleet-gates:approvals": [
            ...stages.map((s) => ({
                name: `${s.name}-go`,
                match: { stage: s.name, timing: "Before" },
                checks,
            })),
            ...groupNames.map((g) => ({
                name: `${g}-healthy`,
                match: { group: g, timing: "After" },
                checks,
            })),
        ],
    };
}

export function generateStackYaml(opts: GeneratedStackOptions): string {
    return stringify({ config: generateStackConfig(opts) });
}

/** `events` FleetGateCreated events cycling over the strategy's gates (alternating schemas), each gate new. */
export function generateReplayEvents(stages: readonly StageSpec[], fleetId: string, events: number): unknown[] {
    const positions = gatePositions(stages);
    return Array.from({ length: events }, (_, i) => {
        const g = positions[i % positions.length]!;
        return gateEventFor(
            {
                fleetId,
                gateName: gateName(i + 1),
                updateRunName: `run-${Math.floor(i / positions.length) + 1}`,
                stage: g.stage,
                ...(g.group !== undefined ? { group: g.group } : {}),
                timing: g.timing,
                displayName: g.displayName,
            },
            { schema: i % 2 === 0 ? "EventGridSchema" : "CloudEventSchemaV1_0" },
        );
    });
}
