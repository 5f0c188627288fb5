/**
 * Which keys of a stack's config map are settings of a project: each key of the project's namespace
 * that is not one is named with the closest setting (never with its value, which may be a secret),
 * and the Azure identity keys must be GUIDs. Pure, so the offline engine and `pulumi up` share it, and
 * so does the bootstrap project with its own namespace.
 */
import { distance } from "fastest-levenshtein";
import { GUID_PATTERN } from "./arm-id";

/** A value as a config error shows it: JSON, cut at 80 characters. */
export function show(v: unknown): string {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Names the entries closest to `wanted`, for "did you mean" hints. */
export function closest(wanted: string, candidates: readonly string[], n = 2): string[] {
    const w = wanted.toLowerCase();
    return [...new Set(candidates)]
        .map((c) => ({ c, d: distance(w, c.toLowerCase()) }))
        .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
        .slice(0, n)
        .map((x) => x.c);
}

/**
 * The setting an unknown key most likely meant: the closest by edit distance when that is a typo's
 * distance, else the one setting it abbreviates or extends (`repo` → `repository`).
 */
function meantSetting(key: string, settings: readonly string[]): string | undefined {
    const lower = key.toLowerCase();
    const [near] = closest(key, settings, 1);
    if (near !== undefined && distance(lower, near.toLowerCase()) <= Math.max(2, Math.ceil(key.length / 3)))
        return near;
    const affixed = settings.filter((s) => {
        const l = s.toLowerCase();
        return lower.length >= 3 && (l.startsWith(lower) || lower.startsWith(l));
    });
    return affixed.length === 1 ? affixed[0] : undefined;
}

/**
 * Provider settings of other namespaces whose values are checked: the offline engine builds its ARM
 * ids and identities from them, the provider signs in with them. Every other key of another
 * namespace (`azure-native:`, `azuread:`, `pulumi:`) is left to its owner.
 */
const AZURE_IDENTITY_KEYS = ["azure-native:subscriptionId", "azure-native:tenantId"] as const;

/**
 * The problems with a config map's keys, for the project `namespace` whose settings are `settings`:
 * each key of the namespace that is not a setting, named with the closest setting (never with its
 * value, which may be a secret), and the Azure identity keys that are not GUIDs. Pure, so the
 * offline engine and `pulumi up` share it.
 */
export function configKeyProblems(
    config: Readonly<Record<string, string>>,
    namespace: string,
    settings: readonly string[],
    secretKeys: ReadonlySet<string> = new Set(),
): string[] {
    const problems: string[] = [];
    const prefix = `${namespace}:`;
    for (const key of Object.keys(config).sort()) {
        if (!key.startsWith(prefix)) continue;
        const name = key.slice(prefix.length);
        if (settings.includes(name)) continue;
        const meant = meantSetting(name, settings);
        const hint =
            meant !== undefined ? `did you mean ${prefix}${meant}?` : `settings: ${[...settings].sort().join(", ")}`;
        problems.push(`${key} is not a setting of ${namespace} (${hint})`);
    }
    for (const key of AZURE_IDENTITY_KEYS) {
        const value = config[key];
        // A secret one cannot be read offline (it is a placeholder there); the provider checks it.
        if (value === undefined || secretKeys.has(key) || GUID_PATTERN.test(value)) continue;
        problems.push(`${key} ${show(value)} must be a GUID`);
    }
    return problems;
}
