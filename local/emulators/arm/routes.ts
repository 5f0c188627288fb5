/**
 * Request routing of the loopback ARM emulator: the URL templates of the routes it serves (matched
 * case-insensitively, as ARM does), the methods allowed on a matched path, and the path checks that
 * reject traversal, encoded separators and control characters before any route runs.
 */
import type { Route } from "./types";

interface RouteTemplate {
    readonly route: Route;
    readonly method: string;
    /** Lower-case literals, or `:name` parameters (one non-empty path segment). */
    readonly parts: readonly string[];
}

/** The container service's provider in a resource group: fleets and managed clusters both sit under it. */
const PROVIDER_PREFIX = ["subscriptions", ":sub", "resourcegroups", ":rg", "providers", "microsoft.containerservice"];
const FLEET_PREFIX = [...PROVIDER_PREFIX, "fleets", ":fleet"];

const TEMPLATES: readonly RouteTemplate[] = [
    { route: "gates.list", method: "GET", parts: [...FLEET_PREFIX, "gates"] },
    { route: "gates.get", method: "GET", parts: [...FLEET_PREFIX, "gates", ":gate"] },
    { route: "gates.patch", method: "PATCH", parts: [...FLEET_PREFIX, "gates", ":gate"] },
    { route: "updateRuns.get", method: "GET", parts: [...FLEET_PREFIX, "updateruns", ":run"] },
    { route: "updateRuns.list", method: "GET", parts: [...FLEET_PREFIX, "updateruns"] },
    { route: "updateRuns.put", method: "PUT", parts: [...FLEET_PREFIX, "updateruns", ":run"] },
    { route: "updateRuns.start", method: "POST", parts: [...FLEET_PREFIX, "updateruns", ":run", "start"] },
    {
        route: "clusters.get",
        method: "GET",
        parts: [...PROVIDER_PREFIX, "managedclusters", ":cluster"],
    },
    {
        route: "operation.get",
        method: "GET",
        parts: [
            "subscriptions",
            ":sub",
            "providers",
            "microsoft.containerservice",
            "locations",
            ":loc",
            "operationresults",
            ":op",
        ],
    },
    { route: "metrics.batch", method: "POST", parts: ["subscriptions", ":sub", "metrics:getbatch"] },
];

export interface RouteMatch {
    readonly route: Route | "unknown";
    /** Raw (still percent-encoded) parameter segments. */
    readonly params: Record<string, string>;
    /** Methods allowed on the path when the path matched but the method did not. */
    readonly allow?: string[];
}

export function matchRoute(method: string, segments: readonly string[]): RouteMatch {
    let allow: string[] | undefined;
    for (const t of TEMPLATES) {
        if (t.parts.length !== segments.length) continue;
        const params: Record<string, string> = {};
        let ok = true;
        for (let i = 0; i < t.parts.length; i++) {
            const part = t.parts[i]!;
            const seg = segments[i]!;
            if (part.startsWith(":")) {
                if (seg.length === 0) {
                    ok = false;
                    break;
                }
                params[part.slice(1)] = seg;
            } else if (literal(seg) !== part) {
                ok = false;
                break;
            }
        }
        if (!ok) continue;
        if (t.method === method) return { route: t.route, params };
        (allow ??= []).push(t.method);
    }
    return { route: "unknown", params: {}, allow };
}

/** A literal path segment for comparison: decoded (when decodable) and lower-cased. */
function literal(seg: string): string {
    if (!seg.includes("%")) return seg.toLowerCase();
    try {
        return decodeURIComponent(seg).toLowerCase();
    } catch {
        return seg.toLowerCase();
    }
}

/** Rejects traversal, encoded separators, control characters and undecodable escapes. */
export function pathProblem(path: string): string | undefined {
    if (!path.startsWith("/")) return "the path must start with '/'";
    if (/%(2f|5c|00)/i.test(path)) return "encoded separators are not allowed in the path";
    if (path.includes("\\")) return "backslashes are not allowed in the path";
    if (!path.includes("%")) {
        // Fast path: nothing to decode (node's parser already refused raw control characters).
        return /\/\.\.?(\/|$)/.test(path) ? "traversal segments are not allowed in the path" : undefined;
    }
    for (const seg of path.slice(1).split("/")) {
        let decoded: string;
        try {
            decoded = decodeURIComponent(seg);
        } catch {
            return "the path contains an invalid escape sequence";
        }
        if (decoded === "." || decoded === "..") return "traversal segments are not allowed in the path";
        if (/[\u0000-\u001f\u007f]/.test(decoded)) return "control characters are not allowed in the path";
    }
    return undefined;
}
