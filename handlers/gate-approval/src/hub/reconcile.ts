/**
 * The reconcile loop over the fleet hub's approval requests. No event reaches Azure for these
 * objects, so the handler's timer drives it, as KubeFleet's approval controller is driven by its
 * informer: each tick resumes a watch from the last resourceVersion (bookmarks keep it fresh) and
 * decides the requests that were added or changed; a full list replaces the watch on the first
 * tick, every `fullListEveryMs`, after `410 Gone` (history compacted) and after a broken stream, so a
 * lost watch loses nothing. Held requests are decided again every tick (windows open, clusters
 * recover); manual ones notify once, and a request pending past `escalateAfterMinutes` escalates once.
 */
import { isApproved } from "../../../../core/placement";
import type { Notifier } from "../notifier";
import { decideApprovalRequest, type HubDecideDeps, type HubDecision } from "./decide";

export interface HubReconcileOptions {
    /** Full list at least this often (default 10 minutes). */
    readonly fullListEveryMs?: number;
    /** How long one tick keeps its watch open (default 1 s: drain what happened since the last tick). */
    readonly watchSeconds?: number;
    readonly escalateAfterMinutes?: number;
    readonly notifier?: Notifier;
    readonly audit?: (d: HubDecision) => void;
}

export interface TickResult {
    readonly decisions: readonly HubDecision[];
    /** How this tick learned about changes. */
    readonly source: "list" | "watch" | "relist-after-gone" | "relist-after-error";
    readonly resourceVersion: string | undefined;
}

export class HubReconciler {
    private resourceVersion: string | undefined;
    private lastListAt = -Infinity;
    private readonly held = new Set<string>();
    private readonly notified = new Set<string>();

    constructor(
        private readonly deps: HubDecideDeps,
        private readonly options: HubReconcileOptions = {},
    ) {}

    /** The watch position (for logs and tests). */
    get cursor(): string | undefined {
        return this.resourceVersion;
    }

    private async list(into: Set<string>): Promise<void> {
        const now = (this.deps.clock ?? Date.now)();
        const list = await this.deps.hub.listApprovalRequests();
        for (const o of list.items) if (o.metadata?.name && !isApproved(o)) into.add(o.metadata.name);
        this.resourceVersion = list.resourceVersion;
        this.lastListAt = now;
    }

    async tick(): Promise<TickResult> {
        const now = (this.deps.clock ?? Date.now)();
        const candidates = new Set(this.held);
        let source: TickResult["source"] = "watch";
        if (this.resourceVersion === undefined || now - this.lastListAt >= (this.options.fullListEveryMs ?? 600_000)) {
            await this.list(candidates);
            source = "list";
        } else {
            const out = await this.deps.hub.watchApprovalRequests(
                this.resourceVersion,
                this.options.watchSeconds ?? 1,
                (type, obj) => {
                    const name = obj.metadata?.name;
                    if (!name) return;
                    if (type === "DELETED") {
                        candidates.delete(name);
                        this.held.delete(name);
                    } else if ((type === "ADDED" || type === "MODIFIED") && !isApproved(obj)) candidates.add(name);
                },
            );
            this.resourceVersion = out.resourceVersion;
            if (out.gone || out.error !== undefined) {
                await this.list(candidates);
                source = out.gone ? "relist-after-gone" : "relist-after-error";
            }
        }

        const decisions: HubDecision[] = [];
        for (const name of [...candidates].sort()) {
            const d = await decideApprovalRequest(name, this.deps);
            decisions.push(d);
            this.options.audit?.(d);
            if (d.outcome === "held" || d.outcome === "retry") this.held.add(name);
            else this.held.delete(name);
            await this.notify(d);
        }
        return { decisions, source, resourceVersion: this.resourceVersion };
    }

    private async notify(d: HubDecision): Promise<void> {
        const n = this.options.notifier;
        if (!n || d.run === undefined || d.timing === undefined) return;
        const send = async (kind: "manual" | "held" | "escalation", key: string) => {
            if (this.notified.has(key)) return;
            this.notified.add(key);
            try {
                await n.notify({
                    kind,
                    gateId: `clusterapprovalrequests/${d.request}`,
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
                this.notified.delete(key); // not delivered: try again next tick
            }
        };
        if (d.outcome === "manual") await send("manual", `manual:${d.request}`);
        if (d.outcome === "held") await send("held", `held:${d.request}:${d.reason ?? ""}`);
        const after = this.options.escalateAfterMinutes;
        if ((d.outcome === "held" || d.outcome === "manual") && after !== undefined && (d.pendingMinutes ?? 0) >= after)
            await send("escalation", `escalation:${d.request}`);
    }
}
