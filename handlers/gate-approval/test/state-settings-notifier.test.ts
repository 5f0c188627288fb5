/**
 * The handler's small parts: the in-memory state store, the app settings it reads, the webhook
 * notifier against a local HTTP server, and the cached credential that shares one token.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { notificationText, webhookNotifier, type Notification } from "../src/notifier";
import { cachingCredential, createTransport } from "../src/pipeline";
import { SettingsError, readSettings } from "../src/settings";
import { MemoryStateStore } from "../src/state";
import { FAST, FLEET_ID, RULES, SUB, countingCredential, exerciseStore, gateIdOf, guid } from "./helpers";

const servers: http.Server[] = [];
afterEach(() => {
    for (const s of servers.splice(0)) {
        s.closeAllConnections();
        s.close();
    }
});

async function serve(handler: http.RequestListener): Promise<string> {
    const s = http.createServer(handler);
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe("state stores", () => {
    it("MemoryStateStore: compare-and-swap, claims, concurrent updates", async () => {
        await exerciseStore(new MemoryStateStore());
    });
    // BlobStateStore against Azurite: state-azurite.test.ts.
});

describe("settings", () => {
    const good = {
        FLEET_ID,
        SUBSCRIPTION_ID: SUB,
        APPROVAL_RULES: JSON.stringify(RULES),
        ESCALATE_AFTER_MINUTES: "240",
        SWEEP_SCHEDULE: "0 */5 * * * *",
        AZURE_CLIENT_ID: guid(3),
        AzureWebJobsStorage__accountName: "stfgdev12345678",
        NOTIFY_WEBHOOK_URL: "https://example.webhook.office.com/webhookb2/x",
    };

    it("reads a complete set", () => {
        const s = readSettings(good);
        expect(s).toMatchObject({
            fleetId: FLEET_ID,
            subscriptionId: SUB,
            escalateAfterMinutes: 240,
            clientId: guid(3),
            armEndpoint: "https://management.azure.com",
            stateBlobEndpoint: "https://stfgdev12345678.blob.core.windows.net",
            stateContainer: "gate-state",
            decisionBudgetMs: 20_000,
        });
        expect(s.rules.map((r) => r.name)).toEqual(RULES.map((r) => r.name));
    });

    it.each([
        [{ FLEET_ID: undefined }, /FLEET_ID: is required/],
        [{ FLEET_ID: "/subscriptions/x" }, /FLEET_ID: invalid ARM id/],
        [{ SUBSCRIPTION_ID: "abc" }, /SUBSCRIPTION_ID: expected a subscription GUID/],
        [{ SUBSCRIPTION_ID: guid(5) }, /SUBSCRIPTION_ID: .* is not the subscription of FLEET_ID/],
        [{ APPROVAL_RULES: "[" }, /APPROVAL_RULES: not JSON/],
        [
            {
                APPROVAL_RULES: JSON.stringify([
                    {
                        name: "x",
                        match: { stage: "a" },
                        checks: [{ type: "window", days: ["Mon"], hours: "9-5", timeZone: "UTC" }],
                    },
                ]),
            },
            /APPROVAL_RULES: \[0\]\.checks\[0\]\.hours: expected "HH:MM-HH:MM"/,
        ],
        [
            { APPROVAL_RULES: JSON.stringify([RULES[0], RULES[0]]) },
            /APPROVAL_RULES: rule name "before-stage" appears twice/,
        ],
        [{ ESCALATE_AFTER_MINUTES: "soon" }, /ESCALATE_AFTER_MINUTES: expected a whole number of minutes/],
        [{ ESCALATE_AFTER_MINUTES: "0" }, /ESCALATE_AFTER_MINUTES: must be at least 1/],
        [{ NOTIFY_WEBHOOK_URL: "http://hooks.example.com/x" }, /NOTIFY_WEBHOOK_URL: expected an https URL/],
        [{ ARM_ENDPOINT: "ftp://x" }, /ARM_ENDPOINT: expected an https URL/],
        [{ ARM_ENDPOINT: "http://127.0.0.1:8080" }, /ARM_ENDPOINT: expected an https URL/],
        [{ STATE_BLOB_ENDPOINT: "http://localhost:10000" }, /STATE_BLOB_ENDPOINT: expected an https URL/],
        [{ DECISION_BUDGET_SECONDS: "29" }, /DECISION_BUDGET_SECONDS: must be 5-25/],
    ])("%j is refused, naming the setting", (patch, message) => {
        const env: Record<string, string | undefined> = { ...good, ...patch };
        expect(() => readSettings(env)).toThrow(SettingsError);
        expect(() => readSettings(env)).toThrow(message);
    });

    it("empty strings count as unset; a trailing slash is dropped", () => {
        const s = readSettings({ ...good, NOTIFY_WEBHOOK_URL: "", ARM_ENDPOINT: "https://127.0.0.1:8443/" });
        expect(s.notifyWebhookUrl).toBeUndefined();
        expect(s.armEndpoint).toBe("https://127.0.0.1:8443");
    });
});

describe("webhook notifier", () => {
    const n: Notification = {
        kind: "escalation",
        gateId: gateIdOf(guid(1)),
        displayName: "prod go",
        updateRun: "run-1",
        stage: "prod",
        timing: "Before",
        reason: "no approval rule matches the gate",
        pendingMinutes: 241,
    };

    it("posts Teams/Slack-compatible JSON with the text", async () => {
        const received: unknown[] = [];
        const url = await serve((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                received.push({
                    method: req.method,
                    type: req.headers["content-type"],
                    auth: req.headers.authorization,
                    body: JSON.parse(Buffer.concat(chunks).toString()),
                });
                res.writeHead(200).end("1");
            });
        });
        await webhookNotifier(`${url}/hook`, createTransport(FAST)).notify(n);
        expect(received).toEqual([
            {
                method: "POST",
                type: "application/json",
                auth: undefined,
                body: { text: notificationText(n), kind: "escalation", gateId: n.gateId },
            },
        ]);
        expect(notificationText(n)).toContain("pending for 241 min");
        expect(notificationText(n)).toContain(`az fleet gate approve --ids ${n.gateId}`);
    });

    it("throws when the webhook refuses, so the claim is released", async () => {
        const url = await serve((_req, res) => res.writeHead(400).end("bad"));
        await expect(webhookNotifier(url, createTransport(FAST)).notify(n)).rejects.toThrow(/HTTP 400/);
    });
});

describe("cachingCredential", () => {
    it("shares one token across callers until it nears expiry", async () => {
        const inner = countingCredential();
        const c = cachingCredential(inner);
        await Promise.all(Array.from({ length: 10 }, () => c.getToken("https://management.azure.com/.default")));
        await c.getToken("https://management.azure.com/.default");
        expect(inner.calls).toBe(1);
        await c.getToken("https://storage.azure.com/.default");
        expect(inner.calls).toBe(2);
        const short = cachingCredential(
            { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 60_000 }) },
            5 * 60_000,
        );
        let calls = 0;
        const counting = cachingCredential({
            getToken: async () => (calls++, { token: "t", expiresOnTimestamp: Date.now() + 60_000 }),
        });
        await counting.getToken("s");
        await counting.getToken("s");
        expect(calls).toBe(2); // a token inside the refresh margin is refreshed
        expect(await short.getToken("s")).toMatchObject({ token: "t" });
    });
});
