/**
 * The check contract. A check is one file exporting a `CheckRunner` for its rule type; the registry
 * in `index.ts` maps every `CheckType` of `core/rules.ts` to its runner, so the compiler insists a
 * new check type gets a runner.
 *
 * A runner answers `{ passed, observed }`; `observed` is what was seen (a value, a list of members,
 * an error), recorded in the audit and in a hold's reason. Runners may throw: the harness turns any
 * error, a timeout or missing data into a failure, never a pass.
 */
import type { Check, CheckType } from "../../../../core/rules";
import type { GateView } from "../../../../core/gate-event";
import type { FleetApi } from "../arm-client";
import type { HttpTransport } from "../pipeline";
import type { MemberScope, PlacementScope } from "./scope";

export interface CheckVerdict {
    readonly passed: boolean;
    readonly observed: string;
    /** The failure came from a transient error (throttling, 5xx, network): another attempt may pass. */
    readonly transient?: boolean;
}

export interface CheckResult extends CheckVerdict {
    readonly type: CheckType;
    readonly durationMs: number;
    /** Not run because an earlier (cheaper) check failed. */
    readonly skipped?: boolean;
}

/** One metric value per resource id (lower-cased key); `undefined` = no data for it. */
export interface MetricsReader {
    /** True when the endpoint depends on the resources' region: `query` then needs `regions`. */
    readonly regional?: boolean;
    query(
        resourceIds: readonly string[],
        request: {
            readonly metric: string;
            readonly namespace: string;
            readonly aggregation: "Average" | "Maximum" | "Minimum" | "Total" | "Count";
            readonly startTime: Date;
            readonly endTime: Date;
        },
        abortSignal: AbortSignal,
        /** Lower-cased resource id → Azure region; ids without one get no data when `regional`. */
        regions?: ReadonlyMap<string, string>,
    ): Promise<Map<string, number | undefined>>;
}

/** Node pools whose latest rolling failed (NodePoolRollingFailed without a later success), per cluster. */
export interface NodePoolReader {
    failedPools(clusterId: string): Promise<readonly { readonly name: string; readonly since: string }[]>;
}

/** Clients the checks use, created once per process (or injected by tests). */
export interface CheckServices {
    readonly arm: FleetApi;
    /** Transport for `http` checks (no auth). */
    readonly http: HttpTransport;
    /** Absent when no metrics endpoint is configured: `metric` checks then fail, saying so. */
    readonly metrics?: MetricsReader;
    /** Absent when AKS upgrade events are not routed: `clusterHealth` then does not look at node pools. */
    readonly nodePools?: NodePoolReader;
}

export interface CheckContext {
    /** The gate (or approval request) being decided: checks read only where it sits. */
    readonly gate: Pick<GateView, "timing" | "stage" | "group">;
    /** Epoch ms, from the injected clock. */
    readonly now: number;
    /** Aborts at the check's timeout or the decision's budget. */
    readonly abortSignal: AbortSignal;
    readonly services: CheckServices;
    /** Update run and member clusters, each read at most once per decision. */
    readonly scope: MemberScope;
    /** For an approval request of a hub placement: the placement and the stage's clusters. */
    readonly placement?: PlacementScope;
}

export type CheckOf<K extends CheckType> = Extract<Check, { type: K }>;
export type CheckRunner<K extends CheckType = CheckType> = (
    check: CheckOf<K>,
    ctx: CheckContext,
) => Promise<CheckVerdict>;
export type CheckRegistry = { readonly [K in CheckType]: CheckRunner<K> };
