/**
 * App settings of the hub approval loop: where the fleet hub is (`HUB_SERVER`, `HUB_CA_DATA`: from
 * the fleet's `listCredentials`, set at deploy time), this stack's placements and their strategies
 * (`HUB_PLACEMENTS`: `[{ name, strategyName, namespace? }]`), and its members' AKS cluster ids by
 * member name (`HUB_MEMBER_CLUSTERS`). Without `HUB_SERVER` the stack has no placements and the loop
 * does not run. A bad value is an error naming the setting.
 */
import { z } from "zod";
import type { HubPlacement } from "./decide";

export interface HubSettings {
    readonly server: string;
    readonly caData?: string;
    readonly placements: readonly HubPlacement[];
    readonly memberClusterIds: Readonly<Record<string, string>>;
}

const Placements = z
    .array(
        z.strictObject({
            name: z.string().min(1),
            strategyName: z.string().min(1),
            /** Namespaced placements only: where their runs and approval requests are. */
            namespace: z.string().min(1).optional(),
        }),
    )
    .min(1);
const Members = z.record(
    z.string().min(1),
    z
        .string()
        .regex(
            /^\/subscriptions\/[^/]+\/resourceGroups\/.+\/providers\/Microsoft\.ContainerService\/managedClusters\/[^/]+$/i,
            "is not a managed cluster id",
        ),
);

function json<T>(name: string, raw: string | undefined, schema: z.ZodType<T>): T {
    if (raw === undefined || raw.trim() === "") throw new Error(`app setting ${name} is required with HUB_SERVER`);
    let parsed: unknown;
    try {
        parsed = JSON.parse(raw);
    } catch (e) {
        throw new Error(`app setting ${name} is not JSON: ${(e as Error).message}`);
    }
    const r = schema.safeParse(parsed);
    if (!r.success)
        throw new Error(
            `app setting ${name}: ${r.error.issues.map((i) => `${i.path.join(".") || "(value)"} ${i.message}`).join("; ")}`,
        );
    return r.data;
}

/** The hub settings, or undefined when `HUB_SERVER` is not set. Throws naming a bad setting. */
export function readHubSettings(
    env: Readonly<Record<string, string | undefined>> = process.env,
): HubSettings | undefined {
    const server = env.HUB_SERVER?.trim();
    if (!server) return undefined;
    if (!/^https:\/\//.test(server)) throw new Error(`app setting HUB_SERVER "${server}" is not an https URL`);
    const caData = env.HUB_CA_DATA?.trim();
    return {
        server,
        ...(caData ? { caData } : {}),
        placements: json("HUB_PLACEMENTS", env.HUB_PLACEMENTS, Placements),
        memberClusterIds: json("HUB_MEMBER_CLUSTERS", env.HUB_MEMBER_CLUSTERS, Members),
    };
}
