/**
 * Process-wide wiring: one credential, one pipeline per endpoint, one state store and notifier,
 * built once from the app settings and reused by every invocation (module scope), or built from
 * injected parts by tests and the offline engine.
 */
import type { TokenCredential } from "@azure/core-auth";
import { ManagedIdentityCredential } from "@azure/identity";
import { ArmClient } from "./arm-client";
import { createMetricsReader } from "./checks/metric";
import type { MetricsReader } from "./checks/types";
import type { EngineDeps } from "./engine";
import { LogFn, Notifier, logNotifier, webhookNotifier } from "./notifier";
import { PipelineTuning, cachingCredential, createTransport } from "./pipeline";
import { HandlerSettings, readSettings } from "./settings";
import { BlobStateStore, MemoryStateStore, StateStore } from "./state";

export interface Runtime {
    readonly settings: HandlerSettings;
    /** Engine dependencies without the per-invocation audit sink and logger. */
    readonly deps: Omit<EngineDeps, "audit" | "log">;
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
}

export function createRuntime(settings: HandlerSettings, overrides: RuntimeOverrides = {}): Runtime {
    const warnings: string[] = [];
    const credential = cachingCredential(
        overrides.credential ??
            new ManagedIdentityCredential(settings.clientId !== undefined ? { clientId: settings.clientId } : {}),
    );
    const tuning = overrides.tuning ?? {};
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
    return {
        settings,
        warnings,
        deps: {
            settings,
            arm,
            services: { http, ...(metrics ? { metrics } : {}) },
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
