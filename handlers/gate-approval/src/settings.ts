/**
 * App settings (environment variables) of the handler, read once and validated with zod. Errors
 * name the setting and say what is wrong with it, e.g.
 * `APPROVAL_RULES: [0].checks[1].hours: expected "HH:MM-HH:MM"`.
 *
 * Set by `components/gate-handler.ts`: AZURE_CLIENT_ID, FLEET_ID, SUBSCRIPTION_ID, APPROVAL_RULES,
 * SWEEP_SCHEDULE, ESCALATE_AFTER_MINUTES, NOTIFY_WEBHOOK_URL (optional),
 * AzureWebJobsStorage__accountName. Optional overrides (defaults fit public Azure):
 * UPGRADE_EVENTS (optional, `core/upgrade-events.ts`), ARM_ENDPOINT, METRICS_ENDPOINT (`https://{region}.metrics.monitor.azure.com`, resolved per member region, needed
 * by `metric` checks), STATE_CONTAINER, STATE_BLOB_ENDPOINT, DECISION_BUDGET_SECONDS.
 */
import { z } from "zod";
import { FleetRef, GUID_PATTERN, fleetId as formatFleetId, parseFleetId } from "../../../core/arm-id";
import { ApprovalRule, ApprovalRulesSchema } from "../../../core/rules";
import {
    UPGRADE_EVENTS_SETTING,
    UpgradeEventsSettingSchema,
    type UpgradeEventsSetting,
} from "../../../core/upgrade-events";

export interface HandlerSettings {
    readonly fleet: FleetRef;
    /** Canonical fleet id. */
    readonly fleetId: string;
    readonly subscriptionId: string;
    readonly rules: readonly ApprovalRule[];
    readonly escalateAfterMinutes: number;
    readonly notifyWebhookUrl?: string;
    /** User-assigned identity client id; absent = system-assigned / developer credential. */
    readonly clientId?: string;
    readonly armEndpoint: string;
    readonly metricsEndpoint?: string;
    /** Blob endpoint of the state account (`https://<account>.blob.core.windows.net`), if any. */
    readonly stateBlobEndpoint?: string;
    readonly stateContainer: string;
    /** Total time one decision may take; well under Event Grid's 30 s response timeout. */
    readonly decisionBudgetMs: number;
    /** AKS upgrade events: members, strategy, channel, startRun; absent when not routed to this handler. */
    readonly upgradeEvents?: UpgradeEventsSetting;
}

/**
 * A JSON app setting validated by `schema`: not JSON, or each schema issue at its path (`where`
 * formats it), becomes an issue of the setting; z.NEVER then.
 */
function jsonSetting<T>(
    raw: string,
    ctx: z.RefinementCtx,
    schema: z.ZodType<T>,
    where: (path: readonly PropertyKey[]) => string,
): T {
    let parsed: unknown;
    try {
        parsed = JSON.parse(raw);
    } catch (e) {
        ctx.addIssue({ code: "custom", message: `not JSON: ${(e as Error).message}` });
        return z.NEVER;
    }
    const r = schema.safeParse(parsed);
    if (!r.success) {
        for (const issue of r.error.issues)
            ctx.addIssue({ code: "custom", message: `${where(issue.path)}: ${issue.message}` });
        return z.NEVER;
    }
    return r.data;
}

function jsonUpgradeEvents(raw: string, ctx: z.RefinementCtx): UpgradeEventsSetting {
    return jsonSetting(raw, ctx, UpgradeEventsSettingSchema, (path) => path.map(String).join(".") || "(root)");
}

/** https only: these endpoints receive a bearer token or a webhook secret (the emulator serves TLS too). */
function secureUrl(what: string) {
    return z
        .string()
        .trim()
        .refine((s) => {
            try {
                return new URL(s).protocol === "https:";
            } catch {
                return false;
            }
        }, `expected an https URL (${what})`)
        .transform((s) => s.replace(/\/+$/, ""));
}

function jsonRules(raw: string, ctx: z.RefinementCtx): ApprovalRule[] {
    const rules = jsonSetting(raw, ctx, ApprovalRulesSchema, (path) =>
        path
            .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
            .join("")
            .replace(/^\./, ""),
    );
    if (rules === z.NEVER) return z.NEVER;
    const names = new Set<string>();
    for (const rule of rules) {
        if (names.has(rule.name)) ctx.addIssue({ code: "custom", message: `rule name "${rule.name}" appears twice` });
        names.add(rule.name);
    }
    return rules;
}

const EnvSchema = z.object({
    FLEET_ID: z
        .string({ error: "is required" })
        .trim()
        .transform((s, ctx) => {
            try {
                return parseFleetId(s);
            } catch (e) {
                ctx.addIssue({ code: "custom", message: (e as Error).message });
                return z.NEVER;
            }
        }),
    SUBSCRIPTION_ID: z.string({ error: "is required" }).trim().regex(GUID_PATTERN, "expected a subscription GUID"),
    APPROVAL_RULES: z.string({ error: "is required (a JSON array of rules)" }).transform(jsonRules),
    ESCALATE_AFTER_MINUTES: z
        .string({ error: "is required" })
        .trim()
        .regex(/^\d{1,6}$/, "expected a whole number of minutes")
        .transform(Number)
        .refine((n) => n >= 1, "must be at least 1"),
    NOTIFY_WEBHOOK_URL: secureUrl("a Teams/Slack incoming webhook").optional(),
    [UPGRADE_EVENTS_SETTING]: z.string().transform(jsonUpgradeEvents).optional(),
    AZURE_CLIENT_ID: z.string().trim().regex(GUID_PATTERN, "expected a client id GUID").optional(),
    ARM_ENDPOINT: secureUrl("Azure Resource Manager").default("https://management.azure.com"),
    // A template with `{region}` (Azure), resolved per member region; or one endpoint (the emulator).
    METRICS_ENDPOINT: z
        .string()
        .trim()
        .refine(
            (s) => secureUrl("").safeParse(s.replace("{region}", "westeurope")).success,
            "expected an https URL, e.g. https://{region}.metrics.monitor.azure.com",
        )
        .transform((s) => s.replace(/\/+$/, ""))
        .optional(),
    AzureWebJobsStorage__accountName: z
        .string()
        .trim()
        .regex(/^[a-z0-9]{3,24}$/, "expected a storage account name")
        .optional(),
    STATE_BLOB_ENDPOINT: secureUrl("blob service endpoint").optional(),
    STATE_CONTAINER: z
        .string()
        .trim()
        .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, "expected a blob container name")
        .default("gate-state"),
    DECISION_BUDGET_SECONDS: z
        .string()
        .trim()
        .regex(/^\d{1,2}$/, "expected whole seconds")
        .transform(Number)
        .refine((n) => n >= 5 && n <= 25, "must be 5-25 (Event Grid waits 30 s)")
        .default(20),
});

export class SettingsError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid app settings: ${problems.join("; ")}`);
        this.name = "SettingsError";
    }
}

/** Reads and validates the settings; throws `SettingsError` naming every bad setting. */
export function readSettings(env: Readonly<Record<string, string | undefined>> = process.env): HandlerSettings {
    // Empty strings are "not set" (app settings cannot be deleted from some tooling).
    const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ""));
    const r = EnvSchema.safeParse(clean);
    if (!r.success) {
        throw new SettingsError(
            r.error.issues.map((i) => `${i.path.map(String).join(".") || "settings"}: ${i.message}`),
        );
    }
    const s = r.data;
    const problems: string[] = [];
    if (s.SUBSCRIPTION_ID.toLowerCase() !== s.FLEET_ID.subscriptionId.toLowerCase())
        problems.push(
            `SUBSCRIPTION_ID: ${s.SUBSCRIPTION_ID} is not the subscription of FLEET_ID (${s.FLEET_ID.subscriptionId})`,
        );
    const upgrade = s.UPGRADE_EVENTS;
    if (upgrade !== undefined) {
        const fleetPrefix = `${formatFleetId(s.FLEET_ID)}/updateStrategies/`.toLowerCase();
        if (!upgrade.strategyId.toLowerCase().startsWith(fleetPrefix))
            problems.push(`UPGRADE_EVENTS: strategyId ${upgrade.strategyId} is not an update strategy of FLEET_ID`);
        for (const m of upgrade.members)
            if (!/\/providers\/Microsoft\.ContainerService\/managedClusters\/[^/]+$/i.test(m.clusterId))
                problems.push(
                    `UPGRADE_EVENTS: members[${m.name}].clusterId ${m.clusterId} is not a managed cluster id`,
                );
    }
    if (problems.length > 0) throw new SettingsError(problems);
    const stateBlobEndpoint =
        s.STATE_BLOB_ENDPOINT ??
        (s.AzureWebJobsStorage__accountName !== undefined
            ? `https://${s.AzureWebJobsStorage__accountName}.blob.core.windows.net`
            : undefined);
    return {
        fleet: s.FLEET_ID,
        fleetId: formatFleetId(s.FLEET_ID),
        subscriptionId: s.SUBSCRIPTION_ID,
        rules: s.APPROVAL_RULES,
        escalateAfterMinutes: s.ESCALATE_AFTER_MINUTES,
        ...(s.NOTIFY_WEBHOOK_URL !== undefined ? { notifyWebhookUrl: s.NOTIFY_WEBHOOK_URL } : {}),
        ...(s.AZURE_CLIENT_ID !== undefined ? { clientId: s.AZURE_CLIENT_ID } : {}),
        armEndpoint: s.ARM_ENDPOINT,
        ...(s.METRICS_ENDPOINT !== undefined ? { metricsEndpoint: s.METRICS_ENDPOINT } : {}),
        ...(stateBlobEndpoint !== undefined ? { stateBlobEndpoint } : {}),
        stateContainer: s.STATE_CONTAINER,
        decisionBudgetMs: s.DECISION_BUDGET_SECONDS * 1000,
        ...(s.UPGRADE_EVENTS !== undefined ? { upgradeEvents: s.UPGRADE_EVENTS } : {}),
    };
}
