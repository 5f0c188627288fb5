/**
 * The world a rehearsal runs in: the plan's event subscriptions as deployed, Fleet's concurrency
 * and the sweep timer's grid, and a healthy environment — the ARM emulator seeded with the fleet,
 * running members with passing metrics and the update run built from the strategy, and an HTTP
 * client that answers every `http` check as it expects (no request leaves the machine).
 */
import { createDefaultHttpClient, createHttpHeaders, type HttpClient } from "@azure/core-rest-pipeline";
import { createHash } from "node:crypto";
import { MANAGED_CLUSTERS_TOPIC_TYPE } from "../../../core/aks-event";
import { formatVersion, parseKubernetesVersion } from "../../../core/kubernetes-version";
import type { ApprovalRule } from "../../../core/rules";
import type { StackConfig } from "../../../config";
import { managedClusterId } from "../../../components/fleet";
import { LIFECYCLE_SUBSCRIPTION_NAME } from "../../../components/gate-events";
import type { ArmEmulator } from "../../emulators/arm";
import type { Plan } from "../../plan/plan";
import { REHEARSAL_RUN_NAME, type PlannedSubscription } from "./types";

const SUBSCRIPTION_TYPE = "azure-native:eventgrid:SystemTopicEventSubscription";

function positiveInt(v: unknown): number | undefined {
    return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

/** Names of the plan's ManagedClusters system topics (AKS upgrade events, one per member cluster). */
function clusterTopicNames(plan: Plan): Set<string> {
    return new Set(
        plan.resources
            .filter(
                (r) =>
                    r.type === "azure-native:eventgrid:SystemTopic" &&
                    r.inputs.topicType === MANAGED_CLUSTERS_TOPIC_TYPE,
            )
            .map((r) => String(r.inputs.systemTopicName ?? r.name).toLowerCase()),
    );
}

/**
 * The event subscriptions of a plan on the AKSResources topic (gate events), as deployed (filter,
 * delivery schema, retry policy, batching, dead-letter); `clusters: true` gives those on the members'
 * ManagedClusters topics instead.
 */
export function planSubscriptions(plan: Plan, opts: { clusters?: boolean } = {}): PlannedSubscription[] {
    const clusterTopics = clusterTopicNames(plan);
    return plan.resources
        .filter(
            (r) =>
                r.type === SUBSCRIPTION_TYPE &&
                clusterTopics.has(String(r.inputs.systemTopicName ?? "").toLowerCase()) === (opts.clusters === true),
        )
        .map((r) => {
            const i = r.inputs;
            const name = typeof i.eventSubscriptionName === "string" ? i.eventSubscriptionName : r.name;
            const retry = (i.retryPolicy ?? {}) as Record<string, unknown>;
            const destination = (i.destination ?? {}) as Record<string, unknown>;
            const dl = ((i.deadLetterWithResourceIdentity as Record<string, unknown> | undefined)
                ?.deadLetterDestination ?? i.deadLetterDestination) as Record<string, unknown> | undefined;
            const maxDeliveryAttempts = positiveInt(retry.maxDeliveryAttempts);
            const eventTimeToLiveInMinutes = positiveInt(retry.eventTimeToLiveInMinutes);
            const maxEventsPerBatch = positiveInt(destination.maxEventsPerBatch);
            const preferredBatchSizeInKilobytes = positiveInt(destination.preferredBatchSizeInKilobytes);
            return {
                name,
                filter: (i.filter ?? {}) as PlannedSubscription["filter"],
                schema: i.eventDeliverySchema === "CloudEventSchemaV1_0" ? "CloudEventSchemaV1_0" : "EventGridSchema",
                lifecycle: name.toLowerCase() === LIFECYCLE_SUBSCRIPTION_NAME.toLowerCase(),
                endpointType: destination.endpointType === "WebHook" ? "WebHook" : "AzureFunction",
                ...(maxDeliveryAttempts !== undefined ? { maxDeliveryAttempts } : {}),
                ...(eventTimeToLiveInMinutes !== undefined ? { eventTimeToLiveInMinutes } : {}),
                ...(maxEventsPerBatch !== undefined ? { maxEventsPerBatch } : {}),
                ...(preferredBatchSizeInKilobytes !== undefined ? { preferredBatchSizeInKilobytes } : {}),
                // A configured destination whose container is unknown at plan time still dead-letters.
                ...(dl !== undefined
                    ? {
                          deadLetterContainer:
                              typeof dl.blobContainerName === "string" ? dl.blobContainerName : "deadletter",
                      }
                    : {}),
            };
        });
}

/**
 * How many members upgrade at once (2026-06-01 `maxConcurrency`): a count, or a percentage of
 * `members` rounded down; at least 1, at most `members`; absent = 1 (the group default).
 */
export function resolveConcurrency(spec: string | undefined, members: number): number {
    if (!(Number.isInteger(members) && members >= 1)) throw new RangeError(`member count ${members} must be >= 1`);
    if (spec === undefined) return 1;
    const m = /^(?:([1-9]\d*)|([1-9]\d?|100)%)$/.exec(spec);
    if (!m) throw new RangeError(`maxConcurrency "${spec}" is not a count >= 1 or a percentage 1%-100%`);
    const n = m[1] !== undefined ? Number(m[1]) : Math.floor((members * Number(m[2])) / 100);
    return Math.min(members, Math.max(1, n));
}

/**
 * When the sweep's timer (NCRONTAB `0 *\/m * * * *`, UTC) next fires strictly after `t`: second 0 of
 * every minute whose minute-of-hour is a multiple of `sweepMinutes`.
 */
export function nextSweepAt(t: number, sweepMinutes: number): number {
    if (!(Number.isInteger(sweepMinutes) && sweepMinutes >= 1 && sweepMinutes <= 60))
        throw new RangeError(`sweepMinutes ${sweepMinutes} must be a whole number from 1 to 60`);
    let minute = Math.floor(t / 60_000) + 1;
    while ((((minute % 60) + 60) % 60) % sweepMinutes !== 0) minute++;
    return minute * 60_000;
}

/** A lower-case GUID derived from the parts (stable across rehearsals of the same stack and start). */
export function guidOf(...parts: string[]): string {
    const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A metric value that satisfies `operator threshold`. */
function passingValue(operator: "lt" | "le" | "gt" | "ge", threshold: number): number {
    const margin = Math.max(1, Math.abs(threshold) * 0.1);
    switch (operator) {
        case "lt":
            return threshold - margin;
        case "le":
            return threshold;
        case "gt":
            return threshold + margin;
        case "ge":
            return threshold;
    }
}

/** The body an `http` check expects: `equals` (or `true`) at `jsonPath`. */
function expectedBody(jsonPath: string | undefined, equals: unknown): string {
    if (jsonPath === undefined) return "{}";
    const segs = jsonPath.split(".");
    let value: unknown = equals ?? true;
    for (let i = segs.length - 1; i >= 0; i--) {
        const seg = segs[i]!;
        if (/^\d+$/.test(seg)) {
            const arr: unknown[] = [];
            arr[Number(seg)] = value;
            value = arr;
        } else value = { [seg]: value };
    }
    return JSON.stringify(value);
}

/**
 * The handler's HTTP client: requests to the emulator go over real HTTP; an `http` check's URL is
 * answered locally with what the check expects (a healthy world); anything else is a 404.
 */
export function rehearsalHttpClient(emulatorUrl: string, rules: readonly ApprovalRule[]): HttpClient {
    const inner = createDefaultHttpClient();
    const origin = new URL(emulatorUrl).origin;
    const httpChecks = rules.flatMap((r) => r.checks.flatMap((c) => (c.type === "http" ? [c] : [])));
    return {
        async sendRequest(request) {
            if (new URL(request.url).origin === origin) return inner.sendRequest(request);
            const check = httpChecks.find((c) => c.url === request.url);
            const headers = createHttpHeaders({ "content-type": "application/json" });
            if (!check) return { request, status: 404, headers, bodyAsText: "{}" };
            return {
                request,
                status: check.expectStatus ?? 200,
                headers,
                bodyAsText: expectedBody(check.jsonPath, check.equals),
            };
        },
    };
}

/** Seeds the emulator: the fleet, its members (healthy, NotStarted, passing metrics), the update run. */
export function seedEmulator(
    emu: ArmEmulator,
    cfg: Pick<StackConfig, "approvals" | "members" | "resourceGroupName" | "updateStrategy">,
    fleetId: string,
    subscriptionId: string,
    newVersion?: string,
): void {
    emu.addFleet(fleetId);
    const metricChecks = cfg.approvals.flatMap((r) => r.checks.flatMap((c) => (c.type === "metric" ? [c] : [])));
    for (const m of cfg.members) {
        const clusterResourceId = managedClusterId(subscriptionId, cfg.resourceGroupName, m.name);
        emu.addMember(fleetId, {
            name: m.name,
            clusterResourceId,
            group: m.group,
            updateState: "NotStarted",
            provisioningState: "Succeeded",
            powerState: "Running",
            ...(newVersion !== undefined ? { kubernetesVersion: versionBefore(m.kubernetesVersion, newVersion) } : {}),
        });
        for (const c of metricChecks) emu.setMetric(clusterResourceId, c.metric, passingValue(c.operator, c.threshold));
    }
    const gateConfigs = (gs: readonly { displayName: string }[] | undefined) =>
        (gs ?? []).map((g) => ({ displayName: g.displayName, type: "Approval" as const }));
    const stages = cfg.updateStrategy.stages.map((s) => ({
        name: s.name,
        groups: s.groups.map((g) => ({
            name: g.name,
            members: cfg.members.filter((m) => m.group === g.name).map((m) => m.name),
            beforeGates: gateConfigs(g.beforeGates),
            afterGates: gateConfigs(g.afterGates),
        })),
        beforeGates: gateConfigs(s.beforeGates),
        afterGates: gateConfigs(s.afterGates),
        ...(s.afterStageWaitInSeconds !== undefined ? { afterStageWaitInSeconds: s.afterStageWaitInSeconds } : {}),
    }));
    // From a new version, the handler creates the run from the strategy; otherwise the run is seeded.
    if (newVersion !== undefined) emu.putUpdateStrategy(fleetId, cfg.updateStrategy.name, stages);
    else emu.putUpdateRun({ fleetId, name: REHEARSAL_RUN_NAME, stages });
}

/**
 * The version a member runs when AKS announces `next`: its configured one (a minor `1.32` as
 * `1.32.0`; newer than `next` too, so the handler's downgrade guard can be rehearsed), else the
 * first patch of the minor before `next`.
 */
export function versionBefore(configured: string | undefined, next: string): string {
    const n = parseKubernetesVersion(next);
    if (n === undefined) throw new RangeError(`--new-version ${next}: not a version like 1.33.2`);
    const c =
        configured === undefined
            ? undefined
            : parseKubernetesVersion(/^\d+\.\d+$/.test(configured) ? `${configured}.0` : configured);
    if (c !== undefined) return formatVersion(c);
    return formatVersion({ major: n.major, minor: Math.max(0, n.minor - 1), patch: 0 });
}
