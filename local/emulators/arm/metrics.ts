/**
 * Azure Monitor's metrics batch data plane, emulated: the values a test or the rehearsal sets per
 * resource and metric, and `POST subscriptions/{sub}/metrics:getBatch` answered as
 * `@azure/monitor-query-metrics`'s `MetricsClient.queryResources` reads it (one data point per
 * series, every requested aggregation at the set value; no point for a metric without data).
 */
import { eq, parseArmId } from "../../../core/arm-id";
import { HttpError, isRecord, type Reply, type RouteRequest } from "./http";
import type { ArmStore } from "./store";

const MAX_METRIC_RESOURCES = 50;
const AGGREGATIONS = ["average", "minimum", "maximum", "total", "count"] as const;
type Aggregation = (typeof AGGREGATIONS)[number];

/** The value `metrics.batch` serves for every aggregation of `metric` on that resource; null = no data. */
export function setMetric(store: ArmStore, clusterResourceId: string, metric: string, value: number | null): void {
    parseArmId(clusterResourceId);
    const key = clusterResourceId.toLowerCase();
    let m = store.metrics.get(key);
    if (!m) store.metrics.set(key, (m = new Map()));
    m.set(metric.toLowerCase(), value);
}

/** The body's resource ids: strings, ARM ids, all in the route's subscription, at most 50. */
function resourceIds(body: unknown, subscription: string | undefined): string[] {
    if (!isRecord(body) || !Array.isArray(body.resourceids) || body.resourceids.length === 0)
        throw new HttpError(
            400,
            "BadRequest",
            'The body must be { "resourceids": [ ... ] } with at least one resource id.',
        );
    if (body.resourceids.length > MAX_METRIC_RESOURCES)
        throw new HttpError(400, "BadRequest", `At most ${MAX_METRIC_RESOURCES} resource ids per request.`);
    const ids: string[] = [];
    for (const rid of body.resourceids) {
        if (typeof rid !== "string") throw new HttpError(400, "BadRequest", "resourceids must be strings.");
        let subscriptionId: string;
        try {
            subscriptionId = parseArmId(rid).subscriptionId;
        } catch (err) {
            throw new HttpError(400, "BadRequest", (err as Error).message);
        }
        if (!eq(subscriptionId, subscription))
            throw new HttpError(400, "BadRequest", `Resource ${rid} is not in subscription ${subscription}.`);
        ids.push(rid);
    }
    return ids;
}

export function metricsBatch(store: ArmStore, q: RouteRequest): Reply {
    const { search } = q;
    const namespace = search.get("metricnamespace");
    if (!namespace) throw new HttpError(400, "BadRequest", "The metricnamespace query parameter is required.");
    const names = (search.get("metricnames") ?? "")
        .split(",")
        .map((n) => n.trim())
        .filter((n) => n.length > 0);
    if (names.length === 0) throw new HttpError(400, "BadRequest", "The metricnames query parameter is required.");
    const aggregations = parseAggregations(search.get("aggregation"));
    const end = parseTime(search.get("endtime"), "endtime") ?? Date.now();
    const start = parseTime(search.get("starttime"), "starttime") ?? end - 3_600_000;
    if (start > end) throw new HttpError(400, "BadRequest", "starttime must not be after endtime.");
    const interval = search.get("interval") ?? "PT1M";
    const ids = resourceIds(q.body, q.params.sub);
    const stamp = new Date(Math.max(start, Math.floor((end - 60_000) / 60_000) * 60_000)).toISOString();
    const startIso = new Date(start).toISOString();
    const endIso = new Date(end).toISOString();
    const values = ids.map((rid) => {
        const memberKey = store.clusters.get(rid.toLowerCase());
        const member = memberKey === undefined ? undefined : store.members.get(memberKey);
        const series = store.metrics.get(rid.toLowerCase());
        return {
            starttime: startIso,
            endtime: endIso,
            interval,
            namespace,
            resourceregion: member?.state.location ?? store.options.location,
            resourceid: rid,
            value: names.map((name) => {
                const v = series?.get(name.toLowerCase());
                const data: Record<string, unknown>[] = [];
                if (v !== undefined && v !== null) {
                    const point: Record<string, unknown> = { timeStamp: stamp };
                    for (const a of aggregations) point[a] = v;
                    data.push(point);
                }
                return {
                    id: `${rid}/providers/Microsoft.Insights/metrics/${name}`,
                    type: "Microsoft.Insights/metrics",
                    name: { value: name, localizedValue: name },
                    displayDescription: "",
                    errorCode: "Success",
                    unit: "Unspecified",
                    timeseries: [{ metadatavalues: [], data }],
                };
            }),
        };
    });
    return { status: 200, body: { values } };
}

function parseAggregations(raw: string | null): Aggregation[] {
    if (raw === null || raw.trim() === "") return ["average"];
    const out: Aggregation[] = [];
    for (const part of raw.split(",")) {
        const a = AGGREGATIONS.find((x) => eq(x, part.trim()));
        if (!a) throw new HttpError(400, "BadRequest", `Unknown aggregation '${part.trim()}'.`);
        if (!out.includes(a)) out.push(a);
    }
    return out;
}

function parseTime(raw: string | null, name: string): number | undefined {
    if (raw === null || raw === "") return undefined;
    const t = Date.parse(raw);
    if (Number.isNaN(t)) throw new HttpError(400, "BadRequest", `The ${name} '${raw}' is not a valid date-time.`);
    return t;
}
