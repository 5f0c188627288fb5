/**
 * Messages about AKS upgrade events for people: a new version, a support window ending or ended
 * (escalations), a node pool that failed to roll. Sent to the same Teams/Slack-compatible incoming
 * webhook as gate notifications (`postToWebhook`: `{ "text": ... }` plus structured fields), or
 * logged without one.
 */
import { postToWebhook, type LogFn } from "../notifier";
import type { HttpTransport } from "../pipeline";

export type AnnouncementKind = "new-version" | "support-ending" | "support-ended" | "node-pool-failed";

export interface Announcement {
    readonly kind: AnnouncementKind;
    /** Support ending/ended: someone must act. */
    readonly escalation: boolean;
    /** One line: what happened. */
    readonly title: string;
    /** Further lines: what it means, who is affected, what was done. */
    readonly lines: readonly string[];
    readonly fleetId: string;
    /** The dedupe key (one message per key). */
    readonly key: string;
}

export interface Announcer {
    /** Throws when the message could not be delivered (the caller releases its claim). */
    announce(a: Announcement, abortSignal?: AbortSignal): Promise<void>;
}

export function announcementText(a: Announcement): string {
    return [`**${a.escalation ? "Escalation: " : ""}${a.title}**`, ...a.lines, `fleet: ${a.fleetId}`].join("\n\n");
}

export function webhookAnnouncer(url: string, transport: HttpTransport): Announcer {
    return {
        announce: (a, abortSignal) =>
            postToWebhook(
                transport,
                url,
                { text: announcementText(a), kind: a.kind, escalation: a.escalation },
                abortSignal,
            ),
    };
}

export function logAnnouncer(log: LogFn): Announcer {
    return {
        async announce(a) {
            log("warn", "upgrade announcement (no webhook configured)", { ...a, text: announcementText(a) });
        },
    };
}
