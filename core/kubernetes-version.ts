/**
 * Kubernetes versions as AKS names them (`1.33.2`; a minor as `1.33`): parsing, ordering, and the
 * decision "which version would this stack's channel upgrade to, given what AKS announced?".
 *
 * Channels follow Fleet's auto-upgrade profile (`autoUpgrade.channel`, 2026-06-01):
 * - `Stable`  → `latestStableKubernetesVersion` (the latest patch of the minor AKS calls stable);
 * - `Rapid`   → `latestSupportedKubernetesVersion` (the latest patch of the newest supported minor);
 * - `TargetKubernetesVersion` with `targetKubernetesVersion: "1.33"` → only patches of 1.33, the
 *   highest announced one;
 * - `NodeImage` → never a Kubernetes version (node images only).
 * A version equal to `latestPreviewKubernetesVersion` is never a target, whatever the channel.
 * `startRunVerdict` adds the guards that need the world: no downgrade of any member, nothing to do
 * when every member already runs it, and never while another update run is in progress.
 */

export interface KubernetesVersion {
    readonly major: number;
    readonly minor: number;
    readonly patch: number;
}

const FULL = /^(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,4})$/;
const MINOR = /^(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})$/;

/** `1.33.2` → parts; undefined for anything else (no `v`, no pre-release suffix: AKS never sends them). */
export function parseKubernetesVersion(s: string): KubernetesVersion | undefined {
    const m = FULL.exec(s);
    return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}

/** `1.33` → `{ major: 1, minor: 33 }`; undefined otherwise. */
export function parseKubernetesMinor(s: string): { major: number; minor: number } | undefined {
    const m = MINOR.exec(s);
    return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

export function formatVersion(v: KubernetesVersion): string {
    return `${v.major}.${v.minor}.${v.patch}`;
}

/** `1.33` of a version. */
export function minorOf(v: KubernetesVersion): string {
    return `${v.major}.${v.minor}`;
}

/** The minor a version string names, as AKS writes it: `1.33.2` → `1.33`, `1.33` → `1.33`. */
export function minorLabel(s: string): string {
    return s.split(".").slice(0, 2).join(".");
}

/** Negative, zero or positive, as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: KubernetesVersion, b: KubernetesVersion): number {
    return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** What AKS announced in `NewKubernetesVersionAvailable` (validated, `latestPreview` absent when none). */
export interface AvailableVersions {
    readonly latestSupported: string;
    readonly latestStable: string;
    readonly lowestMinor: string;
    readonly latestPreview?: string;
}

export const UPGRADE_CHANNELS = ["Stable", "Rapid", "NodeImage", "TargetKubernetesVersion"] as const;
export type UpgradeChannel = (typeof UPGRADE_CHANNELS)[number];

export type ChannelTarget =
    { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };

/** The version the channel would upgrade to, or why none. */
export function channelTarget(
    channel: UpgradeChannel,
    available: AvailableVersions,
    targetMinor?: string,
): ChannelTarget {
    let version: string;
    switch (channel) {
        case "NodeImage":
            return { ok: false, reason: "channel NodeImage upgrades node images only, never the Kubernetes version" };
        case "Stable":
            version = available.latestStable;
            break;
        case "Rapid":
            version = available.latestSupported;
            break;
        case "TargetKubernetesVersion": {
            const target = targetMinor !== undefined ? parseKubernetesMinor(targetMinor) : undefined;
            if (target === undefined)
                return {
                    ok: false,
                    reason: `channel TargetKubernetesVersion needs a target minor like "1.33" (got ${JSON.stringify(targetMinor ?? null)})`,
                };
            const candidates = [available.latestSupported, available.latestStable, available.lowestMinor]
                .map((s) => parseKubernetesVersion(s))
                .filter(
                    (v): v is KubernetesVersion =>
                        v !== undefined && v.major === target.major && v.minor === target.minor,
                )
                .sort(compareVersions);
            const best = candidates.at(-1);
            if (best === undefined)
                return {
                    ok: false,
                    reason: `no announced version is a patch of the target minor ${targetMinor} (announced: ${available.latestSupported}, ${available.latestStable}, ${available.lowestMinor})`,
                };
            version = formatVersion(best);
            break;
        }
    }
    if (available.latestPreview !== undefined && version === available.latestPreview)
        return { ok: false, reason: `${version} is the preview version; a run never targets a preview` };
    return { ok: true, version };
}

/** A member as the start-run guard sees it: its name and the version it runs now (undefined: unknown). */
export interface MemberVersion {
    readonly name: string;
    readonly version?: string;
}

/** An update run of the fleet as the guard sees it. */
export interface RunSummary {
    readonly name: string;
    /** `properties.status.state`: NotStarted | Running | Stopping | Stopped | Skipped | Failed | Pending | Completed. */
    readonly state?: string;
}

/** Run states that mean "a run is in progress": starting another would race it. */
export const IN_PROGRESS_STATES: readonly string[] = ["Running", "Stopping", "Pending"];

export type StartRunVerdict =
    { readonly start: true; readonly version: string } | { readonly start: false; readonly reason: string };

/**
 * Whether to start a run to `target`: never while another run is in progress (`ownRun`, the run
 * this decision would create, is excluded: it may exist NotStarted after an earlier attempt), never
 * when a member runs a newer version (a downgrade), never when a member's version is unknown, and
 * not when every member already runs `target`.
 */
export function startRunVerdict(
    target: string,
    members: readonly MemberVersion[],
    runs: readonly RunSummary[],
    ownRun?: string,
): StartRunVerdict {
    const t = parseKubernetesVersion(target);
    if (t === undefined) return { start: false, reason: `${JSON.stringify(target)} is not a version like 1.33.2` };
    const busy = runs.filter(
        (r) =>
            r.state !== undefined &&
            IN_PROGRESS_STATES.includes(r.state) &&
            (ownRun === undefined || r.name.toLowerCase() !== ownRun.toLowerCase()),
    );
    if (busy.length > 0)
        return {
            start: false,
            reason: `update run ${busy.map((r) => `${r.name} is ${r.state}`).join(", ")}; never two runs at once`,
        };
    if (ownRun !== undefined) {
        const own = runs.find((r) => r.name.toLowerCase() === ownRun.toLowerCase());
        if (own !== undefined && own.state !== undefined && own.state !== "NotStarted")
            return { start: false, reason: `update run ${own.name} for ${target} exists already (${own.state})` };
    }
    if (members.length === 0) return { start: false, reason: "the stack has no members" };
    const unknown = members.filter((m) => m.version === undefined || parseKubernetesVersion(m.version) === undefined);
    if (unknown.length > 0)
        return {
            start: false,
            reason: `the version of ${unknown.map((m) => m.name).join(", ")} is unknown; not starting a run that might downgrade`,
        };
    const newer = members.filter((m) => compareVersions(parseKubernetesVersion(m.version!)!, t) > 0);
    if (newer.length > 0)
        return {
            start: false,
            reason: `${newer.map((m) => `${m.name} runs ${m.version}`).join(", ")}, newer than ${target}; a run would downgrade`,
        };
    if (members.every((m) => compareVersions(parseKubernetesVersion(m.version!)!, t) === 0))
        return { start: false, reason: `every member already runs ${target}` };
    return { start: true, version: target };
}

/**
 * The name of the update run started for `version`: `k8s-1-33-2`. Deterministic, so concurrent
 * deliveries (other members announcing the same version) create the same run, and ARM's
 * `If-None-Match: *` lets exactly one of them create it. Matches Fleet's name pattern.
 */
export function runNameFor(version: string): string {
    if (parseKubernetesVersion(version) === undefined)
        throw new Error(`runNameFor: ${JSON.stringify(version)} is not a version like 1.33.2`);
    return `k8s-${version.replace(/\./g, "-")}`;
}

/** Members grouped by the minor they run: `[["1.31", ["a", "b"]], ["unknown", ["c"]]]`, oldest minor first. */
export function membersByMinor(members: readonly MemberVersion[]): [string, string[]][] {
    const groups = new Map<string, { key: KubernetesVersion | undefined; names: string[] }>();
    for (const m of members) {
        const v = m.version !== undefined ? parseKubernetesVersion(m.version) : undefined;
        const label = v ? minorOf(v) : "unknown";
        const g = groups.get(label) ?? { key: v ? { ...v, patch: 0 } : undefined, names: [] };
        g.names.push(m.name);
        groups.set(label, g);
    }
    return [...groups.entries()]
        .sort(([, a], [, b]) => (a.key === undefined ? 1 : b.key === undefined ? -1 : compareVersions(a.key, b.key)))
        .map(([label, g]) => [label, [...g.names].sort()]);
}
