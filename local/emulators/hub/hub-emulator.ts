/**
 * Loopback emulation of the fleet hub's Kubernetes API for KubeFleet's placement resources
 * (`placement.kubernetes-fleet.io/v1beta1`: placements, staged update strategies and runs, approval
 * requests; cluster-scoped and namespaced). It speaks what `@kubernetes/client-node` sends: list with
 * `resourceVersion` and `labelSelector`, watch streams (JSON lines) with bookmarks and `410 Gone`
 * once the history is compacted, get, create, delete, merge-patch of the status subresource with an
 * optimistic-concurrency `409 Conflict`, bearer-token authentication, and injected faults. State is
 * in memory; one global resourceVersion counter as etcd has.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { PLACEMENT_GROUP, selectorMatches, type LabelSelector } from "../../../core/placement";

export const HUB_API_VERSION = "v1beta1";

/** The resources served, by plural, with their kind and scope. */
export const HUB_RESOURCES = {
    clusterresourceplacements: { kind: "ClusterResourcePlacement", namespaced: false },
    clusterstagedupdatestrategies: { kind: "ClusterStagedUpdateStrategy", namespaced: false },
    clusterstagedupdateruns: { kind: "ClusterStagedUpdateRun", namespaced: false },
    clusterapprovalrequests: { kind: "ClusterApprovalRequest", namespaced: false },
    resourceplacements: { kind: "ResourcePlacement", namespaced: true },
    stagedupdatestrategies: { kind: "StagedUpdateStrategy", namespaced: true },
    stagedupdateruns: { kind: "StagedUpdateRun", namespaced: true },
    approvalrequests: { kind: "ApprovalRequest", namespaced: true },
} as const;
export type HubPlural = keyof typeof HUB_RESOURCES;

export interface HubObject {
    apiVersion?: string;
    kind?: string;
    metadata: {
        name: string;
        namespace?: string;
        uid?: string;
        resourceVersion?: string;
        generation?: number;
        creationTimestamp?: string;
        labels?: Record<string, string>;
        [k: string]: unknown;
    };
    spec?: unknown;
    status?: Record<string, unknown>;
    [k: string]: unknown;
}

/** A fault for the next matching requests: an HTTP status with a Kubernetes Status body, or a dropped connection. */
export interface HubFault {
    readonly method?: string;
    /** Substring of the request path (with query). */
    readonly path?: string;
    readonly status: number | "reset";
    /** How many matching requests fail (default 1). */
    times?: number;
}

export interface HubRequest {
    readonly method: string;
    readonly path: string;
    readonly status: number;
    readonly contentType?: string;
}

export interface HubEmulatorOptions {
    /** Bearer token every request must carry; without it, no authentication. */
    readonly token?: string;
    /** Serve HTTPS with this key and certificate. */
    readonly tls?: { readonly key: string; readonly cert: string };
    /** Interval of BOOKMARK events on watches that asked for them (default 1000 ms). */
    readonly bookmarkMs?: number;
}

interface WatchEvent {
    readonly type: "ADDED" | "MODIFIED" | "DELETED";
    readonly rv: number;
    readonly plural: HubPlural;
    readonly object: HubObject;
}

interface Watcher {
    readonly plural: HubPlural;
    readonly namespace: string | undefined;
    readonly selector: LabelSelector | undefined;
    readonly res: http.ServerResponse;
}

/** What a request path names. */
interface Route {
    readonly plural: HubPlural;
    /** Namespace of a namespaced resource; undefined for cluster-scoped ones and all-namespaces lists. */
    readonly namespace: string | undefined;
    readonly name: string | undefined;
    /** The status subresource. */
    readonly status: boolean;
}

const clone = <T>(v: T): T => structuredClone(v);

/** `a=b,c=d` (the equality subset client-node callers use) → a selector. */
export function parseLabelSelector(text: string | null): LabelSelector | undefined {
    if (!text) return undefined;
    const matchLabels: Record<string, string> = {};
    const matchExpressions: NonNullable<LabelSelector["matchExpressions"]> = [];
    for (const part of text.split(",")) {
        const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*([^\s]*)\s*$/.exec(part);
        if (m) {
            if (m[2] === "!=") matchExpressions.push({ key: m[1]!, operator: "NotIn", values: [m[3]!] });
            else matchLabels[m[1]!] = m[3]!;
        } else if (/^\s*!([^\s]+)\s*$/.test(part))
            matchExpressions.push({ key: part.trim().slice(1), operator: "DoesNotExist" });
        else matchExpressions.push({ key: part.trim(), operator: "Exists" });
    }
    return { matchLabels, matchExpressions };
}

function status(code: number, reason: string, message: string) {
    return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return clone(patch);
    const out: Record<string, unknown> =
        target !== null && typeof target === "object" && !Array.isArray(target)
            ? { ...(target as Record<string, unknown>) }
            : {};
    for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
        if (v === null) delete out[k];
        else out[k] = mergePatch(out[k], v);
    }
    return out;
}

export class HubEmulator {
    private readonly server: http.Server;
    private readonly objects = new Map<string, HubObject>();
    private history: WatchEvent[] = [];
    /** Watches from a resourceVersion older than this get 410 Gone. */
    private compactedRv = 0;
    private rv = 100;
    private uid = 0;
    private readonly watchers = new Set<Watcher>();
    private readonly faults: HubFault[] = [];
    readonly requests: HubRequest[] = [];
    url = "";

    constructor(private readonly opts: HubEmulatorOptions = {}) {
        const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
        this.server = opts.tls
            ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler)
            : http.createServer(handler);
    }

    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        const { port } = this.server.address() as AddressInfo;
        this.url = `${this.opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
        return this.url;
    }

    async stop(): Promise<void> {
        for (const w of this.watchers) w.res.destroy();
        this.watchers.clear();
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    /** The next `times` requests matching method/path fail with `status` (or a reset connection). */
    inject(fault: HubFault): void {
        this.faults.push({ ...fault, times: fault.times ?? 1 });
    }

    /** Forget the watch history up to now: watches resumed from an older resourceVersion get 410 Gone. */
    compact(): void {
        this.compactedRv = this.rv;
        this.history = [];
    }

    /** End every open watch stream without a final event, as a dropped connection does. */
    dropWatches(): void {
        for (const w of this.watchers) w.res.destroy();
        this.watchers.clear();
    }

    get resourceVersion(): string {
        return String(this.rv);
    }

    private key(plural: HubPlural, namespace: string | undefined, name: string): string {
        return `${plural}/${namespace ?? ""}/${name}`;
    }

    get(plural: HubPlural, name: string, namespace?: string): HubObject | undefined {
        const o = this.objects.get(this.key(plural, namespace, name));
        return o && clone(o);
    }

    list(plural: HubPlural, namespace?: string): HubObject[] {
        return [...this.objects.entries()]
            .filter(
                ([k]) =>
                    k.startsWith(`${plural}/${namespace ?? ""}/`) ||
                    (namespace === undefined && k.startsWith(`${plural}/`)),
            )
            .map(([, o]) => clone(o));
    }

    /** Creates an object as the API server does (uid, generation 1, resourceVersion); throws on a duplicate. */
    create(plural: HubPlural, obj: HubObject): HubObject {
        const { kind, namespaced } = HUB_RESOURCES[plural];
        const namespace = namespaced ? (obj.metadata.namespace ?? "default") : undefined;
        const k = this.key(plural, namespace, obj.metadata.name);
        if (this.objects.has(k))
            throw Object.assign(new Error(`${plural} "${obj.metadata.name}" already exists`), { code: 409 });
        const created: HubObject = {
            ...clone(obj),
            apiVersion: `${PLACEMENT_GROUP}/${HUB_API_VERSION}`,
            kind,
            metadata: {
                ...clone(obj.metadata),
                ...(namespace !== undefined ? { namespace } : {}),
                uid: `00000000-0000-4000-8000-${String(++this.uid).padStart(12, "0")}`,
                generation: 1,
                creationTimestamp: new Date().toISOString(),
            },
        };
        this.store(plural, k, created, "ADDED");
        return clone(created);
    }

    /**
     * Writes the status subresource as a controller does (no resourceVersion precondition); the
     * rehearsal's run controller uses it. Returns the stored object.
     */
    writeStatus(plural: HubPlural, name: string, status: Record<string, unknown>, namespace?: string): HubObject {
        const k = this.key(plural, HUB_RESOURCES[plural].namespaced ? (namespace ?? "default") : undefined, name);
        const cur = this.objects.get(k);
        if (!cur) throw new Error(`${plural} "${name}" not found`);
        const next = { ...clone(cur), status: clone(status) };
        this.store(plural, k, next, "MODIFIED");
        return clone(next);
    }

    delete(plural: HubPlural, name: string, namespace?: string): boolean {
        const k = this.key(plural, HUB_RESOURCES[plural].namespaced ? (namespace ?? "default") : undefined, name);
        const cur = this.objects.get(k);
        if (!cur) return false;
        this.objects.delete(k);
        this.rv++;
        const gone = { ...clone(cur), metadata: { ...clone(cur.metadata), resourceVersion: String(this.rv) } };
        this.publish({ type: "DELETED", rv: this.rv, plural, object: gone });
        return true;
    }

    private store(plural: HubPlural, k: string, obj: HubObject, type: WatchEvent["type"]): void {
        this.rv++;
        obj.metadata.resourceVersion = String(this.rv);
        this.objects.set(k, obj);
        this.publish({ type, rv: this.rv, plural, object: clone(obj) });
    }

    private publish(e: WatchEvent): void {
        this.history.push(e);
        for (const w of this.watchers) if (this.wants(w, e)) this.send(w.res, { type: e.type, object: e.object });
    }

    private wants(w: Pick<Watcher, "plural" | "namespace" | "selector">, e: WatchEvent): boolean {
        if (e.plural !== w.plural) return false;
        if (w.namespace !== undefined && e.object.metadata.namespace !== w.namespace) return false;
        return !w.selector || selectorMatches(w.selector, e.object.metadata.labels ?? {});
    }

    private send(res: http.ServerResponse, event: unknown): void {
        if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(event)}\n`);
    }

    private reply(req: http.IncomingMessage, res: http.ServerResponse, code: number, body: unknown): void {
        this.requests.push({
            method: req.method ?? "",
            path: req.url ?? "",
            status: code,
            ...(req.headers["content-type"] ? { contentType: req.headers["content-type"] } : {}),
        });
        res.writeHead(code, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
    }

    private takeFault(method: string, path: string): HubFault | undefined {
        const f = this.faults.find(
            (x) => (x.method === undefined || x.method === method) && (x.path === undefined || path.includes(x.path)),
        );
        if (!f) return undefined;
        f.times = (f.times ?? 1) - 1;
        if (f.times <= 0) this.faults.splice(this.faults.indexOf(f), 1);
        return f;
    }

    private async body(req: http.IncomingMessage): Promise<unknown> {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const text = Buffer.concat(chunks).toString("utf8");
        return text ? (JSON.parse(text) as unknown) : undefined;
    }

    /** Authentication and injected faults; true when the request was answered here. */
    private refused(req: http.IncomingMessage, res: http.ServerResponse, method: string, url: URL): boolean {
        if (this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
            this.reply(req, res, 401, status(401, "Unauthorized", "Unauthorized"));
            return true;
        }
        const fault = this.takeFault(method, `${url.pathname}${url.search}`);
        if (fault?.status === "reset") {
            this.requests.push({ method, path: req.url ?? "", status: 0 });
            req.socket.destroy();
            return true;
        }
        if (fault) {
            const reason =
                fault.status === 409 ? "Conflict" : fault.status === 429 ? "TooManyRequests" : "InternalError";
            if (fault.status === 429) res.setHeader("retry-after", "1");
            this.reply(req, res, fault.status, status(fault.status, reason, `injected ${fault.status}`));
            return true;
        }
        return false;
    }

    /** The resource a path names (`/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/status]]`). */
    private route(pathname: string): Route | undefined {
        const m = new RegExp(
            `^/apis/${PLACEMENT_GROUP.replace(/\./g, "\\.")}/${HUB_API_VERSION}(?:/namespaces/([^/]+))?/([a-z]+)(?:/([^/]+))?(?:/(status))?$`,
        ).exec(pathname);
        const plural = m?.[2] as HubPlural | undefined;
        if (!m || !plural || !(plural in HUB_RESOURCES)) return undefined;
        const namespace = m[1] ? decodeURIComponent(m[1]) : undefined;
        return {
            plural,
            // A namespaced resource without a namespace in the path is the all-namespaces collection.
            namespace: HUB_RESOURCES[plural].namespaced ? namespace : undefined,
            name: m[3] ? decodeURIComponent(m[3]) : undefined,
            status: m[4] === "status",
        };
    }

    private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const method = req.method ?? "GET";
        const url = new URL(req.url ?? "/", "http://hub");
        try {
            if (this.refused(req, res, method, url)) return;
            const r = this.route(url.pathname);
            if (!r) {
                this.reply(
                    req,
                    res,
                    404,
                    status(404, "NotFound", `the server could not find the requested resource (${url.pathname})`),
                );
                return;
            }
            if (method === "GET" && r.name === undefined) this.serveCollection(req, res, r, url.searchParams);
            else if (method === "GET" && r.name !== undefined) this.serveGet(req, res, r, r.name);
            else if (method === "POST" && r.name === undefined) await this.serveCreate(req, res, r);
            else if (method === "DELETE" && r.name !== undefined) this.serveDelete(req, res, r, r.name);
            else if (method === "PATCH" && r.name !== undefined && r.status)
                await this.servePatchStatus(req, res, r, r.name);
            else
                this.reply(
                    req,
                    res,
                    405,
                    status(405, "MethodNotAllowed", `${method} ${url.pathname} is not supported`),
                );
        } catch (e) {
            this.reply(req, res, 500, status(500, "InternalError", (e as Error).message));
        }
    }

    private notFound(req: http.IncomingMessage, res: http.ServerResponse, plural: HubPlural, name: string): void {
        this.reply(req, res, 404, status(404, "NotFound", `${plural}.${PLACEMENT_GROUP} "${name}" not found`));
    }

    /** List (filtered by `labelSelector`) or, with `watch=true`, a watch stream. */
    private serveCollection(req: http.IncomingMessage, res: http.ServerResponse, r: Route, q: URLSearchParams): void {
        const selector = parseLabelSelector(q.get("labelSelector"));
        if (q.get("watch") === "true" || q.get("watch") === "1") {
            this.watch(req, res, r.plural, r.namespace, selector, q);
            return;
        }
        const items = this.list(r.plural, r.namespace).filter(
            (o) => !selector || selectorMatches(selector, o.metadata.labels ?? {}),
        );
        this.reply(req, res, 200, {
            apiVersion: `${PLACEMENT_GROUP}/${HUB_API_VERSION}`,
            kind: `${HUB_RESOURCES[r.plural].kind}List`,
            metadata: { resourceVersion: String(this.rv) },
            items,
        });
    }

    private serveGet(req: http.IncomingMessage, res: http.ServerResponse, r: Route, name: string): void {
        const o = this.get(r.plural, name, r.namespace);
        if (!o) this.notFound(req, res, r.plural, name);
        else this.reply(req, res, 200, o);
    }

    private async serveCreate(req: http.IncomingMessage, res: http.ServerResponse, r: Route): Promise<void> {
        const obj = (await this.body(req)) as HubObject;
        if (!obj?.metadata?.name) {
            this.reply(req, res, 422, status(422, "Invalid", "metadata.name: Required value"));
            return;
        }
        try {
            this.reply(
                req,
                res,
                201,
                this.create(r.plural, {
                    ...obj,
                    metadata: { ...obj.metadata, ...(r.namespace ? { namespace: r.namespace } : {}) },
                }),
            );
        } catch {
            this.reply(
                req,
                res,
                409,
                status(409, "AlreadyExists", `${r.plural}.${PLACEMENT_GROUP} "${obj.metadata.name}" already exists`),
            );
        }
    }

    private serveDelete(req: http.IncomingMessage, res: http.ServerResponse, r: Route, name: string): void {
        const o = this.get(r.plural, name, r.namespace);
        if (!o || !this.delete(r.plural, name, r.namespace)) this.notFound(req, res, r.plural, name);
        else this.reply(req, res, 200, o);
    }

    /**
     * JSON merge patch of the status subresource: only `status` changes (and a `metadata.resourceVersion`
     * in the patch is a precondition: a stale one answers 409 Conflict).
     */
    private async servePatchStatus(
        req: http.IncomingMessage,
        res: http.ServerResponse,
        r: Route,
        name: string,
    ): Promise<void> {
        const type = String(req.headers["content-type"] ?? "").split(";")[0];
        if (type !== "application/merge-patch+json") {
            this.reply(
                req,
                res,
                415,
                status(
                    415,
                    "UnsupportedMediaType",
                    `the emulator accepts application/merge-patch+json on status, not ${type}`,
                ),
            );
            return;
        }
        const patch = (await this.body(req)) as { metadata?: { resourceVersion?: string }; status?: unknown };
        const k = this.key(r.plural, r.namespace, name);
        const cur = this.objects.get(k);
        if (!cur) {
            this.notFound(req, res, r.plural, name);
            return;
        }
        const want = patch?.metadata?.resourceVersion;
        if (want !== undefined && want !== cur.metadata.resourceVersion) {
            this.reply(
                req,
                res,
                409,
                status(
                    409,
                    "Conflict",
                    `Operation cannot be fulfilled on ${r.plural}.${PLACEMENT_GROUP} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
                ),
            );
            return;
        }
        // The status subresource ignores everything but status (and the precondition).
        const next = {
            ...clone(cur),
            status: mergePatch(cur.status ?? {}, patch?.status ?? {}) as Record<string, unknown>,
        };
        this.store(r.plural, k, next, "MODIFIED");
        this.reply(req, res, 200, clone(next));
    }

    private watch(
        req: http.IncomingMessage,
        res: http.ServerResponse,
        plural: HubPlural,
        namespace: string | undefined,
        selector: LabelSelector | undefined,
        q: URLSearchParams,
    ): void {
        this.requests.push({ method: "GET", path: req.url ?? "", status: 200 });
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
        const w: Watcher = { plural, namespace, selector, res };
        const from = q.get("resourceVersion");
        const kind = HUB_RESOURCES[plural].kind;
        if (from && from !== "0" && Number(from) < this.compactedRv) {
            // As the API server: a 200 stream carrying one ERROR event with a 410 Status, then the end.
            this.send(res, {
                type: "ERROR",
                object: status(410, "Expired", `too old resource version: ${from} (${this.compactedRv})`),
            });
            res.end();
            return;
        }
        if (from && from !== "0") {
            for (const e of this.history)
                if (e.rv > Number(from) && this.wants(w, e)) this.send(res, { type: e.type, object: e.object });
        } else {
            // No resourceVersion: synthetic ADDED for the current state, as the API server sends.
            for (const o of this.list(plural, namespace))
                if (!selector || selectorMatches(selector, o.metadata.labels ?? {}))
                    this.send(res, { type: "ADDED", object: o });
        }
        this.watchers.add(w);
        const timers: NodeJS.Timeout[] = [];
        const bookmark = () =>
            this.send(res, {
                type: "BOOKMARK",
                object: {
                    kind,
                    apiVersion: `${PLACEMENT_GROUP}/${HUB_API_VERSION}`,
                    metadata: { resourceVersion: String(this.rv) },
                },
            });
        if (q.get("allowWatchBookmarks") === "true") timers.push(setInterval(bookmark, this.opts.bookmarkMs ?? 1000));
        const timeout = Number(q.get("timeoutSeconds") ?? "0");
        if (timeout > 0)
            timers.push(
                setTimeout(() => {
                    if (q.get("allowWatchBookmarks") === "true") bookmark();
                    res.end();
                }, timeout * 1000),
            );
        const cleanup = () => {
            for (const t of timers) clearTimeout(t);
            this.watchers.delete(w);
        };
        res.on("close", cleanup);
        req.on("close", cleanup);
    }
}
