/**
 * Decisions on AKS upgrade events (one per delivered event, never throws):
 *
 *   invalid → rejected · other type → ignored · cluster not a member of this stack → ignored
 *   NewKubernetesVersionAvailable → (startRun) channel target → guards → create + start the run
 *                                  → one message per version tuple and fleet, listing the members
 *                                    and the versions they run → run-started | notified | ignored
 *   ClusterSupportEnding / Ended  → one escalation per minor and fleet, listing the members on it
 *   NodePoolRolling*              → record the pool's state (by event time); Failed → one message;
 *                                   `clusterHealth` holds gates whose scope has a failed pool
 *   transient ARM / state / webhook failure → retry (the trigger throws; Event Grid redelivers)
 *
 * Every decision is audited like a gate decision (`audit.ts`), with the member and the version.
 */
import { FleetRef, eq, fleetId as formatFleetId } from "../../../../core/arm-id";
import type { AksEvent, AksEventParse } from "../../../../core/aks-event";
import {
    channelTarget,
    membersByMinor,
    minorLabel,
    parseKubernetesMinor,
    parseKubernetesVersion,
    runNameFor,
    startRunVerdict,
    type MemberVersion,
} from "../../../../core/kubernetes-version";
import type { UpgradeEventsSetting } from "../../../../core/upgrade-events";
import { auditRecord, type AuditSink, type Decision, type Outcome } from "../audit";
import type { LogFn } from "../notifier";
import { describeError } from "../pipeline";
import { isTransient, Transient } from "../transient";
import { deadline, mapLimit } from "../util";
import type { Announcement, Announcer } from "./announcer";
import {
    announcementKey,
    claimAnnouncement,
    markSent,
    recordPoolState,
    releaseClaim,
    type PoolState,
    type UpgradeStore,
} from "./records";
import type { UpdateRunsApi } from "./update-runs";

export interface UpgradeDeps {
    readonly settings: {
        readonly fleet: FleetRef;
        readonly subscriptionId: string;
        readonly upgradeEvents?: UpgradeEventsSetting;
        readonly decisionBudgetMs?: number;
    };
    readonly runs: UpdateRunsApi;
    readonly store: UpgradeStore;
    readonly announcer: Announcer;
    readonly audit?: AuditSink;
    readonly log?: LogFn;
    readonly clock?: () => number;
}

/** Where the AKS release calendar lives: the events carry no support dates. */
export const AKS_CALENDAR_URL = "https://learn.microsoft.com/azure/aks/supported-kubernetes-versions";

interface Outcome3 {
    readonly outcome: Outcome;
    readonly reason: string;
    readonly updateRunId?: string;
    readonly kubernetesVersion?: string;
}

/** Reads every member's version (bounded concurrency); a failed read is transient, a missing cluster unknown. */
async function memberVersions(
    deps: UpgradeDeps,
    cfg: UpgradeEventsSetting,
    signal: AbortSignal,
): Promise<MemberVersion[]> {
    return mapLimit(cfg.members, 8, async (m) => {
        const version = await deps.runs.getClusterVersion(m.clusterId, signal);
        return { name: m.name, ...(version !== undefined ? { version } : {}) };
    });
}

function describeMembers(members: readonly MemberVersion[]): string {
    return membersByMinor(members)
        .map(
            ([minor, names]) =>
                `${names.length} on ${minor === "unknown" ? "an unknown version" : `${minor}.x`} (${names.join(", ")})`,
        )
        .join("; ");
}

/** Sends one announcement per key: claim, send, mark sent; a failed send releases the claim and asks for a retry. */
async function announceOnce(
    deps: UpgradeDeps,
    key: string,
    member: string,
    eventId: string,
    now: number,
    build: () => Promise<Announcement> | Announcement,
    signal: AbortSignal,
): Promise<{ sent: true } | { sent: false; reason: string }> {
    const claim = await claimAnnouncement(deps.store, key, member, eventId, now);
    if (claim.kind === "sent")
        return {
            sent: false,
            reason: `already announced (by event ${claim.record.sentBy ?? claim.record.firstEventId}; reported by ${claim.record.reporters.join(", ")})`,
        };
    if (claim.kind === "busy")
        throw new Transient(`announcement being sent by the delivery of event ${claim.record.claim?.eventId ?? "?"}`);
    try {
        await deps.announcer.announce(await build(), signal);
    } catch (e) {
        await releaseClaim(deps.store, key, claim.token).catch(() => undefined);
        throw new Transient(`sending the announcement failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    await markSent(deps.store, key, eventId, now);
    return { sent: true };
}

/** The start-run step: guards, then PUT (If-None-Match: *) and POST start. */
async function maybeStartRun(
    deps: UpgradeDeps,
    cfg: UpgradeEventsSetting,
    ev: Extract<AksEvent, { kind: "newKubernetesVersionAvailable" }>,
    readMembers: () => Promise<readonly MemberVersion[]>,
    signal: AbortSignal,
): Promise<{ started: boolean; line: string; runId?: string; version?: string }> {
    if (!cfg.startRun) return { started: false, line: "no run started: upgradeEvents.startRun is off" };
    if (cfg.channel === undefined) return { started: false, line: "no run started: no channel configured" };
    const target = channelTarget(cfg.channel, ev.available, cfg.targetKubernetesVersion);
    if (!target.ok) return { started: false, line: `no run started: ${target.reason}` };
    const name = runNameFor(target.version);
    const fleetId = formatFleetId(deps.settings.fleet);
    const runId = `${fleetId}/updateRuns/${name}`;
    const runs = await deps.runs.listUpdateRuns(deps.settings.fleet, signal);
    const verdict = startRunVerdict(target.version, await readMembers(), runs, name);
    if (!verdict.start) return { started: false, line: `no run started: ${verdict.reason}`, version: target.version };
    try {
        return await createAndStart(deps, cfg, name, runId, target.version, signal);
    } catch (e) {
        if (isTransient(e)) throw e;
        // A permanent refusal (a 400 for a version Fleet does not offer, a 403): say so in the message.
        return {
            started: false,
            line: `could not start update run ${name}: ${describeError(e)}`,
            runId,
            version: target.version,
        };
    }
}

async function createAndStart(
    deps: UpgradeDeps,
    cfg: UpgradeEventsSetting,
    name: string,
    runId: string,
    version: string,
    signal: AbortSignal,
): Promise<{ started: boolean; line: string; runId?: string; version?: string }> {
    const target = { version };
    const created = await deps.runs.createUpdateRun(
        runId,
        {
            updateStrategyId: cfg.strategyId,
            kubernetesVersion: target.version,
            nodeImageSelection: cfg.nodeImageSelection,
        },
        signal,
    );
    if (created.kind === "exists") {
        // Another delivery created it a moment ago: start it only if nobody did yet.
        const run = await deps.runs.getUpdateRunSummary(runId, signal);
        if (run === undefined) throw new Transient(`update run ${name} exists but cannot be read yet`);
        if (run.kubernetesVersion !== undefined && run.kubernetesVersion !== target.version)
            return {
                started: false,
                line: `no run started: update run ${name} exists with version ${run.kubernetesVersion}, not ${target.version}`,
                version: target.version,
            };
        if (run.state !== undefined && run.state !== "NotStarted")
            return {
                started: false,
                line: `no run started: update run ${name} is already ${run.state}`,
                runId,
                version: target.version,
            };
    }
    await deps.runs.startUpdateRun(runId, signal);
    return {
        started: true,
        line: `started update run ${name} (strategy ${cfg.strategyId.split("/").at(-1)}, Full upgrade to ${target.version}, node images ${cfg.nodeImageSelection}); its gates go through the approval rules`,
        runId,
        version: target.version,
    };
}

async function onNewVersion(
    deps: UpgradeDeps,
    cfg: UpgradeEventsSetting,
    ev: Extract<AksEvent, { kind: "newKubernetesVersionAvailable" }>,
    member: string,
    now: number,
    signal: AbortSignal,
): Promise<Outcome3> {
    const a = ev.available;
    // Read once, and only when needed: by the run guards, or by the one delivery that sends the message.
    let members: Promise<MemberVersion[]> | undefined;
    const readMembers = () => (members ??= memberVersions(deps, cfg, signal));
    const run = await maybeStartRun(deps, cfg, ev, readMembers, signal);
    const key = announcementKey(
        formatFleetId(deps.settings.fleet),
        `new-version/${[a.latestSupported, a.latestStable, a.lowestMinor, a.latestPreview ?? "-"].join("_")}`,
    );
    const headline = cfg.channel === "Rapid" ? a.latestSupported : a.latestStable;
    const lowestLabel = minorLabel(a.lowestMinor);
    const lowest = parseKubernetesMinor(lowestLabel)!;
    const build = async (): Promise<Announcement> => {
        const all = await readMembers();
        // Each member's minor against the lowest supported one: negative below it, zero on it.
        const vsLowest = (m: MemberVersion): number | undefined => {
            const v = m.version !== undefined ? parseKubernetesVersion(m.version) : undefined;
            return v === undefined ? undefined : v.major - lowest.major || v.minor - lowest.minor;
        };
        const below = all.filter((m) => (vsLowest(m) ?? 0) < 0);
        const onLowest = all.filter((m) => vsLowest(m) === 0);
        return {
            kind: "new-version",
            escalation: below.length > 0,
            key,
            fleetId: formatFleetId(deps.settings.fleet),
            title: `Kubernetes ${headline} is available${cfg.channel !== undefined ? ` (channel ${cfg.channel})` : ""}`,
            lines: [
                `AKS announces: latest stable ${a.latestStable}, latest supported ${a.latestSupported}, lowest supported minor ${lowestLabel} (${a.lowestMinor})${a.latestPreview !== undefined ? `, preview ${a.latestPreview}` : ""}.`,
                `${all.length} member${all.length === 1 ? "" : "s"}: ${describeMembers(all)}.`,
                ...(below.length > 0
                    ? [
                          `Out of support: ${below.map((m) => `${m.name} (${m.version})`).join(", ")} run a minor below ${lowestLabel}.`,
                      ]
                    : []),
                ...(onLowest.length > 0
                    ? [
                          `${onLowest.map((m) => m.name).join(", ")} run the oldest supported minor, the next to lose support; the event gives no date: see ${AKS_CALENDAR_URL}.`,
                      ]
                    : []),
                run.line.charAt(0).toUpperCase() + run.line.slice(1) + ".",
                `Reported by ${member} (event ${ev.eventId}).`,
            ],
        };
    };
    const r = await announceOnce(deps, key, member, ev.eventId, now, build, signal);
    const version = run.version ?? headline;
    const ids = run.runId !== undefined ? { updateRunId: run.runId } : {};
    if (run.started)
        return {
            outcome: "run-started",
            reason: `${run.line}${r.sent ? "; announced" : `; ${r.reason}`}`,
            kubernetesVersion: version,
            ...ids,
        };
    if (r.sent)
        return {
            outcome: "notified",
            reason: `announced ${headline}; ${run.line}`,
            kubernetesVersion: version,
            ...ids,
        };
    return { outcome: "ignored", reason: `${r.reason}; ${run.line}`, kubernetesVersion: version, ...ids };
}

async function onSupport(
    deps: UpgradeDeps,
    cfg: UpgradeEventsSetting,
    ev: Extract<AksEvent, { kind: "clusterSupportEnding" | "clusterSupportEnded" }>,
    member: string,
    now: number,
    signal: AbortSignal,
): Promise<Outcome3> {
    const minor = minorLabel(ev.kubernetesVersion);
    const ended = ev.kind === "clusterSupportEnded";
    const key = announcementKey(formatFleetId(deps.settings.fleet), `support-${ended ? "ended" : "ending"}/${minor}`);
    const r = await announceOnce(
        deps,
        key,
        member,
        ev.eventId,
        now,
        async () => {
            const members = await memberVersions(deps, cfg, signal);
            const onMinor = members.filter((m) => m.version !== undefined && minorLabel(m.version) === minor);
            return {
                kind: ended ? "support-ended" : "support-ending",
                escalation: true,
                key,
                fleetId: formatFleetId(deps.settings.fleet),
                title: ended
                    ? `AKS support for Kubernetes ${minor} has ended`
                    : `AKS support for Kubernetes ${minor} is ending soon`,
                lines: [
                    `${member} runs ${ev.kubernetesVersion} (${ended ? "ClusterSupportEnded" : "ClusterSupportEnding"}). The event gives no date: see the AKS release calendar, ${AKS_CALENDAR_URL}.`,
                    `Members on ${minor}: ${onMinor.length > 0 ? onMinor.map((m) => `${m.name} (${m.version})`).join(", ") : "none besides the reporter, as far as the clusters tell"}.`,
                    ended
                        ? "Out-of-support clusters get no fixes; upgrade them now."
                        : "Plan an upgrade before support ends.",
                ],
            };
        },
        signal,
    );
    if (r.sent)
        return {
            outcome: "notified",
            reason: `escalated: support for ${minor} ${ended ? "ended" : "ending"}`,
            kubernetesVersion: ev.kubernetesVersion,
        };
    return { outcome: "ignored", reason: r.reason, kubernetesVersion: ev.kubernetesVersion };
}

async function onNodePool(
    deps: UpgradeDeps,
    ev: Extract<AksEvent, { kind: "nodePoolRollingStarted" | "nodePoolRollingSucceeded" | "nodePoolRollingFailed" }>,
    member: string,
    now: number,
    signal: AbortSignal,
): Promise<Outcome3> {
    const state: PoolState =
        ev.kind === "nodePoolRollingFailed"
            ? "failed"
            : ev.kind === "nodePoolRollingSucceeded"
              ? "succeeded"
              : "rolling";
    const rec = await recordPoolState(
        deps.store,
        ev.cluster.id,
        member,
        ev.nodePoolName,
        state,
        ev.eventTime,
        ev.eventId,
    );
    const what = `node pool ${ev.nodePoolName} of ${member}`;
    if (!rec.changed)
        return {
            outcome: "ignored",
            reason: `${what}: a later or the same event is recorded already (pool ${rec.current})`,
        };
    if (state !== "failed")
        return {
            outcome: "ignored",
            reason: `${what}: rolling ${state === "rolling" ? "started" : "succeeded"} (recorded${state === "succeeded" ? "; gates no longer held for it" : ""})`,
        };
    const key = announcementKey(
        formatFleetId(deps.settings.fleet),
        `node-pool-failed/${ev.cluster.id.toLowerCase()}/${ev.nodePoolName}/${ev.eventTime}`,
    );
    const r = await announceOnce(
        deps,
        key,
        member,
        ev.eventId,
        now,
        () => ({
            kind: "node-pool-failed",
            escalation: false,
            key,
            fleetId: formatFleetId(deps.settings.fleet),
            title: `Node pool ${ev.nodePoolName} of ${member} failed to roll`,
            lines: [
                `NodePoolRollingFailed at ${ev.eventTime} (event ${ev.eventId}).`,
                `Gates whose scope includes ${member} are held by clusterHealth until NodePoolRollingSucceeded for ${ev.nodePoolName}.`,
            ],
        }),
        signal,
    );
    return {
        outcome: r.sent ? "notified" : "ignored",
        reason: `${what} failed to roll: recorded, gates with ${member} in scope are held${r.sent ? "" : `; ${r.reason}`}`,
    };
}

/** Decides one parsed AKS upgrade event. Never throws. */
export async function decideUpgradeEvent(parsed: AksEventParse, deps: UpgradeDeps): Promise<Decision> {
    const now = (deps.clock ?? Date.now)();
    const started = performance.now();
    const finish = (d: Omit<Decision, "trigger" | "checks" | "attempt" | "latencyMs" | "at">): Decision => {
        const decision: Decision = {
            ...d,
            trigger: "event",
            checks: [],
            attempt: 1,
            latencyMs: Math.round(performance.now() - started),
            at: new Date(now).toISOString(),
        };
        try {
            deps.audit?.(auditRecord(decision));
        } catch (e) {
            deps.log?.("warn", "audit sink failed", { error: describeError(e) });
        }
        return decision;
    };
    if (!parsed.ok)
        return finish({
            outcome: parsed.disposition === "ignored" ? "ignored" : "rejected",
            reason: parsed.reason,
            ...(parsed.eventId !== undefined ? { eventId: parsed.eventId } : {}),
        });
    const ev = parsed.event;
    const base = { eventId: ev.eventId, eventType: ev.eventType };
    const cfg = deps.settings.upgradeEvents;
    if (cfg === undefined)
        return finish({
            ...base,
            outcome: "ignored",
            reason: "AKS upgrade events are not configured for this handler (UPGRADE_EVENTS)",
        });
    if (!eq(ev.cluster.subscriptionId, deps.settings.subscriptionId))
        return finish({
            ...base,
            outcome: "ignored",
            reason: `cluster ${ev.cluster.id} is in subscription ${ev.cluster.subscriptionId}, not this handler's (${deps.settings.subscriptionId})`,
        });
    const member = cfg.members.find((m) => eq(m.clusterId, ev.cluster.id));
    if (member === undefined)
        return finish({
            ...base,
            outcome: "ignored",
            reason: `cluster ${ev.cluster.id} is not a member of this stack`,
        });
    const fields = { ...base, member: member.name };
    const budget = deadline(deps.settings.decisionBudgetMs ?? 20_000);
    try {
        let r: Outcome3;
        switch (ev.kind) {
            case "newKubernetesVersionAvailable":
                r = await onNewVersion(deps, cfg, ev, member.name, now, budget.signal);
                break;
            case "clusterSupportEnding":
            case "clusterSupportEnded":
                r = await onSupport(deps, cfg, ev, member.name, now, budget.signal);
                break;
            default:
                r = await onNodePool(deps, ev, member.name, now, budget.signal);
        }
        return finish({ ...fields, ...r });
    } catch (e) {
        const retry = isTransient(e) || budget.signal.aborted;
        return finish({
            ...fields,
            outcome: retry ? "retry" : "ignored",
            reason: `${retry ? "transient failure" : "failed, not retried"}: ${e instanceof Transient ? e.message : describeError(e)}`,
        });
    } finally {
        budget.dispose();
    }
}
