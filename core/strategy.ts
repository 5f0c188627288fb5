/**
 * The update strategy as plain data, and the gates it declares in the order an update run reaches
 * them. Shared by config validation, the UpdateStrategy component, the policy pack and the rehearsal.
 */
import type { GateTiming } from "./rules";

export interface GateSpec {
    readonly displayName: string;
}

export interface GroupSpec {
    readonly name: string;
    readonly maxConcurrency?: string;
    readonly beforeGates?: readonly GateSpec[];
    readonly afterGates?: readonly GateSpec[];
}

export interface StageSpec {
    readonly name: string;
    readonly groups: readonly GroupSpec[];
    readonly beforeGates?: readonly GateSpec[];
    readonly afterGates?: readonly GateSpec[];
    readonly afterStageWaitInSeconds?: number;
    readonly maxConcurrency?: string;
}

/** One gate of the strategy at its position: a stage gate has no group. */
export interface GatePosition {
    readonly stage: string;
    readonly group?: string;
    readonly timing: GateTiming;
    readonly displayName: string;
}

/**
 * Every gate in the order a run reaches it: the stage's Before gates, then per group its Before and
 * After gates (groups of a stage run in parallel; declaration order is kept), then the stage's After gates.
 */
export function gatePositions(stages: readonly StageSpec[]): GatePosition[] {
    const out: GatePosition[] = [];
    for (const stage of stages) {
        for (const g of stage.beforeGates ?? [])
            out.push({ stage: stage.name, timing: "Before", displayName: g.displayName });
        for (const group of stage.groups) {
            for (const g of group.beforeGates ?? [])
                out.push({ stage: stage.name, group: group.name, timing: "Before", displayName: g.displayName });
            for (const g of group.afterGates ?? [])
                out.push({ stage: stage.name, group: group.name, timing: "After", displayName: g.displayName });
        }
        for (const g of stage.afterGates ?? [])
            out.push({ stage: stage.name, timing: "After", displayName: g.displayName });
    }
    return out;
}

/** A short human label for a gate position, e.g. `"prod go" (stage prod, Before)`. */
export function describeGate(g: GatePosition): string {
    const where = g.group === undefined ? `stage ${g.stage}` : `stage ${g.stage}, group ${g.group}`;
    return `"${g.displayName}" (${where}, ${g.timing})`;
}
