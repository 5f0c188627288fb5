/**
 * The OneDeploy publish provider as `pulumi up` runs it: serialized by `@pulumi/pulumi/dynamic` in a
 * process that loaded the program through Pulumi's TypeScript support, then loaded from that text
 * alone in a fresh process (as Pulumi's dynamic provider host does) and driven through `diff`,
 * `create` and `update` against a loopback HTTPS stand-in for the SCM site and ARM. Mocks never run
 * this path: a provider that captured a module, a class or a value it cannot carry fails here.
 */
import { execFile, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NO_TOKEN_PREFIX, WEB_API_VERSION, zipFiles } from "../components/handler-package";
import { loopbackCertificate } from "../local/emulators/tls";

const ROOT = path.resolve(__dirname, "..");
const FIXTURES = path.join(__dirname, "fixtures");
const APP_ID =
    "/subscriptions/0b7f6a2e-3c1d-4e5f-8a9b-1c2d3e4f5a6b/resourceGroups/rg/providers/Microsoft.Web/sites/app";
const DEPLOYMENT = "6a1b2c3d-0000-4000-8000-000000000001";
const TOKEN = "token-123";

let work: string;
let providerFile: string;
let caFile: string;
let zipPath: string;
let zipHash: string;

beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-gates-publish-"));
    const { stdout } = await promisify(execFile)(
        process.execPath,
        [
            path.join(FIXTURES, "serialize-dynamic-provider.cjs"),
            ROOT,
            "components/handler-package.ts",
            "handlerPublishProvider",
        ],
        { maxBuffer: 64 << 20 },
    );
    providerFile = path.join(work, "provider.js");
    fs.writeFileSync(providerFile, stdout);
    caFile = path.join(work, "ca.pem");
    fs.writeFileSync(caFile, (await loopbackCertificate()).cert);
    const zip = zipFiles([{ name: "index.js", data: Buffer.from("module.exports = {};\n") }]);
    zipPath = path.join(work, "package.zip");
    fs.writeFileSync(zipPath, zip);
    zipHash = crypto.createHash("sha256").update(zip).digest("hex");
}, 180_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface Operation {
    readonly method: "diff" | "create" | "update" | "delete";
    readonly args: unknown[];
}
type Result = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Runs the operations in a fresh Node process that knows the provider only by its serialized text
 * (`fixtures/run-dynamic-provider.cjs`, as Pulumi's dynamic provider host loads it). `env` is the
 * whole environment of that process.
 */
function host(operations: readonly Operation[], env: Record<string, string> = {}): Promise<Result[]> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(FIXTURES, "run-dynamic-provider.cjs"), ROOT, providerFile], {
            cwd: ROOT,
            // Trusts the loopback certificate the way an operator trusts a corporate CA; nothing else.
            env: { PATH: process.env.PATH ?? "", NODE_EXTRA_CA_CERTS: caFile, ...env },
            stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (c: Buffer) => (out += c.toString()));
        child.stderr.on("data", (c: Buffer) => (err += c.toString()));
        child.on("error", reject);
        child.on("close", (code) => {
            if (code !== 0) return reject(new Error(`provider host exited ${code}: ${err}`));
            const lines = out
                .trim()
                .split("\n")
                .filter((l) => l !== "");
            resolve(
                lines.map((l) => {
                    const r = JSON.parse(l) as { ok: boolean; result?: unknown; error?: string };
                    return r.ok ? { ok: true, value: r.result } : { ok: false, error: r.error! };
                }),
            );
        });
        child.stdin.end(JSON.stringify(operations.map((o) => ({ op: o.method, args: o.args }))));
    });
}

type Route = (req: http.IncomingMessage) => { status: number; body: string };
interface Recorded {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
}

/** A loopback HTTPS stand-in for the SCM site (`/scm`) and ARM (`/arm`), recording every request. */
async function fakeAzure(route: Route) {
    const { key, cert } = await loopbackCertificate();
    const requests: Recorded[] = [];
    const server = https.createServer({ key, cert }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
            const answer = route(req);
            res.writeHead(answer.status, { "Content-Type": "application/json" });
            res.end(answer.body);
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { base, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The resource's inputs as the engine hands them to the provider (secret token unwrapped). */
function inputs(base: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        appId: APP_ID,
        scmBaseUrl: `${base}/scm/`,
        armBaseUrl: `${base}/arm`,
        zipPath,
        packageHash: zipHash,
        functionNames: ["gate-event", "gate-sweep"],
        accessToken: TOKEN,
        pollIntervalSeconds: 0.01,
        timeoutSeconds: 10,
        ...overrides,
    };
}

const BOTH_FUNCTIONS = JSON.stringify({ value: [{ name: "app/gate-event" }, { name: "app/gate-sweep" }] });

/** A site that accepts the publish at once, reports success and lists both functions. */
const healthy: Route = (req) => {
    if (req.url!.startsWith("/scm/api/publish")) return { status: 202, body: JSON.stringify(DEPLOYMENT) };
    if (req.url!.startsWith("/scm/api/deployments/"))
        return { status: 200, body: JSON.stringify({ id: DEPLOYMENT, status: 4 }) };
    if (req.url!.startsWith(`/arm${APP_ID}/functions`)) return { status: 200, body: BOTH_FUNCTIONS };
    return { status: 404, body: "" };
};

describe("the publish provider, serialized by @pulumi/pulumi/dynamic and run from its text alone", () => {
    it("serializes to self-contained text: the provider's methods and what they call, no module of the program", () => {
        const text = fs.readFileSync(providerFile, "utf8");
        expect(text).toMatch(/^exports\.handler = /);
        for (const name of ["diff", "create", "update", "delete"]) expect(text).toContain(`/*${name}*/`);
        // The publish logic travels by value; esbuild, fflate and the bundler never do.
        expect(text).toContain("/api/publish?RemoteBuild=false&Deployer=fleet-gates");
        expect(text).not.toMatch(/esbuild|fflate|buildSync/);
    });

    it("create publishes the zip with the bearer token over HTTPS, waits for the deployment and the functions", async () => {
        let publishes = 0;
        let polls = 0;
        let lists = 0;
        const azure = await fakeAzure((req) => {
            if (req.url!.startsWith("/scm/api/publish")) {
                publishes++;
                // The first answer is storage's 403 while the app identity's role assignment propagates.
                return publishes === 1
                    ? { status: 400, body: "BlobUploadFailedException: Azure Storage responded with 403" }
                    : { status: 202, body: JSON.stringify(DEPLOYMENT) };
            }
            if (req.url === `/scm/api/deployments/${DEPLOYMENT}`) {
                polls++;
                return { status: 200, body: JSON.stringify({ id: DEPLOYMENT, status: polls < 3 ? 1 : 4 }) };
            }
            if (req.url === `/arm${APP_ID}/functions?api-version=${WEB_API_VERSION}`) {
                lists++;
                return lists < 2
                    ? { status: 200, body: JSON.stringify({ value: [{ name: "app/gate-event" }] }) }
                    : { status: 200, body: BOTH_FUNCTIONS };
            }
            return { status: 404, body: "" };
        });
        try {
            const [created] = await host([{ method: "create", args: [inputs(azure.base)] }]);
            expect(created).toEqual({
                ok: true,
                value: {
                    id: `${APP_ID}/deployments/${DEPLOYMENT}`,
                    outs: {
                        deploymentId: DEPLOYMENT,
                        functions: ["gate-event", "gate-sweep"],
                        appId: APP_ID,
                        scmBaseUrl: `${azure.base}/scm/`,
                        packageHash: zipHash,
                        functionNames: ["gate-event", "gate-sweep"],
                    },
                },
            });
            expect([publishes, polls, lists]).toEqual([2, 3, 2]);
            for (const p of azure.requests.filter((r) => r.url.startsWith("/scm/api/publish"))) {
                expect(p.method).toBe("POST");
                expect(p.url).toBe("/scm/api/publish?RemoteBuild=false&Deployer=fleet-gates");
                expect(p.headers["content-type"]).toBe("application/zip");
                expect(p.body.equals(fs.readFileSync(zipPath))).toBe(true);
            }
            expect(azure.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
        } finally {
            await azure.close();
        }
    });

    it("diff publishes again for a new package, app or function set, never for a new token; update publishes", async () => {
        const azure = await fakeAzure(healthy);
        try {
            const olds = { ...inputs(azure.base), deploymentId: DEPLOYMENT };
            const news = inputs(azure.base, { accessToken: "a-fresh-token" });
            const results = await host([
                { method: "diff", args: ["id", olds, news] },
                { method: "diff", args: ["id", olds, { ...news, packageHash: "1".repeat(64) }] },
                { method: "diff", args: ["id", olds, { ...news, appId: `${APP_ID}-2` }] },
                { method: "diff", args: ["id", olds, { ...news, functionNames: ["gate-event"] }] },
                { method: "update", args: ["id", olds, news] },
            ]);
            expect(results.slice(0, 4).map((r) => r.ok && (r.value as { changes: boolean }).changes)).toEqual([
                false,
                true,
                true,
                true,
            ]);
            expect(results[0]).toEqual({
                ok: true,
                value: { changes: false, replaces: [], deleteBeforeReplace: false },
            });
            expect(results[4]).toMatchObject({ ok: true, value: { outs: { deploymentId: DEPLOYMENT } } });
            // Only the update talked to Azure, with the new token.
            expect(azure.requests.map((r) => `${r.method} ${r.url.split("?")[0]}`)).toEqual([
                "POST /scm/api/publish",
                `GET /scm/api/deployments/${DEPLOYMENT}`,
                `GET /arm${APP_ID}/functions`,
            ]);
            expect(azure.requests.every((r) => r.headers.authorization === "Bearer a-fresh-token")).toBe(true);
        } finally {
            await azure.close();
        }
    });

    it("refuses plain http for the SCM site or ARM before sending the token anywhere", async () => {
        const azure = await fakeAzure(healthy);
        const plain = http.createServer((_req, res) => res.end(JSON.stringify(DEPLOYMENT)));
        let plainRequests = 0;
        plain.on("request", () => plainRequests++);
        await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
        const plainBase = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
        try {
            const results = await host([
                { method: "create", args: [inputs(azure.base, { scmBaseUrl: `${plainBase}/scm` })] },
                { method: "create", args: [inputs(azure.base, { armBaseUrl: `${plainBase}/arm` })] },
            ]);
            expect(results).toEqual([
                {
                    ok: false,
                    error: `OneDeploy publish of ${APP_ID}: scmBaseUrl "${plainBase}/scm" is not an https URL`,
                },
                {
                    ok: false,
                    error: `OneDeploy publish of ${APP_ID}: armBaseUrl "${plainBase}/arm" is not an https URL`,
                },
            ]);
            expect(plainRequests).toBe(0);
            expect(azure.requests).toHaveLength(0);
        } finally {
            await azure.close();
            await new Promise<void>((r) => plain.close(() => r()));
        }
    });

    it("follows `latest` when the SCM site no longer knows the deployment id", async () => {
        const azure = await fakeAzure((req) => {
            if (req.url === `/scm/api/deployments/${DEPLOYMENT}`) return { status: 404, body: "Deployment not found" };
            return healthy(req);
        });
        try {
            const [r] = await host([{ method: "create", args: [inputs(azure.base)] }]);
            expect(r).toMatchObject({ ok: true, value: { outs: { deploymentId: DEPLOYMENT } } });
            expect(azure.requests.map((q) => q.url)).toContain("/scm/api/deployments/latest");
        } finally {
            await azure.close();
        }
    });

    it("fails with the service's words: a failed deployment, a rejected package, functions that never appear", async () => {
        const failed = await fakeAzure((req) =>
            req.url!.startsWith("/scm/api/deployments/")
                ? {
                      status: 200,
                      body: JSON.stringify({
                          id: DEPLOYMENT,
                          status: 3,
                          status_text: "App setting WEBSITE_RUN_FROM_PACKAGE is not supported",
                      }),
                  }
                : healthy(req),
        );
        const rejected = await fakeAzure(() => ({ status: 400, body: "Package is not a valid zip file" }));
        const partial = await fakeAzure((req) =>
            req.url!.startsWith("/arm")
                ? { status: 200, body: JSON.stringify({ value: [{ name: "app/gate-event" }] }) }
                : healthy(req),
        );
        try {
            const results = await host([
                { method: "create", args: [inputs(failed.base)] },
                { method: "create", args: [inputs(rejected.base)] },
                { method: "create", args: [inputs(partial.base, { timeoutSeconds: 0.5 })] },
            ]);
            expect(results.map((r) => r.ok)).toEqual([false, false, false]);
            const errors = results.map((r) => (r.ok ? "" : r.error));
            expect(errors[0]).toMatch(/failed \(status 3\): App setting WEBSITE_RUN_FROM_PACKAGE is not supported/);
            expect(failed.requests.some((r) => r.url.includes("/functions"))).toBe(false);
            expect(errors[1]).toMatch(/publish of .* failed: 400 Package is not a valid zip file/);
            expect(rejected.requests).toHaveLength(1);
            expect(errors[2]).toMatch(/timed out after 0\.5s waiting for functions gate-event, gate-sweep/);
        } finally {
            await Promise.all([failed.close(), rejected.close(), partial.close()]);
        }
    });

    it("refuses to publish without a token, or a zip that changed since the plan, before sending anything", async () => {
        const azure = await fakeAzure(healthy);
        try {
            const results = await host([
                { method: "create", args: [inputs(azure.base, { accessToken: `${NO_TOKEN_PREFIX}no credentials` })] },
                { method: "create", args: [inputs(azure.base, { accessToken: "" })] },
                { method: "create", args: [inputs(azure.base, { packageHash: "0".repeat(64) })] },
            ]);
            const errors = results.map((r) => (r.ok ? "" : r.error));
            expect(errors[0]).toMatch(
                /no bearer token to publish .* \(no credentials\); pass a valid GateHandler publishToken/,
            );
            expect(errors[1]).toMatch(/no bearer token .*\(empty\)/);
            expect(errors[2]).toMatch(/changed since the plan/);
            expect(azure.requests).toHaveLength(0);
        } finally {
            await azure.close();
        }
    });

    it("fails at once on a 401 (a stale or wrong token), saying what to do, instead of retrying it", async () => {
        const azure = await fakeAzure(() => ({ status: 401, body: '{"error":"token expired"}' }));
        try {
            const [r] = await host([{ method: "create", args: [inputs(azure.base, { timeoutSeconds: 60 })] }]);
            expect(r).toEqual({
                ok: false,
                error:
                    `OneDeploy publish of ${APP_ID}: the SCM site refused the bearer token (401): it has expired or is not valid ` +
                    "for this tenant or audience. Sign in again (az login; in CI, azure/login) and rerun pulumi up; " +
                    "GateHandler publishToken is used as given: omit it to take a token when publishing. " +
                    'Last answer: 401 {"error":"token expired"}',
            });
            expect(azure.requests).toHaveLength(1);
        } finally {
            await azure.close();
        }
    });

    it("without a given token, takes one from DefaultAzureCredential (here the Azure CLI) when publishing", async () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-gates-az-"));
        fs.writeFileSync(
            path.join(bin, "az"),
            `#!/bin/sh\necho "$@" >> "${path.join(bin, "az.log")}"\n` +
                `echo '{"accessToken":"cli-token","expiresOn":"2099-01-01 00:00:00.000000","expires_on":4070908800,"tokenType":"Bearer"}'\n`,
            { mode: 0o755 },
        );
        const azure = await fakeAzure(healthy);
        try {
            const { accessToken: _given, ...withoutToken } = inputs(azure.base);
            const [r] = await host([{ method: "create", args: [withoutToken] }], {
                PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`,
                AZURE_TOKEN_CREDENTIALS: "AzureCliCredential",
            });
            expect(r).toMatchObject({ ok: true, value: { outs: { deploymentId: DEPLOYMENT } } });
            expect(azure.requests.map((q) => q.headers.authorization)).toEqual([
                "Bearer cli-token",
                "Bearer cli-token",
                "Bearer cli-token",
            ]);
            // Asked once, for the ARM endpoint the publish was given, and reused while valid.
            expect(fs.readFileSync(path.join(bin, "az.log"), "utf8").trim().split("\n")).toEqual([
                `account get-access-token --output json --resource ${azure.base}`,
            ]);
        } finally {
            await azure.close();
            fs.rmSync(bin, { recursive: true, force: true });
        }
    });
});
