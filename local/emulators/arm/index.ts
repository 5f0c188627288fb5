/**
 * The loopback ARM emulator's public face: the `ArmEmulator` server and the shapes it is seeded
 * with and logs. Tests, the replay and the rehearsal import from here; the resource families
 * (`gates.ts`, `update-runs.ts`, `clusters.ts`, `metrics.ts`) stay internal.
 */
export { ArmEmulator } from "./server";
export type { AddGateSpec } from "./gates";
export type { FaultKind } from "../faults";
export {
    FLEET_API_VERSION,
    type ArmEmulatorOptions,
    type EmulatorGate,
    type Fault,
    type GateConfigSpec,
    type GateState,
    type MemberState,
    type RequestLogEntry,
    type Route,
    type UpdateRunSpec,
    type UpdateState,
} from "./types";
