/**
 * `metric`: an Azure Monitor metric of each member cluster in the gate's scope, aggregated over the
 * last `lookbackMinutes`, compared with `threshold` (`lt`/`le`/`gt`/`ge`). Every member must pass;
 * a member without data fails the check (no data is never a pass). Queried with
 * `@azure/monitor-query-metrics` `MetricsClient.queryResources` (the batch API), 50 ids per call.
 */
import type { TokenCredential } from "@azure/core-auth";
import { MetricsClient, MetricsQueryResourcesOptions } from "@azure/monitor-query-metrics";
import { perTryTimeoutPolicy, PipelineTuning } from "../pipeline";
import { mapLimit } from "../util";
import type { CheckRunner, MetricsReader } from "./types";

const BATCH = 50;

const COMPARE = {
    lt: (v: number, t: number) => v < t,
    le: (v: number, t: number) => v <= t,
    gt: (v: number, t: number) => v > t,
    ge: (v: number, t: number) => v >= t,
} as const;
const SYMBOL = { lt: "<", le: "<=", gt: ">", ge: ">=" } as const;

export interface MetricsReaderOptions extends PipelineTuning {
    /**
     * Azure Monitor metrics endpoint. The batch API answers only for resources of its own region, so
     * in Azure this is a template, `https://{region}.metrics.monitor.azure.com`, resolved per region.
     */
    readonly endpoint: string;
    readonly credential: TokenCredential;
}

/** Placeholder of a regional endpoint template. */
export const REGION_PLACEHOLDER = "{region}";

/** The endpoint for `region` (Azure region names are lower-case words, e.g. `eastus2`). */
export function regionalEndpoint(template: string, region: string): string {
    return template.replace(REGION_PLACEHOLDER, region.toLowerCase().replace(/[^a-z0-9]/g, ""));
}

function metricsClient(endpoint: string, options: MetricsReaderOptions): MetricsClient {
    const client = new MetricsClient(endpoint, options.credential, {
        retryOptions: {
            maxRetries: options.maxRetries ?? 2,
            retryDelayInMs: options.retryDelayMs ?? 400,
            maxRetryDelayInMs: options.maxRetryDelayMs ?? 4000,
        },
        ...(options.tlsCa !== undefined ? { tlsOptions: { ca: options.tlsCa } } : {}),
        ...(options.httpClient ? { httpClient: options.httpClient } : {}),
    });
    client.pipeline.addPolicy(perTryTimeoutPolicy(options.perTryTimeoutMs ?? 4000), { afterPhase: "Retry" });
    return client;
}

/**
 * A `MetricsReader` over `MetricsClient` (one per endpoint, reused); the latest non-empty data
 * point of the aggregation per resource.
 */
export function createMetricsReader(options: MetricsReaderOptions): MetricsReader {
    const regional = options.endpoint.includes(REGION_PLACEHOLDER);
    const clients = new Map<string, MetricsClient>();
    const clientFor = (endpoint: string) => {
        let c = clients.get(endpoint);
        if (!c) clients.set(endpoint, (c = metricsClient(endpoint, options)));
        return c;
    };
    return {
        regional,
        async query(resourceIds, req, abortSignal, regions) {
            const out = new Map<string, number | undefined>();
            for (const id of resourceIds) out.set(id.toLowerCase(), undefined);
            const field = req.aggregation.toLowerCase() as "average" | "maximum" | "minimum" | "total" | "count";
            // Batches of ids that share an endpoint (a region), at most BATCH each.
            const byEndpoint = new Map<string, string[]>();
            for (const id of resourceIds) {
                const region = regions?.get(id.toLowerCase());
                if (regional && region === undefined) continue; // no region, no endpoint: no data
                const endpoint = regional ? regionalEndpoint(options.endpoint, region!) : options.endpoint;
                byEndpoint.set(endpoint, [...(byEndpoint.get(endpoint) ?? []), id]);
            }
            const batches: { endpoint: string; ids: string[] }[] = [];
            for (const [endpoint, ids] of byEndpoint)
                for (let i = 0; i < ids.length; i += BATCH) batches.push({ endpoint, ids: ids.slice(i, i + BATCH) });
            await mapLimit(batches, 2, async ({ endpoint, ids }) => {
                // `abortSignal` is an OperationOptions field the client forwards (it spreads the options).
                const opts: MetricsQueryResourcesOptions & { abortSignal: AbortSignal } = {
                    startTime: req.startTime,
                    endTime: req.endTime,
                    aggregation: field,
                    abortSignal,
                };
                const results = await clientFor(endpoint).queryResources(ids, [req.metric], req.namespace, opts);
                for (const r of results) {
                    if (!r.resourceId) continue;
                    const metric = r.metrics.find((m) => m.name.toLowerCase() === req.metric.toLowerCase());
                    let latest: number | undefined;
                    for (const ts of metric?.timeseries ?? [])
                        for (const point of ts.data ?? []) {
                            const v = point[field];
                            if (typeof v === "number" && Number.isFinite(v)) latest = v;
                        }
                    out.set(r.resourceId.toLowerCase(), latest);
                }
            });
            return out;
        },
    };
}

/** Each member cluster's region, from the decision's cluster reads (at most one per member). */
async function memberRegions(
    members: readonly { clusterResourceId: string }[],
    cluster: (id: string) => Promise<{ location?: string } | undefined>,
): Promise<Map<string, string>> {
    const regions = new Map<string, string>();
    await Promise.all(
        members.map(async (m) => {
            const location = (await cluster(m.clusterResourceId))?.location;
            if (location) regions.set(m.clusterResourceId.toLowerCase(), location);
        }),
    );
    return regions;
}

export const metricCheck: CheckRunner<"metric"> = async (check, ctx) => {
    const reader = ctx.services.metrics;
    if (!reader) return { passed: false, observed: "no metrics endpoint configured (app setting METRICS_ENDPOINT)" };
    const scope = await ctx.scope.members();
    if (!scope.ok) return { passed: false, observed: scope.observed };
    const aggregation = check.aggregation ?? "Average";
    const regions = reader.regional ? await memberRegions(scope.members, (id) => ctx.scope.cluster(id)) : undefined;
    const values = await reader.query(
        scope.members.map((m) => m.clusterResourceId),
        {
            metric: check.metric,
            namespace: check.namespace ?? "Microsoft.ContainerService/managedClusters",
            aggregation,
            startTime: new Date(ctx.now - (check.lookbackMinutes ?? 15) * 60_000),
            endTime: new Date(ctx.now),
        },
        ctx.abortSignal,
        regions,
    );
    const cmp = COMPARE[check.operator];
    const sym = SYMBOL[check.operator];
    const parts: string[] = [];
    let passed = true;
    for (const m of scope.members) {
        const v = values.get(m.clusterResourceId.toLowerCase());
        if (regions !== undefined && !regions.has(m.clusterResourceId.toLowerCase())) {
            passed = false;
            parts.push(`${m.name}: no data (cluster region unknown)`);
        } else if (v === undefined) {
            passed = false;
            parts.push(`${m.name}: no data`);
        } else if (!cmp(v, check.threshold)) {
            passed = false;
            parts.push(`${m.name}: ${v} (needs ${sym} ${check.threshold})`);
        } else parts.push(`${m.name}: ${v}`);
    }
    return {
        passed,
        observed: `${aggregation} ${check.metric} over ${check.lookbackMinutes ?? 15} min: ${parts.join("; ")}`,
    };
};
