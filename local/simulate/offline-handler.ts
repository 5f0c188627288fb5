/**
 * The real gate handler wired for offline runs (replay, rehearsal): app settings pointing at the
 * loopback ARM emulator, a credential the emulator accepts, in-memory state, notifications
 * captured instead of sent. What runs is the handler's own Event Grid trigger.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { HttpClient } from "@azure/core-rest-pipeline";
import { InvocationContext } from "@azure/functions";
import type { ApprovalRule } from "../../core/rules";
import type { Decision } from "../../handlers/gate-approval/src/audit";
import { sweep } from "../../handlers/gate-approval/src/engine";
import { createGateEventHandler } from "../../handlers/gate-approval/src/event-handler";
import type { Notification } from "../../handlers/gate-approval/src/notifier";
import { createRuntime } from "../../handlers/gate-approval/src/runtime";
import { readSettings } from "../../handlers/gate-approval/src/settings";
import { MemoryStateStore } from "../../handlers/gate-approval/src/state";
import type { Announcement } from "../../handlers/gate-approval/src/upgrade/announcer";

export interface OfflineHandlerOptions {
    readonly fleetId: string;
    readonly subscriptionId: string;
    readonly approvals: readonly ApprovalRule[];
    readonly escalateAfterMinutes: number;
    /** The emulator the handler calls for ARM and metrics, and its CA when it serves TLS. */
    readonly emulator: { readonly url: string; readonly ca?: string };
    readonly httpClient?: HttpClient;
    /** The handler's clock (ms since the epoch); default the real clock. */
    readonly clock?: () => number;
    /** `UPGRADE_EVENTS` (JSON), when the stack routes AKS upgrade events to the handler. */
    readonly upgradeEvents?: string;
}

export interface OfflineHandler {
    /** The handler's Event Grid trigger: throws `RedeliveryRequested` when Event Grid should retry. */
    readonly trigger: ReturnType<typeof createGateEventHandler>;
    /** An invocation context like the Functions host's, logging nowhere. */
    context(invocationId: string): InvocationContext;
    readonly notifications: readonly Notification[];
    /** AKS upgrade event messages the handler sent (captured, not sent). */
    readonly announcements: readonly Announcement[];
    /** The handler's reconcile sweep (the timer trigger's work), with the same runtime. */
    sweep(): Promise<Decision[]>;
    /** Tokens the handler asked for (it should reuse one). */
    tokenAcquisitions(): number;
}

export function offlineHandler(opts: OfflineHandlerOptions): OfflineHandler {
    const settings = readSettings({
        FLEET_ID: opts.fleetId,
        SUBSCRIPTION_ID: opts.subscriptionId,
        APPROVAL_RULES: JSON.stringify(opts.approvals),
        ESCALATE_AFTER_MINUTES: String(opts.escalateAfterMinutes),
        ARM_ENDPOINT: opts.emulator.url,
        METRICS_ENDPOINT: opts.emulator.url,
        ...(opts.upgradeEvents !== undefined ? { UPGRADE_EVENTS: opts.upgradeEvents } : {}),
    });
    let tokens = 0;
    // The emulator accepts any bearer token.
    const credential: TokenCredential = {
        getToken(): Promise<AccessToken> {
            tokens++;
            return Promise.resolve({ token: `offline-${tokens}`, expiresOnTimestamp: Date.now() + 3_600_000 });
        },
    };
    const notifications: Notification[] = [];
    const announcements: Announcement[] = [];
    const runtime = createRuntime(settings, {
        credential,
        tuning: {
            ...(opts.httpClient ? { httpClient: opts.httpClient } : {}),
            ...(opts.emulator.ca !== undefined ? { tlsCa: opts.emulator.ca } : {}),
        },
        state: new MemoryStateStore(),
        notifier: {
            notify: (n) => {
                notifications.push(n);
                return Promise.resolve();
            },
        },
        upgradeStore: new MemoryStateStore(),
        announcer: {
            announce: (a) => {
                announcements.push(a);
                return Promise.resolve();
            },
        },
        ...(opts.clock ? { clock: opts.clock } : {}),
        log: () => undefined,
    });
    return {
        trigger: createGateEventHandler(() => runtime),
        context: (invocationId) =>
            new InvocationContext({ invocationId, functionName: "gate-event", logHandler: () => undefined }),
        notifications,
        announcements,
        sweep: () => sweep({ ...runtime.deps, log: () => undefined }),
        tokenAcquisitions: () => tokens,
    };
}
