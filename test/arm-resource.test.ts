/**
 * `ArmResource` as `pulumi up` runs it: its provider serialized the way `@pulumi/pulumi/dynamic` does
 * (Pulumi's ts-node, `serializeFunction`), loaded in a fresh process the way Pulumi's dynamic-provider
 * host loads it, and run against the loopback ARM emulation of the fleet's child resources over HTTPS.
 * The credential is the real `DefaultAzureCredential`, narrowed to the Azure CLI (`AZURE_TOKEN_CREDENTIALS`)
 * and answered by a stand-in `az` on PATH; the emulator's certificate is trusted through NODE_EXTRA_CA_CERTS.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { armResourceId, canonicalJson, diffArmResource, managedProperties } from "../components/arm-resource";
import { FleetResourcesEmulator } from "../local/emulators/arm/fleet-resources";

const ROOT = path.resolve(__dirname, "..");
const SUB = "0b1f6471-1bf0-4dda-aec3-111122223333";
const FLEET_ID = `/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`;

let emu: FleetResourcesEmulator;
let dir: string;
let providerFile: string;
let env: NodeJS.ProcessEnv;

function inputs(over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        subscriptionId: SUB,
        resourceGroupName: "rg-fleet-dev",
        resourceProviderNamespace: "Microsoft.ContainerService",
        parentResourcePath: "fleets/flt-dev",
        resourceType: "members",
        resourceName: "aks-dev-blue-1",
        apiVersion: "2026-06-01",
        properties: {
            clusterResourceId: `/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/managedClusters/aks-dev-blue-1`,
            group: "blue",
            labels: { ring: "0" },
        },
        armBaseUrl: emu.url,
        pollIntervalSeconds: 0,
        timeoutSeconds: 60,
        ...over,
    };
}

type Step = { op: "create" | "read" | "update" | "delete" | "diff"; args: unknown[] };
type StepResult = { op: string; ok: boolean; result?: any; error?: string };

/** Runs steps through the serialized provider in a fresh process (asynchronously: the emulator answers here). */
function runProvider(steps: Step[]): Promise<StepResult[]> {
    return new Promise((resolve, reject) => {
        const child = spawn(
            process.execPath,
            [path.join(__dirname, "fixtures", "run-dynamic-provider.cjs"), ROOT, providerFile],
            {
                env,
                stdio: ["pipe", "pipe", "pipe"],
            },
        );
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => {
            if (code !== 0) return reject(new Error(`provider process exited ${code}: ${err}`));
            resolve(
                out
                    .trim()
                    .split("\n")
                    .filter((l) => l.startsWith("{"))
                    .map((l) => JSON.parse(l) as StepResult),
            );
        });
        child.stdin.end(JSON.stringify(steps));
    });
}

beforeAll(async () => {
    emu = new FleetResourcesEmulator();
    const cert = await emu.start();
    emu.addFleet(FLEET_ID);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-gates-arm-resource-"));
    fs.writeFileSync(path.join(dir, "ca.pem"), cert);
    // A stand-in for the Azure CLI: logs what it was asked for and prints a token as `az` does.
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(
        path.join(bin, "az"),
        `#!/bin/sh\necho "$@" >> "${path.join(dir, "az.log")}"\n` +
            `echo '{"accessToken":"offline-token","expiresOn":"2099-01-01 00:00:00.000000","expires_on":4070908800,"tokenType":"Bearer"}'\n`,
        { mode: 0o755 },
    );
    env = {
        ...process.env,
        PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`,
        AZURE_TOKEN_CREDENTIALS: "AzureCliCredential",
        NODE_EXTRA_CA_CERTS: path.join(dir, "ca.pem"),
    };
    const serialized = spawnSync(
        process.execPath,
        [
            path.join(__dirname, "fixtures", "serialize-dynamic-provider.cjs"),
            ROOT,
            "components/arm-resource.ts",
            "armResourceProvider",
        ],
        { encoding: "utf8", timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    if (serialized.status !== 0) throw new Error(`serialization failed: ${serialized.stderr}`);
    providerFile = path.join(dir, "provider.js");
    fs.writeFileSync(providerFile, serialized.stdout);
}, 180_000);

afterAll(async () => {
    await emu?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("ArmResource's provider, serialized as at pulumi up and run in a fresh process", () => {
    it("serializes to text that requires only npm packages, never the TypeScript sources", () => {
        const text = fs.readFileSync(providerFile, "utf8");
        const required = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]).sort();
        expect([...new Set(required)]).toEqual(["@azure/core-rest-pipeline", "@azure/identity"]);
        expect(text).not.toMatch(/\.ts"|__vite_ssr|ts-node/);
    });

    it("creates a fleet member at 2026-06-01: existence check at that version, PUT { properties } only, the operation polled", async () => {
        const before = emu.requests.length;
        const [created] = await runProvider([{ op: "create", args: [inputs()] }]);
        expect(created).toMatchObject({ ok: true, result: { id: `${FLEET_ID}/members/aks-dev-blue-1` } });
        expect(created!.result.outs).toMatchObject({
            provisioningState: "Succeeded",
            armId: `${FLEET_ID}/members/aks-dev-blue-1`,
        });
        const log = emu.requests.slice(before);
        expect(log.map((r) => `${r.method} ${r.status} ${r.apiVersion}`)).toEqual([
            "GET 404 2026-06-01",
            "PUT 201 2026-06-01",
            "GET 200 2026-06-01", // Azure-AsyncOperation status: Succeeded
            "GET 200 2026-06-01",
        ]);
        // The body is exactly { properties }: no location for this proxy resource.
        expect(log[1]!.body).toEqual({ properties: inputs().properties });
        expect(emu.child(`${FLEET_ID}/members/aks-dev-blue-1`)?.properties).toEqual({
            ...(inputs().properties as object),
            provisioningState: "Succeeded",
        });
        // DefaultAzureCredential asked the CLI for a token for the ARM endpoint it was given.
        expect(fs.readFileSync(path.join(dir, "az.log"), "utf8")).toContain(`--resource ${emu.url}`);
    });

    it("reads, diffs and updates it; refuses to create it again; deletes it (202 + Location) until a GET says 404", async () => {
        const id = `${FLEET_ID}/members/aks-dev-blue-1`;
        const olds = { ...inputs(), armId: id, provisioningState: "Succeeded" };
        const relabelled = inputs({ properties: { ...(inputs().properties as object), labels: { ring: "1" } } });
        const results = await runProvider([
            { op: "read", args: [id, olds] },
            { op: "diff", args: [id, olds, relabelled] },
            { op: "update", args: [id, olds, relabelled] },
            { op: "create", args: [inputs()] },
            { op: "delete", args: [id, relabelled] },
            { op: "read", args: [id, relabelled] },
        ]);
        expect(results.map((r) => `${r.op} ${r.ok}`)).toEqual([
            "read true",
            "diff true",
            "update true",
            "create false",
            "delete true",
            "read true",
        ]);
        expect(results[0]!.result).toMatchObject({ id, props: { properties: inputs().properties } });
        expect(results[1]!.result).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
        expect(results[2]!.result.outs).toMatchObject({ provisioningState: "Succeeded" });
        expect(results[3]!.error).toBe(
            `${id} already exists (api-version 2026-06-01): import it (pulumi import) or delete it before creating it here`,
        );
        expect(results[5]!.result).toEqual({});
        expect(emu.child(id)).toBeUndefined();
    });

    it("deletes an update strategy through its Azure-AsyncOperation, and reports a failed PUT with the service's error", async () => {
        const strategy = inputs({
            resourceType: "updateStrategies",
            resourceName: "gated-rollout",
            properties: { strategy: { stages: [{ name: "dev", groups: [{ name: "blue" }] }] } },
        });
        const before = emu.requests.length;
        const [created, deleted] = await runProvider([
            { op: "create", args: [strategy] },
            { op: "delete", args: [`${FLEET_ID}/updateStrategies/gated-rollout`, strategy] },
        ]);
        expect([created!.ok, deleted!.ok]).toEqual([true, true]);
        const deletes = emu.requests.slice(before).filter((r) => r.method === "DELETE");
        expect(deletes.map((r) => r.status)).toEqual([202]);

        emu.failNextPut("InvalidUpdateStrategy", "group 'blue' has no members");
        const [failed] = await runProvider([{ op: "create", args: [strategy] }]);
        expect(failed).toMatchObject({
            ok: false,
            error: `PUT ${FLEET_ID}/updateStrategies/gated-rollout (api-version 2026-06-01) ended Failed: InvalidUpdateStrategy group 'blue' has no members`,
        });
    });

    it("fails at once, naming the version, where ARM does not serve the api-version (what azure-native's existence check meets)", async () => {
        const [r] = await runProvider([
            { op: "create", args: [inputs({ apiVersion: "2024-03-01", resourceName: "aks-x" })] },
        ]);
        expect(r!.ok).toBe(false);
        expect(r!.error).toMatch(
            /^GET \(existence check\) \/subscriptions\/.+\/members\/aks-x \(api-version 2024-03-01\): HTTP 400 NoRegisteredProviderFound: /,
        );
    });
});

describe("ArmResource decisions", () => {
    it("builds the ARM id from its parts", () => {
        expect(armResourceId(inputs())).toBe(`${FLEET_ID}/members/aks-dev-blue-1`);
        expect(
            armResourceId({ ...inputs(), parentResourcePath: undefined, resourceType: "fleets", resourceName: "f" }),
        ).toBe(`/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/f`);
    });

    it.each([
        ["nothing", {}, { changes: false, replaces: [] }],
        [
            "the endpoint or polling only",
            { armBaseUrl: "https://other", pollIntervalSeconds: 5 },
            { changes: false, replaces: [] },
        ],
        ["a label", { properties: { group: "blue", labels: { ring: "1" } } }, { changes: true, replaces: [] }],
        ["the api-version", { apiVersion: "2026-09-01" }, { changes: true, replaces: [] }],
        ["the name", { resourceName: "other" }, { changes: true, replaces: ["resourceName"] }],
        ["the fleet", { parentResourcePath: "fleets/other" }, { changes: true, replaces: ["parentResourcePath"] }],
    ])("diff when %s changes", (_, over, want) => {
        const olds = { ...inputs(), properties: { labels: { ring: "0" }, group: "blue" } };
        const news = { ...olds, properties: { group: "blue", labels: { ring: "0" } }, ...over };
        expect(diffArmResource(olds, news)).toEqual({ ...want, deleteBeforeReplace: false });
    });

    it("compares JSON regardless of key order, and narrows live properties to those it manages", () => {
        expect(canonicalJson({ b: [{ y: 1, x: 2 }], a: 1 })).toBe(canonicalJson({ a: 1, b: [{ x: 2, y: 1 }] }));
        expect(
            managedProperties(
                { group: "blue", labels: {} },
                { group: "green", labels: {}, provisioningState: "Succeeded" },
            ),
        ).toEqual({
            group: "green",
            labels: {},
        });
    });
});
