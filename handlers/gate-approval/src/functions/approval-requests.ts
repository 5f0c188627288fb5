/**
 * Timer trigger of the hub approval loop: every `HUB_SCHEDULE` (the program sets every 30 s) it runs
 * one tick of the reconcile loop over the fleet hub's approval requests (`hub/reconcile.ts`): resume the
 * watch from the last resourceVersion (kept per instance; a new instance lists first), decide what
 * changed with the same rules and checks as Fleet gates, one audit line per decision. Registered only
 * when `HUB_SERVER` is set. The hub token (AKS Entra ID server application) is fetched per tick from
 * the handler's identity; the credential caches it until shortly before it expires.
 */
import type { TokenCredential } from "@azure/core-auth";
import { ManagedIdentityCredential } from "@azure/identity";
import { app, InvocationContext, Timer } from "@azure/functions";
import { AKS_TOKEN_SCOPE } from "../../../../core/hub-access";
import { hubKubeConfig, KubeHubClient, type HubApi } from "../hub/client";
import type { HubDecision } from "../hub/decide";
import { HubReconciler, type TickResult } from "../hub/reconcile";
import { readHubSettings, type HubSettings } from "../hub/settings";
import { Runtime, getRuntime } from "../runtime";

export const HUB_SWEEP_FUNCTION = "approval-requests";
export const HUB_SCHEDULE_SETTING = "HUB_SCHEDULE";

export interface HubSweepWiring {
    readonly runtime: () => Runtime;
    readonly hub: () => HubSettings | undefined;
    /** The hub client for a token (tests: the emulator's). */
    readonly client?: (settings: HubSettings, token: string) => HubApi;
    readonly credential?: TokenCredential;
}

/** One reconciler per instance, so the watch resumes where the last tick stopped. */
export function createHubSweepHandler(wiring: HubSweepWiring) {
    let reconciler: HubReconciler | undefined;
    let token: { value: string; client: HubApi } | undefined;
    return async (_timer: Timer, context: InvocationContext): Promise<TickResult | undefined> => {
        const hub = wiring.hub();
        if (!hub) return undefined;
        const rt = wiring.runtime();
        const credential =
            wiring.credential ??
            new ManagedIdentityCredential(rt.settings.clientId !== undefined ? { clientId: rt.settings.clientId } : {});
        const t = await credential.getToken(AKS_TOKEN_SCOPE);
        if (!t) throw new Error("no token for the AKS server application");
        if (token?.value !== t.token) {
            const make =
                wiring.client ??
                ((s: HubSettings, tok: string) => new KubeHubClient(hubKubeConfig(s.server, s.caData, tok)));
            token = { value: t.token, client: make(hub, t.token) };
        }
        // The reconciler keeps its cursor; the client behind it follows token renewals.
        const hubApi: HubApi = {
            listApprovalRequests: (ns) => token!.client.listApprovalRequests(ns),
            watchApprovalRequests: (rv, s, on, ns) => token!.client.watchApprovalRequests(rv, s, on, ns),
            getApprovalRequest: (n, ns) => token!.client.getApprovalRequest(n, ns),
            getUpdateRun: (n, ns) => token!.client.getUpdateRun(n, ns),
            getPlacement: (n, ns) => token!.client.getPlacement(n, ns),
            patchApprovalConditions: (n, rv, c, ns) => token!.client.patchApprovalConditions(n, rv, c, ns),
        };
        reconciler ??= new HubReconciler(
            {
                hub: hubApi,
                placements: hub.placements,
                rules: rt.settings.rules,
                memberClusterIds: hub.memberClusterIds,
                services: { arm: rt.deps.arm, ...rt.deps.services },
                ...(rt.deps.clock ? { clock: rt.deps.clock } : {}),
            },
            {
                escalateAfterMinutes: rt.settings.escalateAfterMinutes,
                notifier: rt.deps.notifier,
                audit: (d: HubDecision) => context.log(JSON.stringify(d)),
            },
        );
        const result = await reconciler.tick();
        context.log(
            JSON.stringify({
                msg: "approval requests tick",
                function: HUB_SWEEP_FUNCTION,
                source: result.source,
                resourceVersion: result.resourceVersion ?? null,
                // Each listed and watched scope: the cluster scope and each namespace of a namespaced placement.
                scopes: result.scopes.map((x) => ({ namespace: x.namespace ?? null, source: x.source })),
                decisions: result.decisions.length,
            }),
        );
        return result;
    };
}

// Registered when the stack has a hub; a bad hub setting then fails each tick (visible in monitoring)
// instead of the whole app's start, so the gate triggers keep working.
if ((process.env.HUB_SERVER ?? "").trim() !== "") {
    const handler = createHubSweepHandler({ runtime: getRuntime, hub: () => readHubSettings() });
    app.timer(HUB_SWEEP_FUNCTION, {
        schedule: `%${HUB_SCHEDULE_SETTING}%`,
        runOnStartup: false,
        handler: async (timer, context) => {
            await handler(timer, context);
        },
    });
}
