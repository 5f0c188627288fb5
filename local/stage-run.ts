/**
 * `npm run stage-run`: start a staged workload rollout of a placement, i.e. create a
 * ClusterStagedUpdateRun on the stack's fleet hub at a resource snapshot (a rollback is the same
 * command at an older snapshot, with the same strategy). Runs are operations, not infrastructure, so
 * the program does not create them. With Azure credentials (`az login`, or OIDC in CI) it reads the
 * hub's server and CA from the fleet's `listCredentials` and signs in with an Entra ID token for the
 * AKS server application (no kubelogin); `--offline` rehearses the run against the loopback emulators.
 */
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { ApiException, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { fleetId as formatFleetId } from "../core/arm-id";
import { AKS_TOKEN_SCOPE } from "../core/hub-access";
import { PLACEMENT_GROUP, type PlacementSpec } from "../core/placement";
import { hubEndpointFromKubeconfig } from "../handlers/gate-approval/src/hub/client";

/** A client-node KubeConfig for the hub: its server and CA (base64 PEM), and a bearer token as the user. */
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

export const FLEET_API_VERSION = "2026-06-01";

export interface StageRunSpec {
    readonly placement: PlacementSpec;
    /** Resource snapshot index: the placement's current one for a rollout, an older one for a rollback. */
    readonly snapshot: string;
    /** Run name; default `<placement>-run-<snapshot>-<yyyymmddhhmm>` (runs are immutable, names unique). */
    readonly run?: string;
    readonly now?: Date;
}

/** The run object (cluster-scoped or namespaced, as the placement is). */
export function stagedUpdateRunObject(spec: StageRunSpec): {
    plural: string;
    namespace?: string;
    body: Record<string, unknown>;
} {
    const p = spec.placement;
    const stamp = (spec.now ?? new Date()).toISOString().replace(/[-:T]/g, "").slice(0, 12);
    const name = spec.run ?? `${p.name}-run-${spec.snapshot}-${stamp}`;
    if (name.length > 63) throw new Error(`run name "${name}" is longer than 63 characters: pass --run`);
    const namespaced = p.scope === "Namespaced";
    return {
        plural: namespaced ? "stagedupdateruns" : "clusterstagedupdateruns",
        ...(namespaced && p.namespace ? { namespace: p.namespace } : {}),
        body: {
            apiVersion: `${PLACEMENT_GROUP}/v1beta1`,
            kind: namespaced ? "StagedUpdateRun" : "ClusterStagedUpdateRun",
            metadata: { name, ...(namespaced && p.namespace ? { namespace: p.namespace } : {}) },
            spec: {
                placementName: p.name,
                resourceSnapshotIndex: spec.snapshot,
                stagedRolloutStrategyName: p.strategyName ?? p.name,
            },
        },
    };
}

/** Creates the run on the hub; returns its name. A run of that name already existing is an error. */
export async function createStagedUpdateRun(kc: KubeConfig, spec: StageRunSpec): Promise<string> {
    const { plural, namespace, body } = stagedUpdateRunObject(spec);
    const api = kc.makeApiClient(CustomObjectsApi);
    try {
        const created = (await (namespace
            ? api.createNamespacedCustomObject({ group: PLACEMENT_GROUP, version: "v1beta1", namespace, plural, body })
            : api.createClusterCustomObject({ group: PLACEMENT_GROUP, version: "v1beta1", plural, body }))) as {
            metadata: { name: string };
        };
        return created.metadata.name;
    } catch (e) {
        if (e instanceof ApiException)
            throw new Error(`creating ${plural} on the hub: HTTP ${e.code} ${String(e.body).slice(0, 300)}`);
        throw e;
    }
}

/** A KubeConfig for the stack's hub from Azure: listCredentials (server, CA) and an Entra ID token. */
export async function hubKubeConfigFromAzure(
    fleet: { subscriptionId: string; resourceGroup: string; fleetName: string },
    credential: TokenCredential = new DefaultAzureCredential(),
    armEndpoint = "https://management.azure.com",
): Promise<KubeConfig> {
    const arm = await credential.getToken("https://management.azure.com/.default");
    if (!arm) throw new Error("no Azure token: sign in with az login (or OIDC in CI)");
    const res = await fetch(`${armEndpoint}${formatFleetId(fleet)}/listCredentials?api-version=${FLEET_API_VERSION}`, {
        method: "POST",
        headers: { authorization: `Bearer ${arm.token}` },
    });
    if (!res.ok)
        throw new Error(
            `listCredentials of fleet ${fleet.fleetName}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`,
        );
    const creds = (await res.json()) as { kubeconfigs?: { value?: string }[] };
    const kubeconfig = creds.kubeconfigs?.[0]?.value;
    if (!kubeconfig) throw new Error(`fleet ${fleet.fleetName} returned no kubeconfig: does it have a hub?`);
    const { server, caData } = hubEndpointFromKubeconfig(kubeconfig);
    const hubToken = await credential.getToken(AKS_TOKEN_SCOPE);
    if (!hubToken) throw new Error("no token for the AKS server application");
    return hubKubeConfig(server, caData, hubToken.token);
}
