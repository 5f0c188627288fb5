/**
 * Fleet members and their managed clusters in the ARM emulator: adding and changing members (a
 * cluster belongs to one member), and `GET managedClusters/{cluster}` as the gate handler's
 * `clusterHealth` check reads it (provisioning state, power state, Kubernetes version).
 */
import { isType, parseArmId, sameArmId } from "../../../core/arm-id";
import { CONTAINER_SERVICE, resourceNotFound, type Reply, type RouteRequest } from "./http";
import type { ArmStore } from "./store";
import type { MemberState } from "./types";

/** Adds (or replaces) a fleet member; its managed cluster is served at `clusterResourceId`. */
export function addMember(store: ArmStore, fleetId: string, member: MemberState): void {
    const fleet = store.fleetRecord(fleetId);
    const fleetKey = fleet.id.toLowerCase();
    const key = member.name.toLowerCase();
    const existing = store.members.get(key);
    if (existing && existing.fleetKey !== fleetKey)
        throw new Error(`member ${member.name} already exists in another fleet (${existing.fleetKey})`);
    checkCluster(store, member.clusterResourceId, key);
    if (existing) store.clusters.delete(existing.state.clusterResourceId.toLowerCase());
    store.members.set(key, { fleetKey, state: { ...member } });
    store.clusters.set(member.clusterResourceId.toLowerCase(), key);
}

/** Changes a member (e.g. its upgrade failing, its cluster stopping). */
export function setMember(store: ArmStore, name: string, patch: Partial<MemberState>): void {
    const key = name.toLowerCase();
    const m = store.members.get(key);
    if (!m) throw new Error(`unknown member ${name}`);
    if (patch.name !== undefined && patch.name.toLowerCase() !== key)
        throw new Error("a member cannot be renamed; add a new member instead");
    if (patch.clusterResourceId !== undefined && !sameArmId(patch.clusterResourceId, m.state.clusterResourceId)) {
        checkCluster(store, patch.clusterResourceId, key);
        store.clusters.delete(m.state.clusterResourceId.toLowerCase());
        store.clusters.set(patch.clusterResourceId.toLowerCase(), key);
    }
    m.state = { ...m.state, ...patch };
}

function checkCluster(store: ArmStore, clusterResourceId: string, memberKey: string): void {
    const p = parseArmId(clusterResourceId);
    if (!isType(p, CONTAINER_SERVICE, ["managedClusters"]))
        throw new Error(`${clusterResourceId} is not a Microsoft.ContainerService/managedClusters id`);
    const owner = store.clusters.get(clusterResourceId.toLowerCase());
    if (owner !== undefined && owner !== memberKey)
        throw new Error(`cluster ${clusterResourceId} already belongs to member ${owner}`);
}

export function getCluster(store: ArmStore, q: RouteRequest): Reply {
    const { params } = q;
    const id = `/subscriptions/${params.sub}/resourceGroups/${params.rg}/providers/${CONTAINER_SERVICE}/managedClusters/${params.cluster}`;
    const memberKey = store.clusters.get(id.toLowerCase());
    const m = memberKey === undefined ? undefined : store.members.get(memberKey);
    if (!m) throw resourceNotFound(`managedClusters/${params.cluster}`, params.rg);
    const s = m.state;
    const parsed = parseArmId(s.clusterResourceId);
    const version = s.kubernetesVersion ?? "1.33.0";
    return {
        status: 200,
        body: {
            id: s.clusterResourceId,
            name: parsed.segments[parsed.segments.length - 1]![1],
            type: "Microsoft.ContainerService/ManagedClusters",
            location: s.location ?? store.options.location,
            properties: {
                provisioningState: s.provisioningState ?? "Succeeded",
                powerState: { code: s.powerState ?? "Running" },
                kubernetesVersion: version,
                currentKubernetesVersion: version,
            },
        },
    };
}
