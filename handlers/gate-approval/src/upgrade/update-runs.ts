/**
 * The ARM calls that starting a gated update run needs (Fleet 2026-06-01): list the fleet's update
 * runs (paged), create one with `If-None-Match: *` (so of two concurrent deliveries exactly one
 * creates it), wait for its provisioning, start it (`POST …/start`, an LRO answered 202 + Location),
 * and read a member cluster's Kubernetes version. Built on `arm-client.ts`'s `ArmRequests` (its
 * pipeline, error model, paging and waits); a conflict here is an answer, not a transition to wait
 * out (409 on the PUT: the run exists; on the start: it cannot start), so it is not retried.
 */
import { FleetRef, fleetId as formatFleetId, isType, parseArmId } from "../../../../core/arm-id";
import {
    ArmError,
    ArmRequests,
    FLEET_API_VERSION,
    MANAGED_CLUSTER_API_VERSION,
    armErrorFrom,
    jsonBody,
    obj,
    sleep,
    str,
    type ArmRequestsOptions,
} from "../arm-client";

export interface UpdateRunSummary {
    readonly id: string;
    readonly name: string;
    /** `properties.status.state`. */
    readonly state?: string;
    readonly provisioningState?: string;
    readonly kubernetesVersion?: string;
}

/** The body of a run targeting a Kubernetes version with the stack's strategy. */
export interface NewUpdateRun {
    readonly updateStrategyId: string;
    readonly kubernetesVersion: string;
    readonly nodeImageSelection: "Latest" | "Consistent";
}

export type CreateResult = { readonly kind: "created" } | { readonly kind: "exists" };

export interface UpdateRunsApi {
    listUpdateRuns(fleet: FleetRef, abortSignal?: AbortSignal): Promise<UpdateRunSummary[]>;
    getUpdateRunSummary(id: string, abortSignal?: AbortSignal): Promise<UpdateRunSummary | undefined>;
    /** PUT with `If-None-Match: *`: `exists` when the run is there already (412/409). */
    createUpdateRun(id: string, run: NewUpdateRun, abortSignal?: AbortSignal): Promise<CreateResult>;
    /** POST `…/start`; resolves when ARM accepted it (200/202). */
    startUpdateRun(id: string, abortSignal?: AbortSignal): Promise<void>;
    /** The cluster's `currentKubernetesVersion` (else `kubernetesVersion`); undefined when not found. */
    getClusterVersion(clusterId: string, abortSignal?: AbortSignal): Promise<string | undefined>;
}

/** `pollDelayMs`: the delay between provisioning polls (default 1 s). */
export type UpdateRunsClientOptions = ArmRequestsOptions;

const CONFLICT_IS_AN_ANSWER = { conflict: "permanent" } as const;

function summaryOf(body: unknown): UpdateRunSummary {
    const b = obj(body);
    const props = obj(b.properties);
    const state = str(obj(obj(props.status).status).state);
    const provisioningState = str(props.provisioningState);
    const kubernetesVersion = str(obj(obj(props.managedClusterUpdate).upgrade).kubernetesVersion);
    return {
        id: str(b.id) ?? "",
        name: str(b.name) ?? "",
        ...(state !== undefined ? { state } : {}),
        ...(provisioningState !== undefined ? { provisioningState } : {}),
        ...(kubernetesVersion !== undefined ? { kubernetesVersion } : {}),
    };
}

export class UpdateRunsClient extends ArmRequests implements UpdateRunsApi {
    async listUpdateRuns(fleet: FleetRef, abortSignal?: AbortSignal): Promise<UpdateRunSummary[]> {
        const out: UpdateRunSummary[] = [];
        const first = this.url(`${formatFleetId(fleet)}/updateRuns`, FLEET_API_VERSION);
        for await (const item of this.listItems("update runs", first, { abortSignal }, CONFLICT_IS_AN_ANSWER))
            out.push(summaryOf(item));
        return out;
    }

    async getUpdateRunSummary(id: string, abortSignal?: AbortSignal): Promise<UpdateRunSummary | undefined> {
        const what = `GET update run ${id}`;
        const r = await this.call(what, this.url(id, FLEET_API_VERSION), { abortSignal });
        if (r.status === 404) return undefined;
        if (r.status !== 200) throw armErrorFrom(what, r, CONFLICT_IS_AN_ANSWER);
        return summaryOf(jsonBody(what, r));
    }

    async createUpdateRun(id: string, run: NewUpdateRun, abortSignal?: AbortSignal): Promise<CreateResult> {
        const what = `PUT update run ${id}`;
        const body = {
            properties: {
                updateStrategyId: run.updateStrategyId,
                managedClusterUpdate: {
                    upgrade: { type: "Full", kubernetesVersion: run.kubernetesVersion },
                    nodeImageSelection: { type: run.nodeImageSelection },
                },
            },
        };
        const r = await this.call(
            what,
            this.url(id, FLEET_API_VERSION),
            { abortSignal },
            { method: "PUT", headers: { "If-None-Match": "*" }, body: JSON.stringify(body) },
        );
        if (r.status === 412 || r.status === 409) return { kind: "exists" };
        if (r.status !== 200 && r.status !== 201) throw armErrorFrom(what, r, CONFLICT_IS_AN_ANSWER);
        await this.waitProvisioned(id, abortSignal);
        return { kind: "created" };
    }

    /** The PUT is an LRO: the run can be started once its provisioning succeeded. */
    private async waitProvisioned(id: string, abortSignal?: AbortSignal): Promise<void> {
        for (;;) {
            const run = await this.getUpdateRunSummary(id, abortSignal);
            if (run === undefined) throw new ArmError(`update run ${id} vanished after its creation`, true);
            const p = run.provisioningState ?? "Succeeded";
            if (p === "Succeeded") return;
            if (p === "Failed" || p === "Canceled") throw new ArmError(`update run ${id}: provisioning ${p}`, false);
            await sleep(this.pollDelayMs, abortSignal);
        }
    }

    async startUpdateRun(id: string, abortSignal?: AbortSignal): Promise<void> {
        const what = `POST start of update run ${id}`;
        const r = await this.call(
            what,
            this.url(`${id}/start`, FLEET_API_VERSION),
            { abortSignal },
            { method: "POST" },
        );
        if (r.status === 200 || r.status === 202) return;
        throw armErrorFrom(what, r, CONFLICT_IS_AN_ANSWER);
    }

    async getClusterVersion(clusterId: string, abortSignal?: AbortSignal): Promise<string | undefined> {
        const what = `GET managed cluster ${clusterId}`;
        if (!isType(parseArmId(clusterId), "Microsoft.ContainerService", ["managedClusters"]))
            throw new ArmError(`${what}: not a managed cluster id`, false);
        const r = await this.call(what, this.url(clusterId, MANAGED_CLUSTER_API_VERSION), { abortSignal });
        if (r.status === 404) return undefined;
        if (r.status !== 200) throw armErrorFrom(what, r, CONFLICT_IS_AN_ANSWER);
        const props = obj(obj(jsonBody(what, r)).properties);
        return str(props.currentKubernetesVersion) ?? str(props.kubernetesVersion);
    }
}
