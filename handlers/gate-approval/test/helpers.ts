/** Shared test wiring: a fleet in the ARM emulator and engine dependencies pointing at it. */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import * as path from "node:path";
import { ArmEmulator, type ArmEmulatorOptions, type MemberState } from "../../../local/emulators/arm";
import { HubEmulator } from "../../../local/emulators/hub/hub-emulator";
import { loopbackCertificate } from "../../../local/emulators/tls";
import { gateEventFor, type GateEventSpec, type JsonObject } from "../../../core/event-filter";
import type { ApprovalRule } from "../../../core/rules";
import { ArmClient } from "../src/arm-client";
import type { AuditRecord } from "../src/audit";
import { createMetricsReader } from "../src/checks/metric";
import { hubKubeConfig, KubeHubClient } from "../src/hub/client";
import type { EngineDeps } from "../src/engine";
import type { Notification, Notifier } from "../src/notifier";
import { createTransport, type PipelineTuning } from "../src/pipeline";
import {
    MemoryStateStore,
    claimNotification,
    mutate,
    newRecord,
    releaseNotification,
    type StateStore,
} from "../src/state";
import { expect } from "vitest";

export const FIXTURES = path.resolve(__dirname, "../../../../shared/fixtures/events");

export const SUB = "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e";
export const RG = "rg-fleet-dev";
export const FLEET = "flt-dev";
export const FLEET_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/${FLEET}`;
export const OTHER_FLEET_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/flt-other`;
export const FLEET_REF = { subscriptionId: SUB, resourceGroup: RG, fleetName: FLEET } as const;

/** A lower-case GUID numbered `n`. */
export function guid(n: number): string {
    return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

export function gateIdOf(name: string, fleetId = FLEET_ID): string {
    return `${fleetId}/gates/${name}`;
}

export function clusterId(name: string, rg = "rg-clusters"): string {
    return `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.ContainerService/managedClusters/${name}`;
}

/** A credential that counts token acquisitions; tokens live an hour. */
export function countingCredential(): TokenCredential & { calls: number } {
    const c = {
        calls: 0,
        async getToken(): Promise<AccessToken> {
            c.calls++;
            return { token: `token-${c.calls}`, expiresOnTimestamp: Date.now() + 3_600_000 };
        },
    };
    return c;
}

/** Fast pipeline settings for tests (short per-try timeout and back-off). */
export const FAST: PipelineTuning = { perTryTimeoutMs: 1500, maxRetries: 3, retryDelayMs: 20, maxRetryDelayMs: 100 };

export const ALWAYS_OPEN = {
    type: "window" as const,
    days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as (
        "Mon" | "Tue" | "Wed" | "Thu" | "Fri" | "Sat" | "Sun"
    )[],
    hours: "00:00-24:00",
    timeZone: "UTC",
};

export const RULES: ApprovalRule[] = [
    { name: "before-stage", match: { displayName: "before-stage", timing: "Before" }, checks: [ALWAYS_OPEN] },
    { name: "blue-healthy", match: { group: "blue", timing: "After" }, checks: [{ type: "clusterHealth" }] },
    {
        name: "closed-window",
        match: { displayName: "weekend only" },
        checks: [{ type: "window", days: ["Sat"], hours: "00:00-01:00", timeZone: "UTC" }],
    },
];

export interface World {
    readonly emu: ArmEmulator;
    readonly credential: TokenCredential & { calls: number };
    readonly arm: ArmClient;
    readonly state: MemoryStateStore;
    readonly notifications: Notification[];
    readonly audits: AuditRecord[];
    readonly deps: EngineDeps;
    /** Virtual clock (epoch ms); starts at real now. */
    clock: { now: number };
    /** Adds a Pending approval gate to the emulator; returns its id. */
    gate(spec: {
        n: number;
        displayName?: string;
        run?: string;
        stage?: string;
        group?: string;
        timing?: "Before" | "After";
    }): string;
    /** The Created event of a gate added with `gate`. */
    event(
        spec: {
            n: number;
            displayName?: string;
            run?: string;
            stage?: string;
            group?: string;
            timing?: "Before" | "After";
        },
        extra?: Partial<GateEventSpec>,
    ): JsonObject;
    stop(): Promise<void>;
}

export interface WorldOptions {
    readonly emulator?: ArmEmulatorOptions;
    readonly rules?: ApprovalRule[];
    readonly tuning?: PipelineTuning;
    readonly escalateAfterMinutes?: number;
    readonly notifier?: Notifier;
    readonly decisionBudgetMs?: number;
    readonly members?: MemberState[];
    readonly metrics?: boolean;
}

/**
 * Starts the emulator (TLS, so the SDK's own bearer-token policy runs unmodified) with fleet
 * flt-dev, update run run-1 (stage dev: groups blue [aks-blue-1, aks-blue-2], green [aks-green-1]).
 */
export async function startWorld(options: WorldOptions = {}): Promise<World> {
    const emu = await ArmEmulator.start({ tls: true, ...options.emulator });
    emu.addFleet(FLEET_ID);
    const members: MemberState[] = options.members ?? [
        { name: "aks-blue-1", clusterResourceId: clusterId("aks-blue-1"), group: "blue", updateState: "Completed" },
        { name: "aks-blue-2", clusterResourceId: clusterId("aks-blue-2"), group: "blue", updateState: "Completed" },
        { name: "aks-green-1", clusterResourceId: clusterId("aks-green-1"), group: "green", updateState: "NotStarted" },
    ];
    for (const m of members) emu.addMember(FLEET_ID, m);
    const groups = [...new Set(members.map((m) => m.group))].map((g) => ({
        name: g,
        members: members.filter((m) => m.group === g).map((m) => m.name),
    }));
    emu.putUpdateRun({ fleetId: FLEET_ID, name: "run-1", stages: [{ name: "dev", groups }] });
    const credential = countingCredential();
    const tuning: PipelineTuning = { ...FAST, ...options.tuning, ...(emu.ca !== undefined ? { tlsCa: emu.ca } : {}) };
    const arm = new ArmClient({ ...tuning, credential, baseUrl: emu.url, pollDelayMs: 10, maxPollDelayMs: 50 });
    const state = new MemoryStateStore();
    const notifications: Notification[] = [];
    const audits: AuditRecord[] = [];
    const clock = { now: Date.now() };
    const notifier: Notifier = options.notifier ?? {
        async notify(n) {
            notifications.push(n);
        },
    };
    const deps: EngineDeps = {
        settings: {
            fleet: FLEET_REF,
            subscriptionId: SUB,
            rules: options.rules ?? RULES,
            escalateAfterMinutes: options.escalateAfterMinutes ?? 60,
            decisionBudgetMs: options.decisionBudgetMs ?? 8000,
        },
        arm,
        services: {
            http: createTransport(tuning),
            ...(options.metrics === false
                ? {}
                : { metrics: createMetricsReader({ ...tuning, endpoint: emu.url, credential }) }),
        },
        state,
        notifier,
        audit: (r) => audits.push(r),
        clock: () => clock.now,
    };
    const coords = (s: {
        n: number;
        displayName?: string;
        run?: string;
        stage?: string;
        group?: string;
        timing?: "Before" | "After";
    }) => ({
        name: guid(s.n),
        run: s.run ?? "run-1",
        stage: s.stage ?? "dev",
        group: s.group,
        timing: s.timing ?? "Before",
        displayName: s.displayName ?? "before-stage",
    });
    return {
        emu,
        credential,
        arm,
        state,
        notifications,
        audits,
        deps,
        clock,
        gate(s) {
            const c = coords(s);
            const g = emu.addGate({
                fleetId: FLEET_ID,
                name: c.name,
                displayName: c.displayName,
                gateType: "Approval",
                state: "Pending",
                target: {
                    id: `${FLEET_ID}/updateRuns/${c.run}`,
                    updateRunProperties: {
                        name: c.run,
                        stage: c.stage,
                        ...(c.group !== undefined ? { group: c.group } : {}),
                        timing: c.timing,
                    },
                },
            });
            return g.id;
        },
        event(s, extra = {}) {
            const c = coords(s);
            return gateEventFor({
                fleetId: FLEET_ID,
                gateName: c.name,
                updateRunName: c.run,
                stage: c.stage,
                ...(c.group !== undefined ? { group: c.group } : {}),
                timing: c.timing,
                displayName: c.displayName,
                time: new Date(clock.now).toISOString(),
                ...extra,
            });
        },
        stop: () => emu.stop(),
    };
}

/** Requests the emulator logged for gate routes (GET/LIST/PATCH of gates). */
export function gateRequests(emu: ArmEmulator): number {
    return emu.requests.filter((r) => r.route === "gates.get" || r.route === "gates.patch" || r.route === "gates.list")
        .length;
}

/**
 * The state store contract, exercised on one gate: create-only and ETag-conditional writes, exactly
 * one winner among concurrent claimers, release and re-claim, and no lost update among concurrent
 * read-modify-writes.
 */
export async function exerciseStore(store: StateStore, GATE = gateIdOf(guid(1))): Promise<void> {
    expect(await store.read(GATE)).toBeUndefined();
    const rec = newRecord(GATE, 1000);
    const e1 = await store.write(GATE, rec, undefined);
    expect(e1).toBeDefined();
    expect(await store.write(GATE, rec, undefined)).toBeUndefined(); // create-only conflicts
    const got = await store.read(GATE);
    expect(got?.value).toEqual(rec);
    const e2 = await store.write(GATE, { ...rec, attempts: 1 }, got!.etag);
    expect(e2).toBeDefined();
    expect(await store.write(GATE, { ...rec, attempts: 2 }, got!.etag)).toBeUndefined(); // stale etag
    // Claims: exactly one of many concurrent claimers wins.
    const wins = await Promise.all(Array.from({ length: 8 }, () => claimNotification(store, GATE, "manual", 2000)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect((await store.read(GATE))?.value.notified).toEqual(["manual"]);
    await releaseNotification(store, GATE, "manual", 3000);
    expect(await claimNotification(store, GATE, "manual", 4000)).toBe(true);
    // Concurrent read-modify-write loses no increments.
    await Promise.all(
        Array.from({ length: 5 }, () => mutate(store, GATE, (cur) => ({ ...cur!, attempts: cur!.attempts + 1 }))),
    );
    expect((await store.read(GATE))?.value.attempts).toBe(6);
}

/**
 * A started loopback hub emulator over TLS that accepts `token`, and the handler's hub client for it
 * (a kubeconfig with the emulator's certificate as `caData`, base64 PEM as HUB_CA_DATA carries it).
 */
export async function startHub(token: string): Promise<{ hub: HubEmulator; client: KubeHubClient; caData: string }> {
    const cert = await loopbackCertificate();
    const hub = new HubEmulator({ token, tls: cert, bookmarkMs: 100 });
    const url = await hub.start();
    const caData = Buffer.from(cert.cert).toString("base64");
    return { hub, client: new KubeHubClient(hubKubeConfig(url, caData, token)), caData };
}
