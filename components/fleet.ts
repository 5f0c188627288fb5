/**
 * The fleet of one environment: its resource group, the Fleet Manager fleet (optionally with a hub),
 * one AKS cluster per member and the FleetMember joining it to the fleet with its update group and labels.
 *
 * azure-native 3.28 types FleetMember at 2024-05-02-preview, which has no `labels`, so members are
 * `ArmResource`s (./arm-resource.ts: PUT/GET/DELETE at the GA api-version 2026-06-01, not azure-native's
 * generic resource, whose existence check uses another api-version); clusters and the fleet stay typed.
 */
import * as pulumi from "@pulumi/pulumi";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as resources from "@pulumi/azure-native/resources";
import type * as inputs from "@pulumi/azure-native/types/input";
import { ArmResource } from "./arm-resource";
import { fleetId as fleetIdOf } from "../core/arm-id";
import { FLEET_NAME_PATTERN } from "../core/rules";

/** GA api-version with member labels. */
export const FLEET_API_VERSION = "2026-06-01";
export const HUB_VM_SIZE = "Standard_D2s_v3";
export const FLEET_NAME_MAX = 63;
/** Member and group names (FleetMember path parameter and `group` property). */
export const MEMBER_NAME_MAX = 50;
/** The hub's dnsPrefix is `<fleetName>-hub` and may have at most 54 characters. */
export const HUB_DNS_PREFIX_MAX = 54;
/** Azure limits: 50 tags per resource, names up to 512 and values up to 256 characters. */
export const MAX_TAGS = 50;
export const TAG_NAME_MAX = 512;
export const TAG_VALUE_MAX = 256;
/** Characters Azure rejects in tag names (label keys such as `fleet.azure.com/ring` contain `/`). */
const TAG_NAME_FORBIDDEN = /[<>%&\\?/]/g;
const RESOURCE_GROUP_PATTERN = /^[-\w.()]{0,89}[-\w()]$/;

/** One member cluster and how it joins the fleet. */
export interface FleetMemberSpec {
    /** Name of both the AKS cluster and the FleetMember; keys the children, so it must be stable. */
    readonly name: string;
    /** Update group; must be a group of the update strategy. */
    readonly group: string;
    /** FleetMember labels; also written to the cluster's tags (tag-safe). */
    readonly labels: Readonly<Record<string, string>>;
    /** Nodes of the single system pool. */
    readonly nodeCount: number;
    readonly vmSize: string;
    /** Omitted: AKS picks its default version. */
    readonly kubernetesVersion?: string;
    /** Omitted: the fleet's location. */
    readonly location?: string;
}

/** Arguments of `Fleet`. Names are plain strings: they name children and must be known at preview. */
export interface FleetArgs {
    /** Environment name, written as the `environment` tag. */
    readonly environment: string;
    /** The subscription the fleet is deployed to (ids are built from it, see `fleetId`). */
    readonly subscriptionId: pulumi.Input<string>;
    readonly location: pulumi.Input<string>;
    /** The resource group the component creates (explicit name, no auto-naming suffix). */
    readonly resourceGroupName: string;
    readonly fleetName: string;
    /** A hub cluster is needed for resource placement only; update orchestration works hubless. */
    readonly hubCluster: boolean;
    readonly members: readonly FleetMemberSpec[];
    /** Extra tags for every tagged resource. */
    readonly tags?: Readonly<Record<string, string>>;
}

/** The API's `FleetMemberProperties` as we send them. */
export interface FleetMemberProperties {
    readonly clusterResourceId: string;
    readonly group: string;
    readonly labels: Record<string, string>;
}

/** `properties` of a FleetMember. Labels are always sent, even empty, so every PUT states them explicitly. */
export function fleetMemberProperties(spec: FleetMemberSpec, clusterId: string): FleetMemberProperties {
    return { clusterResourceId: clusterId, group: spec.group, labels: { ...spec.labels } };
}

/** A label key as an Azure tag name: forbidden characters become `_`. */
export function tagName(key: string): string {
    return key.replace(TAG_NAME_FORBIDDEN, "_");
}

/**
 * Tags of a member cluster: `tags` plus the member's labels as tags. Azure compares tag names
 * case-insensitively, so a label that lands on an existing tag with another value is a contradiction
 * and throws, naming both fields.
 */
export function memberTags(
    tags: Readonly<Record<string, string>>,
    labels: Readonly<Record<string, string>>,
): Record<string, string> {
    const result: Record<string, string> = { ...tags };
    const origin = new Map<string, { field: string; name: string }>();
    for (const k of Object.keys(tags)) origin.set(k.toLowerCase(), { field: `tags.${k}`, name: k });
    for (const [key, value] of Object.entries(labels)) {
        const name = tagName(key);
        if (name.length > TAG_NAME_MAX) throw new Error(`labels.${key}: longer than ${TAG_NAME_MAX} characters`);
        if (value.length > TAG_VALUE_MAX)
            throw new Error(`labels.${key}: value longer than ${TAG_VALUE_MAX} characters`);
        const seen = origin.get(name.toLowerCase());
        if (seen) {
            const existing = result[seen.name]!;
            if (existing !== value)
                throw new Error(`labels.${key} "${value}" contradicts ${seen.field} "${existing}" (same tag name)`);
            continue;
        }
        origin.set(name.toLowerCase(), { field: `labels.${key}`, name });
        result[name] = value;
    }
    if (Object.keys(result).length > MAX_TAGS)
        throw new Error(`labels: ${Object.keys(result).length} tags with the labels; Azure allows at most ${MAX_TAGS}`);
    return result;
}

/** Tags of every resource: `tags` plus `environment`; a different `tags.environment` contradicts it. */
export function fleetTags(environment: string, tags: Readonly<Record<string, string>> = {}): Record<string, string> {
    const clash = Object.entries(tags).find(([k]) => k.toLowerCase() === "environment");
    if (clash && clash[1] !== environment)
        throw new Error(`tags.${clash[0]} "${clash[1]}" contradicts environment "${environment}"`);
    return clash ? { ...tags } : { ...tags, environment };
}

/** The fleet's hub profile, or undefined for a hubless fleet. */
export function hubProfile(
    fleetName: string,
    hubCluster: boolean,
): inputs.containerservice.FleetHubProfileArgs | undefined {
    return hubCluster ? { dnsPrefix: `${fleetName}-hub`, agentProfile: { vmSize: HUB_VM_SIZE } } : undefined;
}

function namePattern(field: string, name: string, max: number): string[] {
    return name.length >= 1 && name.length <= max && FLEET_NAME_PATTERN.test(name)
        ? []
        : [`${field} "${name}" must be 1-${max} lower-case letters, digits and '-', starting and ending alphanumeric`];
}

/** What Azure would reject in `args`, each naming the field(s); empty when valid. */
export function fleetProblems(args: FleetArgs): string[] {
    const problems: string[] = [];
    if (!RESOURCE_GROUP_PATTERN.test(args.resourceGroupName))
        problems.push(`resourceGroupName "${args.resourceGroupName}" is not a valid resource group name`);
    problems.push(...namePattern("fleetName", args.fleetName, FLEET_NAME_MAX));
    if (args.hubCluster && `${args.fleetName}-hub`.length > HUB_DNS_PREFIX_MAX)
        problems.push(
            `hubCluster needs fleetName "${args.fleetName}" of at most ${HUB_DNS_PREFIX_MAX - 4} characters (hub dnsPrefix "<fleetName>-hub" allows ${HUB_DNS_PREFIX_MAX})`,
        );
    const seen = new Map<string, number>();
    args.members.forEach((m, i) => {
        const at = `members[${i}]`;
        problems.push(...namePattern(`${at}.name`, m.name, MEMBER_NAME_MAX));
        problems.push(...namePattern(`${at}.group`, m.group, MEMBER_NAME_MAX));
        const first = seen.get(m.name);
        if (first !== undefined) problems.push(`${at}.name "${m.name}" duplicates members[${first}].name`);
        else seen.set(m.name, i);
        if (!Number.isInteger(m.nodeCount) || m.nodeCount < 1)
            problems.push(`${at}.nodeCount ${m.nodeCount} must be a whole number >= 1 (system pool)`);
        if (m.vmSize.trim() === "") problems.push(`${at}.vmSize must not be empty`);
    });
    return problems;
}

/** The ARM id Azure gives a managed cluster. */
export function managedClusterId(subscriptionId: string, resourceGroup: string, name: string): string {
    return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${name}`;
}

/** A Fleet Manager fleet with its member AKS clusters, each joined with its update group and labels. */
export class Fleet extends pulumi.ComponentResource {
    public readonly resourceGroupName: pulumi.Output<string>;
    public readonly fleetId: pulumi.Output<string>;
    /** Resolves once the fleet exists, so resources built from it wait for the fleet. */
    public readonly fleetName: pulumi.Output<string>;
    /** Member name → AKS cluster id. */
    public readonly clusterIds: pulumi.Output<Record<string, string>>;
    /** The same, one Output per member: a consumer of one cluster's id then waits for that cluster only. */
    public readonly memberClusterIds: Readonly<Record<string, pulumi.Output<string>>>;
    /** Member name → FleetMember id. */
    public readonly memberIds: pulumi.Output<Record<string, string>>;
    public readonly clusters: Record<string, containerservice.ManagedCluster>;
    public readonly members: Record<string, ArmResource>;

    constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:fleet:Fleet", name, {}, opts);

        const problems = fleetProblems(args);
        if (problems.length > 0) throw new Error(`Fleet "${name}": ${problems.join("; ")}`);
        // Tag contradictions surface with the component name and the member's index.
        const checked = <T>(where: string, build: () => T): T => {
            try {
                return build();
            } catch (e) {
                throw new Error(`Fleet "${name}": ${where}${(e as Error).message}`);
            }
        };
        const tags = checked("", () => fleetTags(args.environment, args.tags));
        const clusterTags = Object.fromEntries(
            args.members.map((m, i) => [m.name, checked(`members[${i}].`, () => memberTags(tags, m.labels))]),
        );

        const resourceGroup = new resources.ResourceGroup(
            `${name}-rg`,
            { resourceGroupName: args.resourceGroupName, location: args.location, tags },
            { parent: this },
        );
        // Names are known up front (plain strings, readable in previews); dependsOn keeps the order.
        const fleet = new containerservice.Fleet(
            `${name}-fleet`,
            {
                resourceGroupName: args.resourceGroupName,
                fleetName: args.fleetName,
                location: args.location,
                identity: { type: "SystemAssigned" },
                hubProfile: hubProfile(args.fleetName, args.hubCluster),
                tags,
            },
            { parent: this, dependsOn: [resourceGroup] },
        );

        this.clusters = {};
        this.members = {};
        const clusterIdOutputs: Record<string, pulumi.Output<string>> = {};
        for (const m of args.members) {
            const cluster = new containerservice.ManagedCluster(
                `${name}-${m.name}`,
                {
                    resourceGroupName: args.resourceGroupName,
                    resourceName: m.name,
                    location: m.location ?? args.location,
                    dnsPrefix: m.name,
                    kubernetesVersion: m.kubernetesVersion,
                    identity: { type: containerservice.ResourceIdentityType.SystemAssigned },
                    agentPoolProfiles: [
                        {
                            name: "system",
                            mode: containerservice.AgentPoolMode.System,
                            count: m.nodeCount,
                            vmSize: m.vmSize,
                            osType: containerservice.OSType.Linux,
                        },
                    ],
                    // Entra ID only: no local admin credentials, Kubernetes RBAC backed by Azure RBAC.
                    aadProfile: { managed: true, enableAzureRBAC: true },
                    disableLocalAccounts: true,
                    enableRBAC: true,
                    tags: clusterTags[m.name],
                },
                { parent: this, dependsOn: [resourceGroup] },
            );
            clusterIdOutputs[m.name] = pulumi
                .all([cluster.urn, args.subscriptionId])
                .apply(([, sub]) => managedClusterId(sub, args.resourceGroupName, m.name));
            // No ordering between members: neither the spec nor the docs serialise member joins.
            const member = new ArmResource(
                `${name}-${m.name}-member`,
                {
                    subscriptionId: args.subscriptionId,
                    resourceGroupName: args.resourceGroupName,
                    resourceProviderNamespace: "Microsoft.ContainerService",
                    parentResourcePath: `fleets/${args.fleetName}`,
                    resourceType: "members",
                    resourceName: m.name,
                    apiVersion: FLEET_API_VERSION,
                    properties: clusterIdOutputs[m.name]!.apply((id) => fleetMemberProperties(m, id)),
                },
                { parent: this, dependsOn: [fleet] },
            );
            this.clusters[m.name] = cluster;
            this.members[m.name] = member;
        }

        // Ids are built from names known at preview and chained on each resource's URN (known at
        // preview too), so consumers still wait for the resource while a first `pulumi preview`
        // already shows concrete scopes and filters (and the policy pack can check them).
        this.resourceGroupName = resourceGroup.urn.apply(() => args.resourceGroupName);
        this.fleetId = pulumi
            .all([fleet.urn, args.subscriptionId])
            .apply(([, sub]) =>
                fleetIdOf({ subscriptionId: sub, resourceGroup: args.resourceGroupName, fleetName: args.fleetName }),
            );
        this.fleetName = fleet.urn.apply(() => args.fleetName);
        this.memberClusterIds = clusterIdOutputs;
        this.clusterIds = pulumi.all(
            Object.fromEntries(Object.keys(this.clusters).map((k) => [k, clusterIdOutputs[k]!])),
        ) as pulumi.Output<Record<string, string>>;
        this.memberIds = pulumi.all(
            Object.fromEntries(Object.entries(this.members).map(([k, r]) => [k, r.id])),
        ) as pulumi.Output<Record<string, string>>;

        this.registerOutputs({
            resourceGroupName: this.resourceGroupName,
            fleetId: this.fleetId,
            fleetName: this.fleetName,
            clusterIds: this.clusterIds,
            memberClusterIds: this.memberClusterIds,
            memberIds: this.memberIds,
            clusters: this.clusters,
            members: this.members,
        });
    }
}
