/**
 * `clusterHealth`: every member in the gate's scope (the stage's members for a stage gate, the
 * group's for a group gate, from the update run's status) has provisioningState `Succeeded` and
 * powerState `Running`; for an After gate, its update in this run is `Completed`; and, when AKS
 * upgrade events are routed, no node pool of it whose latest rolling failed (NodePoolRollingFailed
 * without a later NodePoolRollingSucceeded). Reads the update run once and each member cluster once
 * (bounded concurrency).
 */
import { mapLimit } from "../util";
import type { CheckRunner } from "./types";

const CONCURRENCY = 8;

export const clusterHealth: CheckRunner<"clusterHealth"> = async (_check, ctx) => {
    const scope = await ctx.scope.members();
    if (!scope.ok) return { passed: false, observed: scope.observed };
    const problems = await mapLimit(scope.members, CONCURRENCY, async (m) => {
        const out: string[] = [];
        if (ctx.gate.timing === "After" && m.state !== "Completed")
            out.push(`update ${m.state ?? "state unknown"} (expected Completed)`);
        const cluster = await ctx.scope.cluster(m.clusterResourceId);
        if (cluster === undefined) out.push("cluster not found");
        else {
            if (cluster.provisioningState !== "Succeeded")
                out.push(`provisioningState ${cluster.provisioningState ?? "unknown"}`);
            if (cluster.powerState !== "Running") out.push(`powerState ${cluster.powerState ?? "unknown"}`);
        }
        for (const p of (await ctx.services.nodePools?.failedPools(m.clusterResourceId)) ?? [])
            out.push(`node pool ${p.name} failed to roll (NodePoolRollingFailed at ${p.since})`);
        return out.length > 0 ? `${m.name}: ${out.join(", ")}` : undefined;
    });
    const bad = problems.filter((p): p is string => p !== undefined);
    const n = scope.members.length;
    if (bad.length > 0)
        return { passed: false, observed: `${bad.length}/${n} unhealthy in ${scope.where}: ${bad.join("; ")}` };
    return { passed: true, observed: `${n}/${n} members healthy in ${scope.where}` };
};
