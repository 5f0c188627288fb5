/**
 * `fleet-gates:upgradeEvents`: which AKS upgrade events the stack routes to the handler and what the
 * handler does with them, as stack config (zod schema and the checks across sections) and as the
 * handler's `UPGRADE_EVENTS` app setting (the resolved form, with the members and the strategy id).
 * Shared by `config.ts`, the program, the handler and the offline engine, so all read one shape.
 */
import { z } from "zod";
import { AKS_EVENT_KINDS, AKS_EVENT_TYPES, type AksEventKind } from "./aks-event";
import { UPGRADE_CHANNELS, type UpgradeChannel } from "./kubernetes-version";

/** Event type names as config takes them: the part after `Microsoft.ContainerService.`. */
export const UPGRADE_EVENT_NAMES = AKS_EVENT_KINDS.map((k) => AKS_EVENT_TYPES[k].split(".").at(-1)!) as [
    string,
    ...string[],
];

/** `NodePoolRollingFailed` → `nodePoolRollingFailed`. */
export function kindOfEventName(name: string): AksEventKind | undefined {
    return AKS_EVENT_KINDS.find((k) => AKS_EVENT_TYPES[k].split(".").at(-1)!.toLowerCase() === name.toLowerCase());
}

/** The config section, as written in `Pulumi.<stack>.yaml`. */
export const UpgradeEventsConfigSchema = z.strictObject({
    /** Off: no ManagedClusters topics or subscriptions are created. */
    enabled: z.boolean().default(true),
    eventTypes: z
        .array(z.enum(UPGRADE_EVENT_NAMES))
        .min(1)
        .default([...UPGRADE_EVENT_NAMES]),
    /** Start a gated update run when a new version is available in the channel. */
    startRun: z.boolean().default(false),
    /** Default: `autoUpgrade.channel`. */
    channel: z.enum(UPGRADE_CHANNELS).optional(),
    /** `"1.33"`, with channel `TargetKubernetesVersion`; default `autoUpgrade.targetKubernetesVersion`. */
    targetKubernetesVersion: z
        .string()
        .regex(/^\d+\.\d+$/, 'must be "{major}.{minor}"')
        .optional(),
    /** Node images of a started run; default `autoUpgrade.nodeImageSelection`, else `Latest`. */
    nodeImageSelection: z.enum(["Latest", "Consistent"]).optional(),
    /** Member name → its cluster's existing ManagedClusters system topic (a cluster has at most one), adopted instead of created. */
    existingTopics: z
        .record(
            z.string(),
            z.strictObject({ name: z.string().min(3).max(128), resourceGroup: z.string().min(1).max(90) }),
        )
        .optional(),
});
export type UpgradeEventsConfigInput = z.infer<typeof UpgradeEventsConfigSchema>;

/** The resolved section the program wires (absent when `enabled: false`). */
export interface UpgradeEventsSpec {
    /** Full event type names, in the order of `AKS_EVENT_TYPES`. */
    readonly eventTypes: readonly string[];
    readonly startRun: boolean;
    readonly channel?: UpgradeChannel;
    readonly targetKubernetesVersion?: string;
    readonly nodeImageSelection: "Latest" | "Consistent";
    /** Member name → the existing topic to adopt. */
    readonly existingTopics: Readonly<Record<string, { readonly name: string; readonly resourceGroup: string }>>;
}

/** What the resolution needs from `fleet-gates:autoUpgrade`. */
export interface AutoUpgradeLike {
    readonly channel: UpgradeChannel;
    readonly targetKubernetesVersion?: string;
    readonly nodeImageSelection?: "Latest" | "Consistent";
    readonly disabled: boolean;
}

/**
 * Resolves the section against `autoUpgrade`; problems name the keys. `prefix` is the config
 * namespace (`fleet-gates`).
 */
export function resolveUpgradeEvents(
    raw: UpgradeEventsConfigInput | undefined,
    autoUpgrade: AutoUpgradeLike | undefined,
    prefix: string,
    memberNames: readonly string[] = [],
): { spec?: UpgradeEventsSpec; problems: string[] } {
    if (raw === undefined) return { problems: [] };
    const key = (k: string) => `${prefix}:upgradeEvents.${k}`;
    const problems: string[] = [];
    const channel = raw.channel ?? autoUpgrade?.channel;
    const target =
        raw.targetKubernetesVersion ??
        (raw.channel === undefined || raw.channel === autoUpgrade?.channel
            ? autoUpgrade?.targetKubernetesVersion
            : undefined);
    if (!raw.enabled) {
        if (raw.startRun) problems.push(`${key("startRun")} is true but ${key("enabled")} is false`);
        return { problems };
    }
    if (channel === "TargetKubernetesVersion" && target === undefined)
        problems.push(
            `${key("targetKubernetesVersion")} is required when the channel is "TargetKubernetesVersion" (or set ${prefix}:autoUpgrade.targetKubernetesVersion)`,
        );
    if (channel !== undefined && channel !== "TargetKubernetesVersion" && raw.targetKubernetesVersion !== undefined)
        problems.push(
            `${key("targetKubernetesVersion")} "${raw.targetKubernetesVersion}" is only allowed with channel "TargetKubernetesVersion" (channel is "${channel}")`,
        );
    if (raw.startRun) {
        if (!raw.eventTypes.some((n) => kindOfEventName(n) === "newKubernetesVersionAvailable"))
            problems.push(
                `${key("startRun")} is true but ${key("eventTypes")} ${JSON.stringify(raw.eventTypes)} leaves out NewKubernetesVersionAvailable, the event that starts a run`,
            );
        if (channel === undefined)
            problems.push(
                `${key("startRun")} is true but no channel is set: set ${key("channel")} or ${prefix}:autoUpgrade.channel`,
            );
        else if (channel === "NodeImage")
            problems.push(
                `${key("startRun")} is true but the channel is "NodeImage", which never targets a Kubernetes version`,
            );
        if (autoUpgrade !== undefined && !autoUpgrade.disabled)
            problems.push(
                `${key("startRun")} is true while ${prefix}:autoUpgrade.disabled is false: Fleet's auto-upgrade profile ` +
                    "already creates a run for each new version; set autoUpgrade.disabled: true or upgradeEvents.startRun: false",
            );
    }
    for (const member of Object.keys(raw.existingTopics ?? {}))
        if (!memberNames.includes(member))
            problems.push(
                `${key(`existingTopics.${member}`)} names no member (members: ${memberNames.join(", ") || "none"})`,
            );
    const names = new Set(raw.eventTypes.map((n) => n.toLowerCase()));
    return {
        problems,
        spec: {
            eventTypes: AKS_EVENT_KINDS.map((k) => AKS_EVENT_TYPES[k]).filter((t) =>
                names.has(t.split(".").at(-1)!.toLowerCase()),
            ),
            startRun: raw.startRun,
            ...(channel !== undefined ? { channel } : {}),
            ...(channel === "TargetKubernetesVersion" && target !== undefined
                ? { targetKubernetesVersion: target }
                : {}),
            nodeImageSelection: raw.nodeImageSelection ?? autoUpgrade?.nodeImageSelection ?? "Latest",
            existingTopics: raw.existingTopics ?? {},
        },
    };
}

// ---------------------------------------------------------------------------------------------
// The handler's app setting
// ---------------------------------------------------------------------------------------------

export const UPGRADE_EVENTS_SETTING = "UPGRADE_EVENTS";

/** `UPGRADE_EVENTS`: the resolved section plus the members (name, cluster id, group) and the strategy to run. */
export const UpgradeEventsSettingSchema = z.strictObject({
    startRun: z.boolean(),
    channel: z.enum(UPGRADE_CHANNELS).optional(),
    targetKubernetesVersion: z
        .string()
        .regex(/^\d+\.\d+$/)
        .optional(),
    nodeImageSelection: z.enum(["Latest", "Consistent"]),
    /** ARM id of the gated update strategy a started run references. */
    strategyId: z.string().min(1).max(1024),
    members: z
        .array(
            z.strictObject({
                name: z.string().min(1).max(63),
                clusterId: z.string().min(1).max(1024),
                group: z.string(),
            }),
        )
        .min(1),
});
export type UpgradeEventsSetting = z.infer<typeof UpgradeEventsSettingSchema>;

/** The app setting's JSON for a spec (the program), members sorted by name. */
export function upgradeEventsSetting(
    spec: UpgradeEventsSpec,
    strategyId: string,
    members: readonly { name: string; clusterId: string; group: string }[],
): string {
    const setting: UpgradeEventsSetting = {
        startRun: spec.startRun,
        ...(spec.channel !== undefined ? { channel: spec.channel } : {}),
        ...(spec.targetKubernetesVersion !== undefined
            ? { targetKubernetesVersion: spec.targetKubernetesVersion }
            : {}),
        nodeImageSelection: spec.nodeImageSelection,
        strategyId,
        // Sorted by name: reordering members in config does not change the setting.
        members: [...members]
            .sort((x, y) => x.name.localeCompare(y.name))
            .map((m) => ({ name: m.name, clusterId: m.clusterId, group: m.group })),
    };
    return JSON.stringify(setting);
}
