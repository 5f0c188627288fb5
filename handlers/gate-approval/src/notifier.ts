/**
 * Notifications for people: gates that need a manual approval, holds, escalations. Sent as an
 * incoming-webhook JSON message that Teams (Office 365 connector / Workflows "post to a channel
 * when a webhook request is received" with a text body) and Slack both accept: `{ "text": ... }`
 * plus a few structured fields. Through the shared pipeline (retries, per-try timeout, no auth).
 * Without a webhook the notifier only logs.
 */
import { HttpTransport, send } from "./pipeline";

export type NotificationKind = "manual" | "held" | "escalation";

export interface Notification {
    readonly kind: NotificationKind;
    readonly gateId: string;
    readonly displayName?: string;
    readonly updateRun: string;
    readonly stage?: string;
    readonly group?: string;
    readonly timing: string;
    readonly rule?: string;
    readonly reason: string;
    /** Minutes the gate has been pending (escalations). */
    readonly pendingMinutes?: number;
}

export interface Notifier {
    /** Throws when the message could not be delivered (the caller releases its notify-once claim). */
    notify(n: Notification, abortSignal?: AbortSignal): Promise<void>;
}

const TITLES: Record<NotificationKind, string> = {
    manual: "Fleet gate needs a manual approval",
    held: "Fleet gate held by its checks",
    escalation: "Fleet gate still pending",
};

/** The message text (markdown both Teams and Slack render acceptably). */
export function notificationText(n: Notification): string {
    const where = [
        `update run **${n.updateRun}**`,
        n.stage !== undefined ? `stage **${n.stage}**` : undefined,
        n.group !== undefined ? `group **${n.group}**` : undefined,
        `timing ${n.timing}`,
    ]
        .filter((s) => s !== undefined)
        .join(", ");
    const lines = [
        `**${TITLES[n.kind]}**: ${n.displayName !== undefined ? `"${n.displayName}"` : "(no display name)"}`,
        where,
        n.rule !== undefined ? `rule: ${n.rule}` : "no approval rule matches this gate",
        n.pendingMinutes !== undefined ? `pending for ${n.pendingMinutes} min` : undefined,
        `reason: ${n.reason}`,
        `gate: ${n.gateId}`,
        n.kind === "manual" || n.kind === "escalation" ? `approve: az fleet gate approve --ids ${n.gateId}` : undefined,
    ];
    return lines.filter((s) => s !== undefined).join("\n\n");
}

/** POSTs one message (`{ text, ...fields }`) to the incoming webhook; throws unless it answers 2xx. */
export async function postToWebhook(
    transport: HttpTransport,
    url: string,
    message: { readonly text: string } & Record<string, unknown>,
    abortSignal?: AbortSignal,
): Promise<void> {
    const r = await send(transport, url, { method: "POST", body: JSON.stringify(message), abortSignal });
    if (r.status < 200 || r.status > 299) throw new Error(`webhook answered HTTP ${r.status}`);
}

export function webhookNotifier(url: string, transport: HttpTransport): Notifier {
    return {
        notify: (n, abortSignal) =>
            postToWebhook(transport, url, { text: notificationText(n), kind: n.kind, gateId: n.gateId }, abortSignal),
    };
}

export type LogFn = (level: "info" | "warn" | "error", message: string, data?: Record<string, unknown>) => void;

/** No webhook configured: the notification is a log line. */
export function logNotifier(log: LogFn): Notifier {
    return {
        async notify(n) {
            log("warn", "gate notification (no webhook configured)", { ...n, text: notificationText(n) });
        },
    };
}
