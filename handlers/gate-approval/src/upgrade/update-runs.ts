/**
 * The ARM calls that starting a gated update run needs (Fleet 2026-06-01): list the fleet's update
 * runs (paged), create one with `If-None-Match: *` (so of two concurrent deliveries exactly one
 * creates it), wait for its provisioning, start it (`POST …/start`, an LRO answered 202 + Location),
 * and read a member cluster's Kubernetes version. Same pipeline and error model as `arm-client.ts`.
 */
import type { TokenCredential } from "@azure/core-auth";
import { FleetRef, fleetId as formatFleetId, isType, parseArmId } from "../../../../core/arm-id";
import { ArmError, FLEET_API_VERSION, MANAGED_CLUSTER_API_VERSION } from "../arm-client";
import {
    ARM_SCOPE,
    HttpTransport,
    PipelineTuning,
    SendResult,
    createTransport,
    describeError,
    isCredentialError,
    isTransientStatus,
    isTransportError,
    send,
} from "../pipeline";

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

export interface UpdateRunsClientOptions extends PipelineTuning {
    readonly credential: TokenCredential;
    readonly baseUrl?: string;
    /** Delay between provisioning polls (default 1 s). */
    readonly pollDelayMs?: number;
}

function obj(v: unknown): Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
function str(v: unknown): string | undefined {
    return typeof v === "string" ? v : undefined;
}

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

function armError(what: string, r: SendResult): ArmError {
    let code: string | undefined;
    let message = "";
    try {
        const e = obj(obj(JSON.parse(r.bodyText)).error);
        code = str(e.code);
        message = str(e.message) ?? "";
    } catch {
        // not JSON
    }
    const transient = isTransientStatus(r.status) || r.status === 401 || r.status === 403;
    const detail = [code, message.slice(0, 200)].filter((s) => s).join(": ");
    return new ArmError(`${what}: HTTP ${r.status}${detail ? ` ${detail}` : ""}`, transient, r.status, code);
}

function json(what: string, r: SendResult): unknown {
    try {
        return JSON.parse(r.bodyText) as unknown;
    } catch {
        throw new ArmError(`${what}: response is not JSON`, true, r.status);
    }
}

export class UpdateRunsClient implements UpdateRunsApi {
    private readonly transport: HttpTransport;
    private readonly baseUrl: string;
    private readonly pollDelayMs: number;

    constructor(options: UpdateRunsClientOptions) {
        this.baseUrl = (options.baseUrl ?? "https://management.azure.com").replace(/\/+$/, "");
        this.transport = createTransport({
            ...options,
            auth: { credential: options.credential, scope: ARM_SCOPE },
            allowedOrigins: [this.baseUrl],
        });
        this.pollDelayMs = options.pollDelayMs ?? 1000;
    }

    private url(id: string, apiVersion = FLEET_API_VERSION): string {
        return `${this.baseUrl}${id}?api-version=${encodeURIComponent(apiVersion)}`;
    }

    private async call(
        what: string,
        url: string,
        init: { method?: "GET" | "PUT" | "POST"; headers?: Record<string, string>; body?: string },
        abortSignal?: AbortSignal,
    ): Promise<SendResult> {
        try {
            return await send(this.transport, url, { ...init, abortSignal });
        } catch (e) {
            const transient = isTransportError(e) || isCredentialError(e) || abortSignal?.aborted === true;
            throw new ArmError(`${what}: ${describeError(e)}`, transient);
        }
    }

    async listUpdateRuns(fleet: FleetRef, abortSignal?: AbortSignal): Promise<UpdateRunSummary[]> {
        const out: UpdateRunSummary[] = [];
        let url: string | undefined = this.url(`${formatFleetId(fleet)}/updateRuns`);
        for (let page = 0; url !== undefined; page++) {
            if (page >= 100) throw new ArmError("LIST update runs: more than 100 pages", false);
            const what = `LIST update runs (page ${page + 1})`;
            const r = await this.call(what, url, {}, abortSignal);
            if (r.status !== 200) throw armError(what, r);
            const body = obj(json(what, r));
            for (const item of Array.isArray(body.value) ? body.value : []) out.push(summaryOf(item));
            const next = str(body.nextLink);
            url = next !== undefined && next.length > 0 ? next : undefined;
        }
        return out;
    }

    async getUpdateRunSummary(id: string, abortSignal?: AbortSignal): Promise<UpdateRunSummary | undefined> {
        const what = `GET update run ${id}`;
        const r = await this.call(what, this.url(id), {}, abortSignal);
        if (r.status === 404) return undefined;
        if (r.status !== 200) throw armError(what, r);
        return summaryOf(json(what, r));
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
            this.url(id),
            { method: "PUT", headers: { "If-None-Match": "*" }, body: JSON.stringify(body) },
            abortSignal,
        );
        if (r.status === 412 || r.status === 409) return { kind: "exists" };
        if (r.status !== 200 && r.status !== 201) throw armError(what, r);
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
            await new Promise<void>((resolve, reject) => {
                if (abortSignal?.aborted) return reject(new ArmError("decision budget spent while waiting", true));
                const t = setTimeout(resolve, this.pollDelayMs);
                abortSignal?.addEventListener(
                    "abort",
                    () => {
                        clearTimeout(t);
                        reject(new ArmError("decision budget spent while waiting", true));
                    },
                    { once: true },
                );
            });
        }
    }

    async startUpdateRun(id: string, abortSignal?: AbortSignal): Promise<void> {
        const what = `POST start of update run ${id}`;
        const r = await this.call(
            what,
            `${this.baseUrl}${id}/start?api-version=${FLEET_API_VERSION}`,
            { method: "POST" },
            abortSignal,
        );
        if (r.status === 200 || r.status === 202) return;
        throw armError(what, r);
    }

    async getClusterVersion(clusterId: string, abortSignal?: AbortSignal): Promise<string | undefined> {
        const what = `GET managed cluster ${clusterId}`;
        if (!isType(parseArmId(clusterId), "Microsoft.ContainerService", ["managedClusters"]))
            throw new ArmError(`${what}: not a managed cluster id`, false);
        const r = await this.call(what, this.url(clusterId, MANAGED_CLUSTER_API_VERSION), {}, abortSignal);
        if (r.status === 404) return undefined;
        if (r.status !== 200) throw armError(what, r);
        const props = obj(obj(json(what, r)).properties);
        return str(props.currentKubernetesVersion) ?? str(props.kubernetesVersion);
    }
}
