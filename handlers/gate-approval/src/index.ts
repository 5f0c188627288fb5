/**
 * Entry point of the gate-approval Functions app (Node.js v4 programming model). Importing a
 * trigger module registers it with the Functions host; the bundle recipe (`bundle.ts`, run by
 * `build.ts` and by `pulumi up`) bundles this file and everything it imports into `dist/index.js`.
 */
import "./functions/event";
import "./functions/sweep";

export {
    GATE_EVENT_FUNCTION,
    createGateEventHandler,
    gateEvent,
    summariseEvent,
    RedeliveryRequested,
} from "./functions/event";
export { GATE_SWEEP_FUNCTION, SWEEP_SCHEDULE_SETTING, createGateSweepHandler, gateSweep } from "./functions/sweep";
export { decide, sweep } from "./engine";
export type { Decision, EngineDeps, EngineSettings, Outcome } from "./engine";
export { createRuntime, getRuntime, setRuntime } from "./runtime";
export { readSettings } from "./settings";
