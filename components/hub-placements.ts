/**
 * Workload placements on the fleet hub: per placement a `ClusterResourcePlacement` (or namespaced
 * `ResourcePlacement`) with `strategy.type: External` and its staged update strategy, created with
 * `@pulumi/kubernetes` custom resources through a provider whose kubeconfig is built from the
 * fleet's `listCredentials` (server and CA) and an Entra ID token for the AKS server application (no
 * kubelogin binary). Also the hub RBAC of the gate handler: for cluster-scoped placements a
 * ClusterRole that reads placements, runs and approval requests and patches only
 * `clusterapprovalrequests/status`; for namespaced ones a Role in each of their namespaces with the
 * same rights on the namespaced twins (`approvalrequests/status`); each bound to the handler's
 * identity. The same endpoint and the placements' names feed the handler's hub app settings
 * (`fleetHubEndpoint`, `handlerPlacements`). Runs are operational, not infrastructure: `npm run
 * stage-run` creates them.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerservice from "@pulumi/azure-native/containerservice";
import { CustomResource } from "@pulumi/kubernetes/apiextensions";
import { Provider } from "@pulumi/kubernetes/provider";
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from "@pulumi/kubernetes/rbac/v1";
import { PLACEMENT_API_VERSION, PLACEMENT_GROUP, type PlacementSpec } from "../core/placement";
import { AKS_AAD_SERVER_APP } from "../core/hub-access";
import type { HubPlacement } from "../handlers/gate-approval/src/hub/decide";

export interface HubPlacementsArgs {
    /** Resource group and name of the fleet (it must have a hub). */
    readonly resourceGroupName: pulumi.Input<string>;
    readonly fleetName: pulumi.Input<string>;
    /** Validated placements (plain: their names key the children). */
    readonly placements: readonly PlacementSpec[];
    /** Object id of the gate handler's identity: bound to the approval ClusterRole (and Roles) on the hub. */
    readonly handlerPrincipalId: pulumi.Input<string>;
    /**
     * The hub's API server and CA, when the caller read them already (`fleetHubEndpoint`, which the
     * handler's app settings use too); default: read here from the fleet's `listCredentials`.
     */
    readonly hubEndpoint?: pulumi.Input<HubEndpoint>;
    /** The fleet members: strategies select members by label, so they must have joined first. */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** The hub ClusterRole of the handler: read what it decides on, write nothing but approval-request status. */
export const HANDLER_HUB_RULES = [
    {
        apiGroups: [PLACEMENT_GROUP],
        resources: [
            "clusterapprovalrequests",
            "clusterstagedupdateruns",
            "clusterstagedupdatestrategies",
            "clusterresourceplacements",
        ],
        verbs: ["get", "list", "watch"],
    },
    { apiGroups: [PLACEMENT_GROUP], resources: ["clusterapprovalrequests/status"], verbs: ["get", "patch"] },
] as const;

/** The hub Role of the handler in a namespace of namespaced placements: the same rights on the namespaced twins. */
export const HANDLER_NAMESPACED_HUB_RULES = [
    {
        apiGroups: [PLACEMENT_GROUP],
        resources: ["approvalrequests", "stagedupdateruns", "stagedupdatestrategies", "resourceplacements"],
        verbs: ["get", "list", "watch"],
    },
    { apiGroups: [PLACEMENT_GROUP], resources: ["approvalrequests/status"], verbs: ["get", "patch"] },
] as const;

/** Name of the handler's ClusterRole, Roles and their bindings on the hub. */
export const HANDLER_HUB_ROLE_NAME = "fleet-gates-approval-handler";

/**
 * Where the handler needs hub rights: cluster-wide only if some placement is cluster-scoped, and in
 * each namespace of a namespaced placement (sorted, once each).
 */
export function handlerHubGrants(placements: readonly Pick<PlacementSpec, "scope" | "namespace">[]): {
    cluster: boolean;
    namespaces: string[];
} {
    const namespaces = new Set<string>();
    for (const p of placements) if (p.scope === "Namespaced" && p.namespace !== undefined) namespaces.add(p.namespace);
    return { cluster: placements.some((p) => p.scope !== "Namespaced"), namespaces: [...namespaces].sort() };
}

/** The placements as the handler's `HUB_PLACEMENTS` names them: the objects' names and namespaces on the hub. */
export function handlerPlacements(placements: readonly PlacementSpec[]): HubPlacement[] {
    return placements.map((p) => {
        const { strategy, placement } = placementObjects(p);
        return {
            name: placement.metadata.name!,
            strategyName: strategy.metadata.name!,
            ...(placement.metadata.namespace !== undefined ? { namespace: placement.metadata.namespace } : {}),
        };
    });
}

/** Label marking hub RBAC objects that grant the gate handler its rights (the policy pack checks them). */
export const HANDLER_ROLE_LABEL = "fleet-gates.io/grants";
export const HANDLER_ROLE_LABEL_VALUE = "gate-handler";

/** The strategy and placement objects of one placement, as the hub stores them (pure; tested with tables). */
export function placementObjects(p: PlacementSpec): {
    strategy: { kind: string; metadata: Record<string, string>; spec: Record<string, unknown> };
    placement: { kind: string; metadata: Record<string, string>; spec: Record<string, unknown> };
} {
    const namespaced = p.scope === "Namespaced";
    const metadata = (name: string) => ({ name, ...(namespaced && p.namespace ? { namespace: p.namespace } : {}) });
    const strategyName = p.strategyName ?? p.name;
    return {
        strategy: {
            kind: namespaced ? "StagedUpdateStrategy" : "ClusterStagedUpdateStrategy",
            metadata: metadata(strategyName),
            spec: {
                stages: p.stages.map((s) => ({
                    name: s.name,
                    labelSelector: s.labelSelector,
                    ...(s.sortingLabelKey !== undefined ? { sortingLabelKey: s.sortingLabelKey } : {}),
                    ...(s.maxConcurrency !== undefined ? { maxConcurrency: s.maxConcurrency } : {}),
                    ...(s.beforeStageTasks ? { beforeStageTasks: s.beforeStageTasks } : {}),
                    ...(s.afterStageTasks ? { afterStageTasks: s.afterStageTasks } : {}),
                })),
            },
        },
        placement: {
            kind: namespaced ? "ResourcePlacement" : "ClusterResourcePlacement",
            metadata: metadata(p.name),
            spec: {
                resourceSelectors: p.resourceSelectors,
                policy: { placementType: "PickAll" },
                strategy: { type: "External" },
            },
        },
    };
}

/** A kubeconfig for the hub with a bearer token as its user (YAML is a superset of JSON). */
export function hubKubeconfig(server: string, caData: string | undefined, token: string): string {
    return JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "hub", cluster: { server, ...(caData ? { "certificate-authority-data": caData } : {}) } }],
        users: [{ name: "fleet-gates", user: { token } }],
        contexts: [{ name: "hub", context: { cluster: "hub", user: "fleet-gates" } }],
        "current-context": "hub",
    });
}

/** The hub's API server URL and the CA it is trusted by (base64 PEM). */
export interface HubEndpoint {
    readonly server: string;
    readonly caData?: string;
}

/** Server and CA of the first cluster of a base64 kubeconfig (its kubelogin user is not used). */
export function hubEndpoint(base64Kubeconfig: string): HubEndpoint {
    const text = Buffer.from(base64Kubeconfig, "base64").toString("utf8");
    const server = /^\s*server:\s*(\S+)\s*$/m.exec(text)?.[1];
    const caData = /^\s*certificate-authority-data:\s*(\S+)\s*$/m.exec(text)?.[1];
    if (!server) throw new Error("the fleet's kubeconfig names no server");
    if (!/^https:\/\//.test(server))
        throw new Error(`the fleet's kubeconfig names server "${server}", not an https URL`);
    return { server, ...(caData ? { caData } : {}) };
}

/**
 * The hub's endpoint from the fleet's `listCredentials`: what the kubernetes provider connects to
 * and the handler's `HUB_SERVER` / `HUB_CA_DATA`. Unknown at a first preview (the fleet does not
 * exist yet). Not secret: the server address and its CA certificate are public by nature.
 */
export function fleetHubEndpoint(
    args: Pick<HubPlacementsArgs, "resourceGroupName" | "fleetName">,
    opts?: pulumi.InvokeOutputOptions,
): pulumi.Output<HubEndpoint> {
    const creds = containerservice.listFleetCredentialsOutput(
        { resourceGroupName: args.resourceGroupName, fleetName: args.fleetName },
        opts,
    );
    return pulumi.unsecret(
        creds.apply((c) => {
            const first = c.kubeconfigs?.[0]?.value;
            if (!first) throw new Error("listCredentials returned no kubeconfig: does the fleet have a hub?");
            return hubEndpoint(first);
        }),
    );
}

export class HubPlacements extends pulumi.ComponentResource {
    /** The hub's API server URL. */
    public readonly hubServer: pulumi.Output<string>;
    /** Placement name → the placement object's name on the hub. */
    public readonly placementNames: pulumi.Output<string[]>;
    /** Placement name → its staged update strategy's name. */
    public readonly strategyNames: Readonly<Record<string, string>>;

    constructor(name: string, args: HubPlacementsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:hub:HubPlacements", name, {}, opts);
        const seen = new Set<string>();
        for (const p of args.placements) {
            if (seen.has(p.name)) throw new Error(`placements: name "${p.name}" is used twice`);
            seen.add(p.name);
        }

        const endpoint =
            args.hubEndpoint !== undefined ? pulumi.output(args.hubEndpoint) : fleetHubEndpoint(args, { parent: this });
        // A token for the AKS Entra ID server application, as kubelogin would fetch it.
        const token = authorization.getClientTokenOutput({ endpoint: AKS_AAD_SERVER_APP }, { parent: this }).token;
        const kubeconfig = pulumi.secret(
            pulumi.all([endpoint, token]).apply(([e, t]) => hubKubeconfig(e.server, e.caData, t)),
        );
        const provider = new Provider(`${name}-hub`, { kubeconfig }, { parent: this });
        const childOpts = { parent: this, provider, dependsOn: args.dependsOn ?? [] };

        this.strategyNames = {};
        for (const p of args.placements) {
            const objs = placementObjects(p);
            (this.strategyNames as Record<string, string>)[p.name] = objs.strategy.metadata.name!;
            const strategy = new CustomResource(
                `${name}-${p.name}-strategy`,
                {
                    apiVersion: PLACEMENT_API_VERSION,
                    kind: objs.strategy.kind,
                    metadata: objs.strategy.metadata,
                    spec: objs.strategy.spec,
                },
                childOpts,
            );
            new CustomResource(
                `${name}-${p.name}`,
                {
                    apiVersion: PLACEMENT_API_VERSION,
                    kind: objs.placement.kind,
                    metadata: objs.placement.metadata,
                    spec: objs.placement.spec,
                },
                { ...childOpts, dependsOn: [strategy] },
            );
        }

        this.handlerAccess(name, args, provider);

        this.hubServer = endpoint.apply((e) => e.server);
        this.placementNames = pulumi.output(args.placements.map((p) => p.name));
        this.registerOutputs({
            hubServer: this.hubServer,
            placementNames: this.placementNames,
            strategyNames: this.strategyNames,
        });
    }

    /**
     * The handler's hub RBAC: a ClusterRole and binding when a placement is cluster-scoped, and a Role
     * and RoleBinding in each namespace of a namespaced placement; nothing broader.
     */
    private handlerAccess(name: string, args: HubPlacementsArgs, provider: Provider): void {
        const labels = {
            [HANDLER_ROLE_LABEL]: HANDLER_ROLE_LABEL_VALUE,
            "app.kubernetes.io/managed-by": "fleet-gates",
        };
        const rules = (rs: typeof HANDLER_HUB_RULES | typeof HANDLER_NAMESPACED_HUB_RULES) =>
            rs.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] }));
        // On AKS with Entra ID, a User subject is the identity's object id.
        const subjects = [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: args.handlerPrincipalId }];
        const opts = { parent: this, provider };
        const grants = handlerHubGrants(args.placements);
        if (grants.cluster) {
            const role = new ClusterRole(
                `${name}-handler`,
                { metadata: { name: HANDLER_HUB_ROLE_NAME, labels }, rules: rules(HANDLER_HUB_RULES) },
                opts,
            );
            new ClusterRoleBinding(
                `${name}-handler`,
                {
                    metadata: { name: HANDLER_HUB_ROLE_NAME, labels },
                    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name },
                    subjects,
                },
                opts,
            );
        }
        for (const namespace of grants.namespaces) {
            const metadata = { name: HANDLER_HUB_ROLE_NAME, namespace, labels };
            const role = new Role(
                `${name}-handler-${namespace}`,
                { metadata, rules: rules(HANDLER_NAMESPACED_HUB_RULES) },
                opts,
            );
            new RoleBinding(
                `${name}-handler-${namespace}`,
                {
                    metadata,
                    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
                    subjects,
                },
                opts,
            );
        }
    }
}
