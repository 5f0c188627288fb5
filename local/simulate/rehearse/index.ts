/**
 * `npm run rehearse`: an update run of a stack, simulated end to end with no Azure account. This is
 * the entry point; the world it runs in is `world.ts`, the machinery and records `simulator.ts`, one
 * function per step of Fleet's order `steps.ts`, and everything it prints `output.ts`.
 *
 * The stack is planned (`planStack`), so the event subscriptions, their filters, delivery schemas,
 * retry policies, batching and dead-letter containers are exactly the ones the program deploys. The
 * loopback ARM emulator is seeded with the fleet and healthy members (update state `NotStarted`)
 * and one update run `rehearsal-1` built from the strategy. The run is then walked as Fleet walks
 * it, on a virtual clock starting at `now` (cooperative processes, `local/simulate/scheduler.ts`): stages in
 * order; per stage its Before gates, then its groups in parallel — per group its Before gates, the
 * upgrade of its members (`upgradeMinutes` each, up to the group's maxConcurrency at a time and the
 * stage's maxConcurrency across its groups; `Failed` for members in `fail`), its After gates — then,
 * once every group is done, the stage's After gates and `afterStageWaitInSeconds`.
 *
 * At each gate: the gate is created Pending in the emulator (lower-case GUID name) and Fleet's
 * FleetGateCreated is published as the service shapes it (`AksResources` spelling) to the emulated
 * Event Grid (`EventGridEmulator`): every subscription's filter (`core/event-filter.ts`) on the
 * event in that subscription's delivery schema, batching, delivery to the REAL handler trigger as
 * the Functions host invokes it (a `RedeliveryRequested` is a 500: retried on Event Grid's schedule),
 * dead-letter blobs when retries run out. Then:
 * - approved by the handler → FleetGateUpdated (state Completed) is published, the run moves on;
 * - held → the handler's reconcile sweep (same runtime) runs on its timer's grid (every
 *   `sweepMinutes`, on the minute) until the gate is approved or the horizon is reached (window
 *   checks open as time moves);
 * - a gate no approval rule matches is **manual**: with `approveManual` a person marks it Completed
 *   (the outcome stays `manual`), otherwise the run waits there;
 * - a gate an approval rule matches but no rule subscription's filter routes is **unrouted** (the
 *   lifecycle subscription does not count). In Azure the sweep could still pick it up, but the
 *   event path is broken, which is what the rehearsal exists to catch: it is reported as stuck.
 * A stuck gate (unrouted, manual without `approveManual`, held at the horizon) stops its group; the
 * other groups of the stage go on, but the stage never completes, so later stages are not reached
 * (`notReached`). With `deleteRun`, a person deletes the update run at the end: Fleet deletes its
 * gates and publishes FleetGateDeleted for each (to the lifecycle subscription; the handler clears
 * what it held). On demand, Event Grid's at-least-once and unordered delivery is made visible:
 * duplicate deliveries (some arriving up to 3 minutes late) and shuffled order (`duplicates`,
 * `shuffle`, `seed`).
 *
 * The world is healthy unless told otherwise: clusters provisioned and running, every metric a rule
 * checks reported at a passing value, every URL an `http` check calls answering what the check
 * expects (no request leaves the machine). Retry delays follow the schedule exactly (no jitter), so
 * timings read plainly.
 */

import { Simulator } from "./simulator";
import { walkRun } from "./steps";
import type { RehearsalResult, RehearseOptions } from "./types";

export { formatRehearsal, rehearsalJson, rehearsalMermaid } from "./output";
export * from "./types";
export { nextSweepAt, planSubscriptions, resolveConcurrency } from "./world";

/** Simulates an update run of the stack through the real handler; see the module comment. */
export async function rehearse(opts: RehearseOptions): Promise<RehearsalResult> {
    const sim = await Simulator.start(opts);
    try {
        await walkRun(sim);
        return sim.result();
    } finally {
        await sim.stop();
    }
}
