/**
 * The handler's client of the fleet hub's Kubernetes API (over the handler's undici agent, with the
 * hub's CA and a bearer token; `@kubernetes/client-node` itself would add 0.8 MB to the 1.5 MB
 * handler bundle): reads
 * approval requests, staged update runs and placements, watches approval requests from a
 * resourceVersion, and writes the `Approved` condition to a request's status subresource as a JSON
 * merge patch carrying the read `resourceVersion` (so a concurrent change answers 409, never a lost
 * update). Cluster-scoped objects by default; with a namespace, their namespaced twins in it
 * (`approvalrequests`, `stagedupdateruns`, `resourceplacements` under `/namespaces/<ns>/`).
 * Credentials: the hub's server and CA come from the fleet's `listCredentials` kubeconfig; the user
 * is a bearer token for the AKS Entra ID server application, so no kubelogin is needed.
 */
import type { Dispatcher } from "undici";
import { Agent, agentRequest, type UndiciAgent } from "../http-client";
import { PLACEMENT_GROUP, type ApprovalRequestObject, type Condition } from "../../../../core/placement";

export { AKS_AAD_SERVER_APP, AKS_TOKEN_SCOPE } from "../../../../core/hub-access";

const VERSION = "v1beta1";

export interface HubList<T> {
    readonly items: readonly T[];
    readonly resourceVersion: string;
}

export interface StagedUpdateRunObject {
    readonly metadata?: { readonly name?: string; readonly generation?: number; readonly resourceVersion?: string };
    readonly spec?: {
        readonly placementName?: string;
        readonly resourceSnapshotIndex?: string;
        readonly stagedRolloutStrategyName?: string;
    };
    readonly status?: {
        readonly stagesStatus?: readonly {
            readonly stageName: string;
            readonly clusters?: readonly { readonly clusterName: string; readonly conditions?: readonly Condition[] }[];
            readonly beforeStageTaskStatus?: readonly {
                readonly type: string;
                readonly approvalRequestName?: string;
            }[];
            readonly afterStageTaskStatus?: readonly { readonly type: string; readonly approvalRequestName?: string }[];
        }[];
        readonly conditions?: readonly Condition[];
    };
}

export interface PlacementObject {
    readonly metadata?: { readonly name?: string };
    readonly status?: {
        readonly placementStatuses?: readonly {
            readonly clusterName?: string;
            readonly conditions?: readonly Condition[];
        }[];
    };
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchOutcome {
    /** The last resourceVersion seen (bookmark or object); resume from it. */
    readonly resourceVersion: string;
    /** The server answered 410 Gone: the history is compacted, list again. */
    readonly gone: boolean;
    /** The stream broke (not a timeout): resume or list again. */
    readonly error?: string;
}

/**
 * What the decision and the reconcile loop need of the hub; tests and the rehearsal use the real
 * client. Every method takes an optional namespace last: without it the cluster-scoped resource
 * (`clusterapprovalrequests`, ...), with it the namespaced twin in that namespace.
 */
export interface HubApi {
    listApprovalRequests(namespace?: string): Promise<HubList<ApprovalRequestObject>>;
    /** A watch stream (JSON lines) from `resourceVersion`, until the server ends it after `timeoutSeconds`. */
    watchApprovalRequests(
        resourceVersion: string,
        timeoutSeconds: number,
        onEvent: (type: WatchEventType, obj: ApprovalRequestObject) => void,
        namespace?: string,
    ): Promise<WatchOutcome>;
    getApprovalRequest(name: string, namespace?: string): Promise<ApprovalRequestObject | undefined>;
    getUpdateRun(name: string, namespace?: string): Promise<StagedUpdateRunObject | undefined>;
    getPlacement(name: string, namespace?: string): Promise<PlacementObject | undefined>;
    /** Merge-patches status.conditions, conditional on resourceVersion. Throws HubError (409 on conflict). */
    patchApprovalConditions(
        name: string,
        resourceVersion: string,
        conditions: readonly Condition[],
        namespace?: string,
    ): Promise<ApprovalRequestObject>;
}

/** The hub resources the handler reads, by their cluster-scoped and namespaced plural. */
export const HUB_KINDS = {
    approvalRequest: { cluster: "clusterapprovalrequests", namespaced: "approvalrequests" },
    updateRun: { cluster: "clusterstagedupdateruns", namespaced: "stagedupdateruns" },
    placement: { cluster: "clusterresourceplacements", namespaced: "resourceplacements" },
} as const;

/** The collection path below the API group (`/clusterapprovalrequests`, `/namespaces/apps/approvalrequests`). */
export function collectionPath(kind: keyof typeof HUB_KINDS, namespace?: string): string {
    return namespace === undefined
        ? `/${HUB_KINDS[kind].cluster}`
        : `/namespaces/${encodeURIComponent(namespace)}/${HUB_KINDS[kind].namespaced}`;
}

/** How errors name an object: `clusterapprovalrequest x`, or `approvalrequest apps/x`. */
function described(kind: keyof typeof HUB_KINDS, name: string, namespace?: string): string {
    return namespace === undefined
        ? `${HUB_KINDS[kind].cluster.replace(/s$/, "")} ${name}`
        : `${HUB_KINDS[kind].namespaced.replace(/s$/, "")} ${namespace}/${name}`;
}

export class HubError extends Error {
    constructor(
        message: string,
        readonly status: number | undefined,
    ) {
        super(message);
        this.name = "HubError";
    }
    /** 429, 5xx and network errors: another attempt may succeed. */
    get transient(): boolean {
        return this.status === undefined || this.status === 429 || this.status >= 500;
    }
}

function hubError(e: unknown, what: string): HubError {
    if (e instanceof HubError) return e;
    return new HubError(`${what}: ${e instanceof Error ? e.message : String(e)}`, undefined);
}

/** Where and how to reach the hub: its server, the CA it is trusted by (base64 PEM) and a bearer token. */
export interface HubConnection {
    readonly server: string;
    readonly caData?: string;
    readonly token: string;
}

/** The connection to the hub: its server and CA, and a bearer token as the user. */
export function hubKubeConfig(server: string, caData: string | undefined, token: string): HubConnection {
    return { server, ...(caData ? { caData } : {}), token };
}

/**
 * Server and CA of the hub from a `listCredentials` kubeconfig (base64 as ARM returns it). Its user
 * (a kubelogin exec plugin) is ignored: the handler brings its own token.
 */
export function hubEndpointFromKubeconfig(base64Kubeconfig: string): { server: string; caData?: string } {
    const text = Buffer.from(base64Kubeconfig, "base64").toString("utf8");
    const server = /^\s*server:\s*(\S+)\s*$/m.exec(text)?.[1];
    const caData = /^\s*certificate-authority-data:\s*(\S+)\s*$/m.exec(text)?.[1];
    if (!server) throw new Error("the fleet's kubeconfig names no server");
    return { server, ...(caData ? { caData } : {}) };
}

export class KubeHubClient implements HubApi {
    private readonly base: string;
    private readonly origin: string;
    private readonly agent: UndiciAgent;

    constructor(private readonly conn: HubConnection) {
        const server = new URL(conn.server);
        this.origin = server.origin;
        this.base = `${server.pathname.replace(/\/+$/, "")}/apis/${PLACEMENT_GROUP}/${VERSION}`;
        this.agent = new Agent(
            conn.caData ? { connect: { ca: Buffer.from(conn.caData, "base64").toString("utf8") } } : {},
        );
    }

    /** Sends one request to the hub with the bearer token; the caller reads or dumps the body. */
    private send(method: string, path: string, body?: string, contentType?: string): Promise<Dispatcher.ResponseData> {
        const headers: Record<string, string> = {
            authorization: `Bearer ${this.conn.token}`,
            accept: "application/json",
        };
        if (contentType) headers["content-type"] = contentType;
        return agentRequest(this.agent, {
            origin: this.origin,
            path: `${this.base}${path}`,
            method: method as "GET" | "PATCH",
            headers,
            body: body ?? null,
        });
    }

    /** One request: TLS trust from the hub's CA, the bearer token, JSON in and out. */
    private async request<T>(
        what: string,
        method: string,
        path: string,
        body?: unknown,
        contentType?: string,
    ): Promise<T | undefined> {
        let res: Dispatcher.ResponseData;
        try {
            res = await this.send(method, path, body !== undefined ? JSON.stringify(body) : undefined, contentType);
        } catch (e) {
            throw hubError(e, what);
        }
        const status = res.statusCode;
        if (status === 404 && method === "GET") {
            await res.body.dump();
            return undefined;
        }
        if (status < 200 || status > 299) {
            await res.body.dump();
            throw new HubError(`${what}: HTTP ${status}`, status);
        }
        let text: string;
        try {
            text = await res.body.text();
        } catch (e) {
            throw hubError(e, what);
        }
        try {
            return JSON.parse(text) as T;
        } catch (e) {
            throw new HubError(`${what}: response is not JSON (${(e as Error).message})`, status);
        }
    }

    async listApprovalRequests(namespace?: string): Promise<HubList<ApprovalRequestObject>> {
        const what = `list ${collectionPath("approvalRequest", namespace).slice(1)}`;
        const list = await this.request<{ items: ApprovalRequestObject[]; metadata: { resourceVersion: string } }>(
            what,
            "GET",
            collectionPath("approvalRequest", namespace),
        );
        if (!list) throw new HubError(`${what}: HTTP 404 (is this a fleet hub?)`, 404);
        return { items: list.items, resourceVersion: list.metadata.resourceVersion };
    }

    async watchApprovalRequests(
        resourceVersion: string,
        timeoutSeconds: number,
        onEvent: (type: WatchEventType, obj: ApprovalRequestObject) => void,
        namespace?: string,
    ): Promise<WatchOutcome> {
        const path = collectionPath("approvalRequest", namespace);
        const what = `watch ${path.slice(1)}`;
        let rv = resourceVersion;
        let gone = false;
        const q = new URLSearchParams({
            watch: "true",
            resourceVersion,
            allowWatchBookmarks: "true",
            timeoutSeconds: String(timeoutSeconds),
        });
        try {
            const res = await this.send("GET", `${path}?${q.toString()}`);
            if (res.statusCode < 200 || res.statusCode > 299) {
                await res.body.dump();
                if (res.statusCode === 410) return { resourceVersion: rv, gone: true };
                return { resourceVersion: rv, gone, error: `${what}: HTTP ${res.statusCode}` };
            }
            let buffered = "";
            const handle = (line: string) => {
                if (line.trim() === "") return;
                const e = JSON.parse(line) as {
                    type: WatchEventType;
                    object: ApprovalRequestObject & { code?: number };
                };
                if (e.type === "ERROR") {
                    if (e.object.code === 410) gone = true;
                    return;
                }
                const next = e.object.metadata?.resourceVersion;
                if (next) rv = next;
                onEvent(e.type, e.object);
            };
            // Decoded as a stream: a character split between two chunks stays whole.
            res.body.setEncoding("utf8");
            for await (const chunk of res.body) {
                buffered += chunk as string;
                let nl: number;
                while ((nl = buffered.indexOf("\n")) >= 0) {
                    handle(buffered.slice(0, nl));
                    buffered = buffered.slice(nl + 1);
                }
            }
            handle(buffered);
            return { resourceVersion: rv, gone };
        } catch (e) {
            return { resourceVersion: rv, gone, error: hubError(e, what).message };
        }
    }

    /** GET of one object; undefined when the hub answers 404. */
    private getObject<T>(kind: keyof typeof HUB_KINDS, name: string, namespace?: string): Promise<T | undefined> {
        return this.request<T>(
            `get ${described(kind, name, namespace)}`,
            "GET",
            `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`,
        );
    }

    getApprovalRequest(name: string, namespace?: string): Promise<ApprovalRequestObject | undefined> {
        return this.getObject("approvalRequest", name, namespace);
    }

    getUpdateRun(name: string, namespace?: string): Promise<StagedUpdateRunObject | undefined> {
        return this.getObject("updateRun", name, namespace);
    }

    getPlacement(name: string, namespace?: string): Promise<PlacementObject | undefined> {
        return this.getObject("placement", name, namespace);
    }

    async patchApprovalConditions(
        name: string,
        resourceVersion: string,
        conditions: readonly Condition[],
        namespace?: string,
    ): Promise<ApprovalRequestObject> {
        const what = `patch ${described("approvalRequest", name, namespace)} status`;
        const out = await this.request<ApprovalRequestObject>(
            what,
            "PATCH",
            `${collectionPath("approvalRequest", namespace)}/${encodeURIComponent(name)}/status?fieldManager=fleet-gates`,
            { metadata: { resourceVersion }, status: { conditions } },
            "application/merge-patch+json",
        );
        if (!out) throw new HubError(`${what}: no body`, undefined);
        return out;
    }
}
