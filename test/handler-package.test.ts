/**
 * The handler package: the bundle and deploy folder `buildHandlerPackage` writes (and the same from the
 * handler's own build), a deterministic zip readable by unzip, the functions it registers with the host, and
 * the publish helpers that decide when to publish again.
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import { builtinModules } from "node:module";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    BUILD_RECORD,
    buildHandlerPackage,
    classifyPublishResponse,
    deploymentOutcome,
    HANDLER_DIR,
    HANDLER_FUNCTIONS,
    HandlerPackage,
    handlerPublishProvider,
    parseDeploymentId,
    registeredFunctionNames,
    scmBaseUrlFor,
    zipFiles,
} from "../components/handler-package";

/** Reads a zip through its central directory and inflates every entry (independent of the writer). */
function readZip(buf: Buffer): Map<string, Buffer> {
    const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    expect(eocd).toBeGreaterThanOrEqual(0);
    const count = buf.readUInt16LE(eocd + 10);
    let p = buf.readUInt32LE(eocd + 16);
    const out = new Map<string, Buffer>();
    for (let i = 0; i < count; i++) {
        expect(buf.readUInt32LE(p)).toBe(0x02014b50);
        const method = buf.readUInt16LE(p + 10);
        const crc = buf.readUInt32LE(p + 16);
        const size = buf.readUInt32LE(p + 20);
        const nameLen = buf.readUInt16LE(p + 28);
        const extraLen = buf.readUInt16LE(p + 30);
        const commentLen = buf.readUInt16LE(p + 32);
        const local = buf.readUInt32LE(p + 42);
        const name = buf.toString("utf8", p + 46, p + 46 + nameLen);
        const localNameLen = buf.readUInt16LE(local + 26);
        const localExtraLen = buf.readUInt16LE(local + 28);
        const start = local + 30 + localNameLen + localExtraLen;
        const data =
            method === 8 ? zlib.inflateRawSync(buf.subarray(start, start + size)) : buf.subarray(start, start + size);
        expect(zlib.crc32(data) >>> 0).toBe(crc);
        out.set(name, data);
        p += 46 + nameLen + extraLen + commentLen;
    }
    return out;
}

interface Registered {
    readonly name: string;
    readonly bindings: Record<string, Record<string, unknown>>;
    readonly handler: (...args: unknown[]) => unknown;
}

/** Loads a bundle the way the Functions Node.js worker does, with a stub of `@azure/functions-core`. */
function loadBundle(file: string): Registered[] {
    const registered: Registered[] = [];
    const core = {
        setProgrammingModel: () => undefined,
        registerFunction: (
            metadata: { name: string; bindings: Registered["bindings"] },
            handler: Registered["handler"],
        ) => {
            registered.push({ name: metadata.name, bindings: metadata.bindings, handler });
            return { dispose: () => undefined };
        },
    };
    const mod = { exports: {} as Record<string, unknown> };
    const requireStub = (id: string): unknown => {
        if (id === "@azure/functions-core") return core;
        // Node's built-ins are there on the host; anything else must be inside the bundle.
        if (id.startsWith("node:") || builtinModules.includes(id)) {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            return require(id);
        }
        throw new Error(`bundle requires "${id}", which the deploy folder does not contain`);
    };
    const fn = new Function("require", "module", "exports", "__filename", "__dirname", fs.readFileSync(file, "utf8"));
    fn(requireStub, mod, mod.exports, file, path.dirname(file));
    return registered;
}

let tmp: string;
let pkg: HandlerPackage;

beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "handler-package-"));
    pkg = buildHandlerPackage(path.join(tmp, "a"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("buildHandlerPackage", () => {
    it("writes a self-contained deploy folder: host.json, a dependency-free package.json and the bundle", () => {
        expect(pkg.dir).toBe(path.join(tmp, "a", "package"));
        expect(pkg.files).toEqual(["host.json", "index.js", "index.js.map", "package.json"]);
        expect(fs.readdirSync(pkg.dir).sort()).toEqual([...pkg.files]);
        const manifest = JSON.parse(fs.readFileSync(path.join(pkg.dir, "package.json"), "utf8"));
        expect(manifest).toEqual({
            name: "@fleet-gates/gate-approval",
            version: "0.1.0",
            private: true,
            main: "index.js",
        });
        const host = JSON.parse(fs.readFileSync(path.join(pkg.dir, "host.json"), "utf8"));
        expect(host.version).toBe("2.0");
        expect(host.extensionBundle).toEqual({
            id: "Microsoft.Azure.Functions.ExtensionBundle",
            version: "[4.*, 5.0.0)",
        });
        const bundle = fs.readFileSync(path.join(pkg.dir, "index.js"), "utf8");
        expect(bundle.trimEnd().endsWith("//# sourceMappingURL=index.js.map")).toBe(true);
        expect(JSON.parse(fs.readFileSync(path.join(pkg.dir, "index.js.map"), "utf8")).version).toBe(3);
    });

    it("bundles the triggers and @azure/functions but leaves @azure/functions-core to the worker", () => {
        expect(pkg.bundledInputs).toEqual(
            expect.arrayContaining(["src/index.ts", "src/functions/event.ts", "src/functions/sweep.ts"]),
        );
        expect(pkg.bundledInputs.some((i) => i.includes("@azure/functions/"))).toBe(true);
        expect(pkg.bundledInputs.some((i) => i.includes("functions-core"))).toBe(false);
        const bundle = fs.readFileSync(path.join(pkg.dir, "index.js"), "utf8");
        expect(bundle).toContain('require("@azure/functions-core")');
    });

    it("keeps the bundle small (minified, one file, no node_modules in the package)", () => {
        expect(pkg.bundleBytes).toBe(fs.statSync(path.join(pkg.dir, "index.js")).size);
        expect(pkg.bundleBytes).toBeGreaterThan(20_000);
        // The limit for the deployed bundle: 1.5 MB.
        expect(pkg.bundleBytes).toBeLessThanOrEqual(1.5 * 1024 * 1024);
        expect(fs.statSync(pkg.zipPath).size).toBeLessThanOrEqual(1.5 * 1024 * 1024);
    });

    it("zips exactly the deploy folder, deterministically, and hashes the zip", () => {
        const zip = fs.readFileSync(pkg.zipPath);
        expect(crypto.createHash("sha256").update(zip).digest("hex")).toBe(pkg.sha256);
        const entries = readZip(zip);
        expect([...entries.keys()]).toEqual([...pkg.files]);
        for (const [name, data] of entries) expect(data.equals(fs.readFileSync(path.join(pkg.dir, name)))).toBe(true);
        // A fresh build elsewhere (not a reuse) makes the same bytes.
        const again = buildHandlerPackage(path.join(tmp, "b"));
        expect(again.reused).toBe(false);
        expect(again.sha256).toBe(pkg.sha256);
    });

    it("the bundle registers gate-event (Event Grid) and gate-sweep (timer on %SWEEP_SCHEDULE%) with the host", () => {
        const registered = loadBundle(path.join(pkg.dir, "index.js"));
        expect(registered.map((r) => r.name).sort()).toEqual([...HANDLER_FUNCTIONS].sort());
        const event = registered.find((r) => r.name === "gate-event")!;
        const eventTriggers = Object.values(event.bindings).filter((b) => b.direction === "in");
        expect(eventTriggers).toHaveLength(1);
        expect(eventTriggers[0]!.type).toBe("eventGridTrigger");
        const sweep = registered.find((r) => r.name === "gate-sweep")!;
        const timer = Object.values(sweep.bindings).find((b) => b.direction === "in")!;
        expect(timer.type).toBe("timerTrigger");
        expect(timer.schedule).toBe("%SWEEP_SCHEDULE%");
        expect(timer.runOnStartup).toBe(false);
    });

    it("the bundled handlers log each invocation, then refuse to decide without their app settings", async () => {
        const registered = loadBundle(path.join(pkg.dir, "index.js"));
        const lines: string[] = [];
        const context = {
            invocationId: "inv-1",
            log: (line: string) => lines.push(line),
            warn: (line: string) => lines.push(line),
            error: (line: string) => lines.push(line),
        };
        const saved = { ...process.env };
        for (const k of ["FLEET_ID", "SUBSCRIPTION_ID", "APPROVAL_RULES", "AZURE_CLIENT_ID"]) delete process.env[k];
        try {
            const event = registered.find((r) => r.name === "gate-event")!;
            await expect(
                event.handler(
                    {
                        id: "e1",
                        eventType: "Microsoft.ResourceNotifications.AKSResources.FleetGateCreated",
                        subject: "gates/g1",
                        topic: "/subscriptions/x",
                        eventTime: "2026-06-01T00:00:00Z",
                        dataVersion: "1",
                        metadataVersion: "1",
                        data: {},
                    },
                    context,
                ),
            ).rejects.toThrow(/invalid app settings: .*FLEET_ID/);
            const sweep = registered.find((r) => r.name === "gate-sweep")!;
            await expect(
                sweep.handler({ isPastDue: true, scheduleStatus: { last: "a", next: "b" } }, context),
            ).rejects.toThrow(/invalid app settings: .*FLEET_ID/);
        } finally {
            process.env = saved;
        }
        expect(JSON.parse(lines[0]!)).toEqual({
            msg: "gate event received",
            function: "gate-event",
            invocationId: "inv-1",
            id: "e1",
            type: "Microsoft.ResourceNotifications.AKSResources.FleetGateCreated",
            subject: "gates/g1",
            source: "/subscriptions/x",
            time: "2026-06-01T00:00:00Z",
            schema: "EventGrid",
        });
        expect(
            lines.map((l) => JSON.parse(l) as { msg: string }).find((l) => l.msg === "gate sweep tick"),
        ).toMatchObject({
            function: "gate-sweep",
            isPastDue: true,
        });
    });

    it("npm run build -w handlers/gate-approval produces the same bundle and deploy folder as the program's build", () => {
        const out = path.join(tmp, "b");
        execFileSync(process.execPath, ["--import", "tsx", path.join(HANDLER_DIR, "build.ts"), out], { stdio: "pipe" });
        expect(
            fs.readFileSync(path.join(out, "index.js")).equals(fs.readFileSync(path.join(pkg.dir, "index.js"))),
        ).toBe(true);
        for (const f of ["host.json", "package.json", "index.js"]) {
            expect(fs.readFileSync(path.join(out, "package", f)).equals(fs.readFileSync(path.join(pkg.dir, f)))).toBe(
                true,
            );
        }
        expect(fs.readdirSync(path.join(out, "package")).sort()).toEqual([...pkg.files]);
    });
});

describe("zipFiles", () => {
    it.each([
        [[]],
        [[{ name: "a.txt", data: Buffer.from("hello") }]],
        [
            [
                { name: "x/y.json", data: Buffer.from("{}") },
                { name: "empty", data: Buffer.alloc(0) },
                { name: "ü.bin", data: crypto.randomBytes(5000) },
            ],
        ],
    ])("round-trips %#", (entries) => {
        const zip = zipFiles(entries);
        const read = readZip(zip);
        expect([...read.keys()]).toEqual(entries.map((e) => e.name));
        for (const e of entries) expect(read.get(e.name)!.equals(Buffer.from(e.data))).toBe(true);
        expect(zipFiles(entries).equals(zip)).toBe(true);
    });

    it("is readable by unzip", () => {
        const file = path.join(tmp, "check.zip");
        fs.writeFileSync(file, zipFiles([{ name: "host.json", data: Buffer.from('{"version":"2.0"}') }]));
        let listing: string;
        try {
            listing = execFileSync("unzip", ["-t", file], { encoding: "utf8" });
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // no unzip on this runner
            throw e;
        }
        expect(listing).toContain("No errors detected");
    });
});

describe("publish helpers", () => {
    it.each([
        [
            "func-fleet-gates-dev-abc123.azurewebsites.net",
            undefined,
            "https://func-fleet-gates-dev-abc123.scm.azurewebsites.net",
        ],
        ["App-H4sh.westeurope-01.azurewebsites.net", [], "https://app-h4sh.scm.westeurope-01.azurewebsites.net"],
        [
            "app.azurewebsites.net",
            [
                { name: "app.azurewebsites.net", hostType: "Standard" },
                { name: "app.scm.custom.example", hostType: "Repository" },
            ],
            "https://app.scm.custom.example",
        ],
    ])("scmBaseUrlFor(%s)", (host, states, expected) => {
        expect(scmBaseUrlFor(host, states)).toBe(expected);
    });

    it.each(["", "localhost", "bad host.example"])("scmBaseUrlFor rejects %j", (host) => {
        expect(() => scmBaseUrlFor(host)).toThrow(/not a site host name/);
    });

    it.each([
        [202, '"6a1b2c3d-0000-4000-8000-000000000001"', "accepted"],
        [200, "", "accepted"],
        [400, "BlobUploadFailedException: Response status code does not indicate success: 403", "retry"],
        [400, "This request is not authorized to perform this operation", "retry"],
        [400, "Package is not a valid zip file", "fail"],
        [401, "", "fail"],
        [403, "Ip Forbidden", "retry"],
        [404, "", "fail"],
        [409, "There is a deployment currently in progress", "retry"],
        [413, "", "fail"],
        [429, "", "retry"],
        [500, "", "retry"],
        [503, "", "retry"],
    ] as const)("classifyPublishResponse(%i, %j) = %s", (status, body, expected) => {
        expect(classifyPublishResponse(status, body)).toBe(expected);
    });

    it.each([
        ['"6A1B2C3D-0000-4000-8000-000000000001"', "6a1b2c3d-0000-4000-8000-000000000001"],
        ["6a1b2c3d-0000-4000-8000-000000000001\n", "6a1b2c3d-0000-4000-8000-000000000001"],
        ["", undefined],
        ['{"id":"x"}', undefined],
    ])("parseDeploymentId(%j)", (body, expected) => {
        expect(parseDeploymentId(body)).toBe(expected);
    });

    it.each([
        [-1, "failed"],
        [0, "running"],
        [1, "running"],
        [2, "running"],
        [3, "failed"],
        [4, "succeeded"],
        [5, "failed"],
        [6, "failed"],
        ["4", "failed"],
        [undefined, "failed"],
    ] as const)("deploymentOutcome(%j) = %s", (status, expected) => {
        expect(deploymentOutcome(status)).toBe(expected);
    });

    it.each([
        [{ value: [{ name: "app/gate-sweep" }, { name: "app/gate-event" }] }, ["gate-event", "gate-sweep"]],
        [{ value: [] }, []],
        [{ value: [{ id: 1 }, { name: 3 }] }, []],
        [null, []],
        [{}, []],
    ])("registeredFunctionNames(%j)", (body, expected) => {
        expect(registeredFunctionNames(body)).toEqual(expected);
    });

    it("diff publishes again only when the package, the app or the function set changes, never for a new token", async () => {
        const olds = {
            appId: "/a",
            scmBaseUrl: "https://s",
            packageHash: "h1",
            functionNames: ["gate-event"],
            deploymentId: "d",
        };
        const same = { ...olds, accessToken: "fresh-token" };
        expect((await handlerPublishProvider.diff!("id", olds, same)).changes).toBe(false);
        expect((await handlerPublishProvider.diff!("id", olds, { ...same, packageHash: "h2" })).changes).toBe(true);
        expect((await handlerPublishProvider.diff!("id", olds, { ...same, appId: "/b" })).changes).toBe(true);
        expect(
            (await handlerPublishProvider.diff!("id", olds, { ...same, functionNames: ["gate-event", "x"] })).changes,
        ).toBe(true);
        expect((await handlerPublishProvider.diff!("id", olds, same)).replaces).toEqual([]);
    });
});

// The publish itself (OneDeploy over HTTPS, through the serialized provider): handler-publish-serialized.test.ts.

describe("reusing an unchanged build", () => {
    const recordOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, BUILD_RECORD), "utf8"));
    const indexHash = () =>
        crypto
            .createHash("sha256")
            .update(fs.readFileSync(path.join(HANDLER_DIR, "src", "index.ts")))
            .digest("hex");

    it("reuses a build of the same inputs: same package, nothing written again", () => {
        const dir = path.join(tmp, "reuse");
        const first = buildHandlerPackage(dir);
        expect(first.reused).toBe(false);
        const record = recordOf(dir);
        expect(Object.keys(record.inputs)).toEqual([...first.bundledInputs]);
        expect(record.inputs["src/index.ts"]).toBe(indexHash());
        const zipTime = fs.statSync(first.zipPath).mtimeMs;
        const second = buildHandlerPackage(dir);
        expect(second).toEqual({ ...first, reused: true });
        expect(fs.statSync(second.zipPath).mtimeMs).toBe(zipTime);
    });

    it.each([
        [
            "an input whose content changed",
            (r: { inputs: Record<string, string> }) => (r.inputs["src/index.ts"] = "0".repeat(64)),
        ],
        [
            "an input that is gone",
            (r: { inputs: Record<string, string> }) => (r.inputs["src/gone.ts"] = "0".repeat(64)),
        ],
        ["another recipe (bundle.ts, host.json, a manifest or the lock)", (r: { recipe: string }) => (r.recipe = "x")],
        ["another zip", (r: { sha256: string }) => (r.sha256 = "0".repeat(64))],
    ])("builds again after %s", (_what, change) => {
        const dir = path.join(tmp, `again-${crypto.randomBytes(3).toString("hex")}`);
        const first = buildHandlerPackage(dir);
        const record = recordOf(dir);
        change(record);
        fs.writeFileSync(path.join(dir, BUILD_RECORD), JSON.stringify(record));
        const second = buildHandlerPackage(dir);
        expect(second.reused).toBe(false);
        expect(second.sha256).toBe(first.sha256);
        expect(recordOf(dir).inputs["src/index.ts"]).toBe(indexHash());
        expect(buildHandlerPackage(dir).reused).toBe(true);
    });

    it("builds again when the deploy folder no longer matches its zip, and restores it", () => {
        const dir = path.join(tmp, "damaged");
        const first = buildHandlerPackage(dir);
        const bundle = path.join(first.dir, "index.js");
        const good = fs.readFileSync(bundle);
        fs.writeFileSync(bundle, "// edited by hand\n");
        const second = buildHandlerPackage(dir);
        expect(second.reused).toBe(false);
        expect(fs.readFileSync(bundle).equals(good)).toBe(true);
    });
});
