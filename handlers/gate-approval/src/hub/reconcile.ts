/**
 * The reconcile loop over the fleet hub's approval requests. No event reaches Azure for these
 * objects, so the handler's timer drives it, as KubeFleet's approval controller is driven by its
 * informer: each tick resumes a watch from the last resourceVersion (bookmarks keep it fresh) and
 * decides the requests that were added or changed; a full list replaces the watch on the first
 * tick, every `fullListEveryMs`, after `410 Gone` (history compacted) and after a broken stream, so a
 * lost watch loses nothing. Held requests are decided again every tick (windows open, clusters
 * recover); manual ones notify once, and a request pending past `escalateAfterMinutes` escalates once.
 * Cluster-scoped placements are watched through `clusterapprovalrequests`, namespaced ones through
 * `approvalrequests` in each of their namespaces (the handler's hub Role is granted there only).
 */
import { isApproved, type ApprovalRequestObject } from "../../../../core/placement";
import type { Notifier } from "../notifier";
import { decideApprovalRequest, type ApprovalRequestRef, type HubDecideDeps, type HubDecision } from "./decide";

export interface HubReconcileOptions {
    /** Full list at least this often (default 10 minutes). */
    readonly fullListEveryMs?: number;
    /** How long one tick keeps its watch open (default 1 s: drain what happened since the last tick). */
    readonly watchSeconds?: number;
    readonly escalateAfterMinutes?: number;
    readonly notifier?: Notifier;
    readonly audit?: (d: HubDecision) => void;
}

export type TickSource = "list" | "watch" | "relist-after-gone" | "relist-after-error";

export interface TickResult {
    readonly decisions: readonly HubDecision[];
    /** How this tick learned about changes (in the first scope: the cluster scope when the stack has one). */
    readonly source: TickSource;
    readonly resourceVersion: string | undefined;
    /** Each scope the loop lists and watches: the cluster scope, and each namespace of a namespaced placement. */
    readonly scopes: readonly {
        readonly namespace?: string;
        readonly source: TickSource;
        readonly resourceVersion: string | undefined;
    }[];
}

/** One list/watch stream: cluster-scoped requests, or one namespace's. */
interface Scope {
    readonly namespace: string | undefined;
    resourceVersion: string | undefined;
    lastListAt: number;
}

/** Key of a request in the loop's sets: its name, or `namespace/name`. */
function keyOf(ref: ApprovalRequestRef): string {
    return ref.namespace === undefined ? ref.name : `${ref.namespace}/${ref.name}`;
}

/** The scopes of the stack's placements: the cluster scope if any is cluster-scoped, then each namespace once. */
function scopesOf(placements: HubDecideDeps["placements"]): Scope[] {
    const namespaces = [...new Set(placements.flatMap((p) => (p.namespace === undefined ? [] : [p.namespace])))];
    const cluster = placements.length === 0 || placements.some((p) => p.namespace === undefined);
    return [...(cluster ? [undefined] : []), ...namespaces.sort()].map((namespace) => ({
        namespace,
        resourceVersion: undefined,
        lastListAt: -Infinity,
    }));
}

export class HubReconciler {
    private readonly scopes: Scope[];
    private readonly held = new Map<string, ApprovalRequestRef>();
    private readonly notified = new Set<string>();

    constructor(
        private readonly deps: HubDecideDeps,
        private readonly options: HubReconcileOptions = {},
    ) {
        this.scopes = scopesOf(deps.placements);
    }

    /** The watch position of the first scope (for logs and tests). */
    get cursor(): string | undefined {
        return this.scopes[0]?.resourceVersion;
    }

    private ref(scope: Scope, obj: ApprovalRequestObject): ApprovalRequestRef | undefined {
        const name = obj.metadata?.name;
        if (!name) return undefined;
        const namespace = obj.metadata?.namespace ?? scope.namespace;
        return namespace === undefined ? { name } : { name, namespace };
    }

    private async list(scope: Scope, into: Map<string, ApprovalRequestRef>): Promise<void> {
        const now = (this.deps.clock ?? Date.now)();
        const list = await this.deps.hub.listApprovalRequests(scope.namespace);
        for (const o of list.items) {
            const ref = this.ref(scope, o);
            if (ref && !isApproved(o)) into.set(keyOf(ref), ref);
        }
        scope.resourceVersion = list.resourceVersion;
        scope.lastListAt = now;
    }

    /** What changed in one scope since the last tick: a resumed watch, or a full list when due or the watch failed. */
    private async refresh(scope: Scope, candidates: Map<string, ApprovalRequestRef>, now: number): Promise<TickSource> {
        if (
            scope.resourceVersion === undefined ||
            now - scope.lastListAt >= (this.options.fullListEveryMs ?? 600_000)
        ) {
            await this.list(scope, candidates);
            return "list";
        }
        const out = await this.deps.hub.watchApprovalRequests(
            scope.resourceVersion,
            this.options.watchSeconds ?? 1,
            (type, obj) => {
                const ref = this.ref(scope, obj);
                if (!ref) return;
                if (type === "DELETED") {
                    candidates.delete(keyOf(ref));
                    this.held.delete(keyOf(ref));
                } else if ((type === "ADDED" || type === "MODIFIED") && !isApproved(obj))
                    candidates.set(keyOf(ref), ref);
            },
            scope.namespace,
        );
        scope.resourceVersion = out.resourceVersion;
        if (!out.gone && out.error === undefined) return "watch";
        await this.list(scope, candidates);
        return out.gone ? "relist-after-gone" : "relist-after-error";
    }

    async tick(): Promise<TickResult> {
        const now = (this.deps.clock ?? Date.now)();
        const candidates = new Map(this.held);
        const scopes: TickResult["scopes"][number][] = [];
        for (const scope of this.scopes) {
            const source = await this.refresh(scope, candidates, now);
            scopes.push({
                ...(scope.namespace !== undefined ? { namespace: scope.namespace } : {}),
                source,
                resourceVersion: scope.resourceVersion,
            });
        }

        const decisions: HubDecision[] = [];
        for (const [key, ref] of [...candidates.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
            const d = await decideApprovalRequest(ref, this.deps);
            decisions.push(d);
            this.options.audit?.(d);
            if (d.outcome === "held" || d.outcome === "retry") this.held.set(key, ref);
            else this.held.delete(key);
            await this.notify(d);
        }
        return { decisions, source: scopes[0]!.source, resourceVersion: scopes[0]!.resourceVersion, scopes };
    }

    private async notify(d: HubDecision): Promise<void> {
        const n = this.options.notifier;
        if (!n || d.run === undefined || d.timing === undefined) return;
        const key = keyOf({ name: d.request, ...(d.namespace !== undefined ? { namespace: d.namespace } : {}) });
        const send = async (kind: "manual" | "held" | "escalation", id: string) => {
            if (this.notified.has(id)) return;
            this.notified.add(id);
            try {
                await n.notify({
                    kind,
                    gateId:
                        d.namespace === undefined
                            ? `clusterapprovalrequests/${d.request}`
                            : `approvalrequests/${d.namespace}/${d.request}`,
                    updateRun: d.run!,
                    ...(d.stage !== undefined ? { stage: d.stage } : {}),
                    timing: d.timing!,
                    ...(d.rule !== undefined ? { rule: d.rule } : {}),
                    reason: d.reason ?? "",
                    ...(kind === "escalation" && d.pendingMinutes !== undefined
                        ? { pendingMinutes: d.pendingMinutes }
                        : {}),
                });
            } catch {
                this.notified.delete(id); // not delivered: try again next tick
            }
        };
        if (d.outcome === "manual") await send("manual", `manual:${key}`);
        if (d.outcome === "held") await send("held", `held:${key}:${d.reason ?? ""}`);
        const after = this.options.escalateAfterMinutes;
        if ((d.outcome === "held" || d.outcome === "manual") && after !== undefined && (d.pendingMinutes ?? 0) >= after)
            await send("escalation", `escalation:${key}`);
    }
}
