/**
 * `placementAvailable`: the placement's resources are `Available` on every member cluster of the
 * approval request's stage, as the hub reports in the placement's per-cluster status
 * (`status.placementStatuses[].conditions`, type `Available`). This is what a staged workload rollout
 * is about: the stage's clusters run the new resource snapshot. Only for approval requests.
 */
import type { CheckRunner } from "./types";

export const placementAvailable: CheckRunner<"placementAvailable"> = async (_check, ctx) => {
    const p = ctx.placement;
    if (!p) return { passed: false, observed: "placementAvailable applies to approval requests of a placement only" };
    if (p.clusters.length === 0)
        return { passed: false, observed: `stage ${p.stage} has no clusters in the run's status` };
    const status = await p.status();
    if (status === undefined) return { passed: false, observed: `placement ${p.name} not found on the hub` };
    const problems: string[] = [];
    for (const cluster of p.clusters) {
        const s = (status.placementStatuses ?? []).find((x) => x.clusterName === cluster);
        const available = s?.conditions?.find((c) => c.type === "Available");
        if (!s) problems.push(`${cluster}: not placed`);
        else if (available?.status !== "True")
            problems.push(
                `${cluster}: Available ${available ? `${available.status}${available.reason ? ` (${available.reason})` : ""}` : "not reported"}`,
            );
    }
    const n = p.clusters.length;
    if (problems.length > 0)
        return {
            passed: false,
            observed: `${problems.length}/${n} clusters of stage ${p.stage} lack placement ${p.name}: ${problems.join("; ")}`,
        };
    return { passed: true, observed: `placement ${p.name} available on ${n}/${n} clusters of stage ${p.stage}` };
};
