/**
 * `http`: GET a URL; pass when the status is `expectStatus` and, if `jsonPath` is given, the JSON
 * field at that dotted path (array indexes as numbers, e.g. `checks.0.state`) equals `equals` (or,
 * without `equals`, is present and not null/false). The body is read up to 256 KiB. The request goes
 * through the shared pipeline (retries on 429/5xx/network, per-try timeout) without credentials.
 */
import { send } from "../pipeline";
import type { CheckRunner } from "./types";

export const HTTP_CHECK_MAX_BODY = 256 * 1024;

/** The value at a dotted path; `undefined` when any segment is missing. Own properties only. */
export function valueAtPath(root: unknown, path: string): unknown {
    let cur: unknown = root;
    for (const seg of path.split(".")) {
        if (Array.isArray(cur) && /^\d+$/.test(seg)) cur = cur[Number(seg)];
        else if (typeof cur === "object" && cur !== null && !Array.isArray(cur) && Object.hasOwn(cur, seg))
            cur = (cur as Record<string, unknown>)[seg];
        else return undefined;
    }
    return cur;
}

function show(v: unknown): string {
    const s = v === undefined ? "missing" : (JSON.stringify(v) ?? String(v));
    return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

export const httpCheck: CheckRunner<"http"> = async (check, ctx) => {
    const r = await send(ctx.services.http, check.url, {
        abortSignal: ctx.abortSignal,
        maxBodyBytes: HTTP_CHECK_MAX_BODY,
    });
    const expect = check.expectStatus ?? 200;
    if (r.status !== expect)
        return {
            passed: false,
            observed: `HTTP ${r.status} (expected ${expect})`,
            transient: r.status === 429 || r.status >= 500,
        };
    if (check.jsonPath === undefined) return { passed: true, observed: `HTTP ${r.status}` };
    if (r.truncated)
        return { passed: false, observed: `HTTP ${r.status}, body larger than ${HTTP_CHECK_MAX_BODY} bytes` };
    let body: unknown;
    try {
        body = JSON.parse(r.bodyText);
    } catch {
        return { passed: false, observed: `HTTP ${r.status}, body is not JSON` };
    }
    const v = valueAtPath(body, check.jsonPath);
    const observed = `HTTP ${r.status}, ${check.jsonPath} = ${show(v)}`;
    if (check.equals !== undefined)
        return {
            passed: v === check.equals,
            observed: v === check.equals ? observed : `${observed} (expected ${show(check.equals)})`,
        };
    return { passed: v !== undefined && v !== null && v !== false, observed };
};
