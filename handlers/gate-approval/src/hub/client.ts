/**
 * The handler's client of the fleet hub's Kubernetes API, on `@kubernetes/client-node`: reads
 * approval requests, staged update runs and placements, watches approval requests from a
 * resourceVersion, and writes the `Approved` condition to a request's status subresource as a JSON
 * merge patch carrying the read `resourceVersion` (so a concurrent change answers 409, never a lost
 * update). Credentials: the hub's server and CA come from the fleet's `listCredentials` kubeconfig;
 * the user is a bearer token for the AKS Entra ID server application, so no kubelogin is needed.
 */
import {
    ApiException,
    CustomObjectsApi,
    KubeConfig,
    PatchStrategy,
    Watch,
    setHeaderOptions,
} from "@kubernetes/client-node";
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

/** What the decision and the reconcile loop need of the hub; tests and the rehearsal use the real client. */
export interface HubApi {
    listApprovalRequests(): Promise<HubList<ApprovalRequestObject>>;
    watchApprovalRequests(
        resourceVersion: string,
        timeoutSeconds: number,
        onEvent: (type: WatchEventType, obj: ApprovalRequestObject) => void,
    ): Promise<WatchOutcome>;
    getApprovalRequest(name: string): Promise<ApprovalRequestObject | undefined>;
    getUpdateRun(name: string): Promise<StagedUpdateRunObject | undefined>;
    getPlacement(name: string): Promise<PlacementObject | undefined>;
    /** Merge-patches status.conditions, conditional on resourceVersion. Throws HubError (409 on conflict). */
    patchApprovalConditions(
        name: string,
        resourceVersion: string,
        conditions: readonly Condition[],
    ): Promise<ApprovalRequestObject>;
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
    if (e instanceof ApiException) return new HubError(`${what}: HTTP ${e.code}`, e.code);
    return new HubError(`${what}: ${e instanceof Error ? e.message : String(e)}`, undefined);
}

/** A KubeConfig for the hub: its server and CA, and a bearer token as the user. */
export function hubKubeConfig(server: string, caData: string | undefined, token: string): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
        clusters: [{ name: "hub", server, ...(caData ? { caData } : {}), skipTLSVerify: false }],
        users: [{ name: "fleet-gates", token }],
        contexts: [{ name: "hub", cluster: "hub", user: "fleet-gates" }],
        currentContext: "hub",
    });
    return kc;
}

/**
 * Server and CA of the hub from a `listCredentials` kubeconfig (base64 as ARM returns it). Its user
 * (a kubelogin exec plugin) is ignored: the handler brings its own token.
 */
export function hubEndpointFromKubeconfig(base64Kubeconfig: string): { server: string; caData?: string } {
    const kc = new KubeConfig();
    kc.loadFromString(Buffer.from(base64Kubeconfig, "base64").toString("utf8"));
    const cluster = kc.getCurrentCluster() ?? kc.getClusters()[0];
    if (!cluster) throw new Error("the fleet's kubeconfig names no cluster");
    return { server: cluster.server, ...(cluster.caData ? { caData: cluster.caData } : {}) };
}

export class KubeHubClient implements HubApi {
    private readonly api: CustomObjectsApi;

    constructor(private readonly kc: KubeConfig) {
        this.api = kc.makeApiClient(CustomObjectsApi);
    }

    private async orUndefined<T>(what: string, f: () => Promise<T>): Promise<T | undefined> {
        try {
            return await f();
        } catch (e) {
            if (e instanceof ApiException && e.code === 404) return undefined;
            throw hubError(e, what);
        }
    }

    async listApprovalRequests(): Promise<HubList<ApprovalRequestObject>> {
        try {
            const list = (await this.api.listClusterCustomObject({
                group: PLACEMENT_GROUP,
                version: VERSION,
                plural: "clusterapprovalrequests",
            })) as { items: ApprovalRequestObject[]; metadata: { resourceVersion: string } };
            return { items: list.items, resourceVersion: list.metadata.resourceVersion };
        } catch (e) {
            throw hubError(e, "list clusterapprovalrequests");
        }
    }

    watchApprovalRequests(
        resourceVersion: string,
        timeoutSeconds: number,
        onEvent: (type: WatchEventType, obj: ApprovalRequestObject) => void,
    ): Promise<WatchOutcome> {
        let rv = resourceVersion;
        let gone = false;
        return new Promise<WatchOutcome>((resolve) => {
            new Watch(this.kc)
                .watch(
                    `/apis/${PLACEMENT_GROUP}/${VERSION}/clusterapprovalrequests`,
                    { resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
                    (type, obj: ApprovalRequestObject & { code?: number }) => {
                        if (type === "ERROR") {
                            if (obj.code === 410) gone = true;
                            return;
                        }
                        const next = obj.metadata?.resourceVersion;
                        if (next) rv = next;
                        onEvent(type as WatchEventType, obj);
                    },
                    (err: unknown) =>
                        resolve({
                            resourceVersion: rv,
                            gone,
                            ...(err && !gone ? { error: err instanceof Error ? err.message : String(err) } : {}),
                        }),
                )
                .catch((err: unknown) =>
                    resolve({
                        resourceVersion: rv,
                        gone,
                        error: hubError(err, "watch clusterapprovalrequests").message,
                    }),
                );
        });
    }

    getApprovalRequest(name: string): Promise<ApprovalRequestObject | undefined> {
        return this.orUndefined(
            `get clusterapprovalrequest ${name}`,
            () =>
                this.api.getClusterCustomObject({
                    group: PLACEMENT_GROUP,
                    version: VERSION,
                    plural: "clusterapprovalrequests",
                    name,
                }) as Promise<ApprovalRequestObject>,
        );
    }

    getUpdateRun(name: string): Promise<StagedUpdateRunObject | undefined> {
        return this.orUndefined(
            `get clusterstagedupdaterun ${name}`,
            () =>
                this.api.getClusterCustomObject({
                    group: PLACEMENT_GROUP,
                    version: VERSION,
                    plural: "clusterstagedupdateruns",
                    name,
                }) as Promise<StagedUpdateRunObject>,
        );
    }

    getPlacement(name: string): Promise<PlacementObject | undefined> {
        return this.orUndefined(
            `get clusterresourceplacement ${name}`,
            () =>
                this.api.getClusterCustomObject({
                    group: PLACEMENT_GROUP,
                    version: VERSION,
                    plural: "clusterresourceplacements",
                    name,
                }) as Promise<PlacementObject>,
        );
    }

    async patchApprovalConditions(
        name: string,
        resourceVersion: string,
        conditions: readonly Condition[],
    ): Promise<ApprovalRequestObject> {
        try {
            return (await this.api.patchClusterCustomObjectStatus(
                {
                    group: PLACEMENT_GROUP,
                    version: VERSION,
                    plural: "clusterapprovalrequests",
                    name,
                    body: { metadata: { resourceVersion }, status: { conditions } },
                    fieldManager: "fleet-gates",
                },
                setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
            )) as ApprovalRequestObject;
        } catch (e) {
            throw hubError(e, `patch clusterapprovalrequest ${name} status`);
        }
    }
}
