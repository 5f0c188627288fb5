/**
 * Process-wide wiring: one credential, one pipeline per endpoint, one state store and notifier,
 * built once from the app settings and reused by every invocation (module scope), or built from
 * injected parts by tests and the offline engine.
 */
import type { TokenCredential } from "@azure/core-auth";
import { ManagedIdentityCredential } from "@azure/identity";
import { ArmClient } from "./arm-client";
import { createHandlerHttpClient } from "./http-client";
import { createMetricsReader } from "./checks/metric";
import type { MetricsReader } from "./checks/types";
import type { EngineDeps } from "./engine";
import { LogFn, Notifier, logNotifier, webhookNotifier } from "./notifier";
import { PipelineTuning, cachingCredential, createTransport } from "./pipeline";
import { HandlerSettings, readSettings } from "./settings";
import { BlobStateStore, MemoryStateStore, StateStore } from "./state";
import { Announcer, logAnnouncer, webhookAnnouncer } from "./upgrade/announcer";
import type { UpgradeDeps } from "./upgrade/decide";
import { UpgradeStore, nodePoolReader, upgradeBlobName } from "./upgrade/records";
import { UpdateRunsApi, UpdateRunsClient } from "./upgrade/update-runs";

export interface Runtime {
    readonly settings: HandlerSettings;
    /** Engine dependencies without the per-invocation audit sink and logger. */
    readonly deps: Omit<EngineDeps, "audit" | "log">;
    /** AKS upgrade event dependencies, without the per-invocation audit sink and logger. */
    readonly upgrade?: Omit<UpgradeDeps, "audit" | "log">;
    /** Warnings about the wiring (e.g. no durable state store), logged by the triggers. */
    readonly warnings: readonly string[];
}

export interface RuntimeOverrides {
    readonly credential?: TokenCredential;
    readonly tuning?: PipelineTuning;
    readonly state?: StateStore;
    readonly notifier?: Notifier;
    readonly metrics?: MetricsReader;
    readonly clock?: () => number;
    /** Logger for the log-only notifier. */
    readonly log?: LogFn;
    /** AKS upgrade events: records, announcements, update-run calls. */
    readonly upgradeStore?: UpgradeStore;
    readonly announcer?: Announcer;
    readonly runs?: UpdateRunsApi;
}

/** Container of the AKS upgrade event records in the handler's storage account. */
export const UPGRADE_STATE_CONTAINER = "upgrade-state";

export function createRuntime(settings: HandlerSettings, overrides: RuntimeOverrides = {}): Runtime {
    const warnings: string[] = [];
    const credential = cachingCredential(
        overrides.credential ??
            new ManagedIdentityCredential(settings.clientId !== undefined ? { clientId: settings.clientId } : {}),
    );
    // One HTTP client (undici's keep-alive agents) for every endpoint of the process, unless injected.
    const tuning: PipelineTuning = {
        ...overrides.tuning,
        httpClient: overrides.tuning?.httpClient ?? createHandlerHttpClient(),
    };
    const arm = new ArmClient({ ...tuning, credential, baseUrl: settings.armEndpoint });
    const http = createTransport({ ...tuning, followRedirects: true });
    const metrics =
        overrides.metrics ??
        (settings.metricsEndpoint !== undefined
            ? createMetricsReader({ ...tuning, endpoint: settings.metricsEndpoint, credential })
            : undefined);
    let state = overrides.state;
    if (!state) {
        if (settings.stateBlobEndpoint !== undefined)
            state = new BlobStateStore({
                ...tuning,
                endpoint: settings.stateBlobEndpoint,
                container: settings.stateContainer,
                credential,
            });
        else {
            warnings.push(
                "no state storage configured (AzureWebJobsStorage__accountName): notify-once and escalation state is per instance",
            );
            state = new MemoryStateStore();
        }
    }
    const log: LogFn =
        overrides.log ?? ((level, message, data) => console[level === "info" ? "log" : level](message, data ?? ""));
    const notifier =
        overrides.notifier ??
        (settings.notifyWebhookUrl !== undefined ? webhookNotifier(settings.notifyWebhookUrl, http) : logNotifier(log));
    const upgradeStore: UpgradeStore =
        overrides.upgradeStore ??
        (settings.stateBlobEndpoint !== undefined
            ? new BlobStateStore({
                  ...tuning,
                  endpoint: settings.stateBlobEndpoint,
                  container: UPGRADE_STATE_CONTAINER,
                  credential,
                  blobName: upgradeBlobName,
              })
            : new MemoryStateStore());
    const announcer =
        overrides.announcer ??
        (settings.notifyWebhookUrl !== undefined
            ? webhookAnnouncer(settings.notifyWebhookUrl, http)
            : logAnnouncer(log));
    const runs = overrides.runs ?? new UpdateRunsClient({ ...tuning, credential, baseUrl: settings.armEndpoint });
    // Node pools are part of clusterHealth only where the upgrade events reach the handler.
    const nodePools = settings.upgradeEvents !== undefined ? nodePoolReader(upgradeStore) : undefined;
    return {
        settings,
        warnings,
        upgrade: {
            settings,
            runs,
            store: upgradeStore,
            announcer,
            ...(overrides.clock ? { clock: overrides.clock } : {}),
        },
        deps: {
            settings,
            arm,
            services: { http, ...(metrics ? { metrics } : {}), ...(nodePools ? { nodePools } : {}) },
            state,
            notifier,
            ...(overrides.clock ? { clock: overrides.clock } : {}),
        },
    };
}

let current: Runtime | undefined;

/** The process's runtime, built on first use from `process.env` (throws `SettingsError` on bad settings). */
export function getRuntime(): Runtime {
    current ??= createRuntime(readSettings());
    return current;
}

/** Replaces (or with `undefined`, resets) the process's runtime: tests and the offline engine. */
export function setRuntime(runtime: Runtime | undefined): void {
    current = runtime;
}
