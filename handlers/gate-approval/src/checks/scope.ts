/**
 * The members a gate is about, read from its update run's status: the stage's members for a stage
 * gate, the group's for a group gate. Memoised per decision: the update run is read once, each
 * member cluster at most once, however many checks ask.
 */
import { ArmIdError, eq, isType, parseArmId, updateRunId } from "../../../../core/arm-id";
import type { GateView } from "../../../../core/gate-event";
import type { CallOptions, FleetApi, ManagedClusterStatus, MemberStatus, UpdateRunStatus } from "../arm-client";

export interface ScopeMember extends MemberStatus {
    readonly clusterResourceId: string;
}

export type MembersInScope =
    | { readonly ok: true; readonly members: readonly ScopeMember[]; readonly where: string }
    | { readonly ok: false; readonly observed: string };

/** What checks read about the members in scope; a Fleet gate's `DecisionScope` or a hub stage's. */
export interface MemberScope {
    members(): Promise<MembersInScope>;
    cluster(id: string): Promise<ManagedClusterStatus | undefined>;
}

/** A hub placement and the member clusters of the approval request's stage (`placementAvailable`). */
export interface PlacementScope {
    readonly name: string;
    readonly stage: string;
    readonly clusters: readonly string[];
    /** Per-cluster placement conditions, read from the hub once per decision; undefined when the placement is gone. */
    status(): Promise<
        | {
              readonly placementStatuses?: readonly {
                  readonly clusterName?: string;
                  readonly conditions?: readonly {
                      readonly type: string;
                      readonly status: string;
                      readonly reason?: string;
                  }[];
              }[];
          }
        | undefined
    >;
}

export class DecisionScope implements MemberScope {
    private run?: Promise<UpdateRunStatus | undefined>;
    private readonly clusters = new Map<string, Promise<ManagedClusterStatus | undefined>>();

    constructor(
        private readonly api: FleetApi,
        private readonly gate: GateView,
        private readonly options: CallOptions,
    ) {}

    updateRun(): Promise<UpdateRunStatus | undefined> {
        this.run ??= this.api.getUpdateRun(updateRunId(this.gate.updateRun), this.options);
        return this.run;
    }

    cluster(id: string): Promise<ManagedClusterStatus | undefined> {
        const key = id.toLowerCase();
        let p = this.clusters.get(key);
        if (!p) {
            p = this.api.getManagedCluster(id, this.options);
            this.clusters.set(key, p);
        }
        return p;
    }

    async members(): Promise<MembersInScope> {
        const run = await this.updateRun();
        if (run === undefined)
            return { ok: false, observed: `update run ${this.gate.updateRun.updateRunName} not found` };
        const stageName = this.gate.stage;
        if (stageName === undefined) return { ok: false, observed: "the gate names no stage" };
        const stage = run.stages.find((s) => eq(s.name, stageName));
        if (!stage) return { ok: false, observed: `stage ${stageName} not in the update run's status` };
        let groups = stage.groups;
        let where = `stage ${stage.name}`;
        if (this.gate.group !== undefined) {
            const groupName = this.gate.group;
            const group = stage.groups.find((g) => eq(g.name, groupName));
            if (!group) return { ok: false, observed: `group ${groupName} not in stage ${stage.name}` };
            groups = [group];
            where = `group ${group.name} of stage ${stage.name}`;
        }
        const members: ScopeMember[] = [];
        for (const g of groups) {
            for (const m of g.members) {
                if (m.clusterResourceId === undefined)
                    return { ok: false, observed: `member ${m.name} has no clusterResourceId in the run status` };
                try {
                    const p = parseArmId(m.clusterResourceId);
                    if (!isType(p, "Microsoft.ContainerService", ["managedClusters"]))
                        return {
                            ok: false,
                            observed: `member ${m.name}: ${m.clusterResourceId} is not a managed cluster`,
                        };
                } catch (e) {
                    return {
                        ok: false,
                        observed: `member ${m.name}: ${e instanceof ArmIdError ? e.message : String(e)}`,
                    };
                }
                members.push({ ...m, clusterResourceId: m.clusterResourceId });
            }
        }
        if (members.length === 0) return { ok: false, observed: `no members in ${where}` };
        return { ok: true, members, where };
    }
}
