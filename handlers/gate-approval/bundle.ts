/**
 * The gate handler's bundle recipe: esbuild bundles `src/index.ts` and everything it imports into
 * `dist/index.js`, next to a deploy folder `dist/package/` (`host.json`, a dependency-free
 * `package.json`, the bundle) and a deterministic `dist/package.zip` whose hash moves only with the
 * code. `build.ts` runs it for `npm run build -w handlers/gate-approval`; the Pulumi program's
 * `components/handler-package.ts` runs the same recipe at `pulumi up`, so both deploy the same bytes.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as esbuild from "esbuild";
import * as fflate from "fflate";

/** The handler's workspace package (this folder). */
export const HANDLER_DIR = path.resolve(__dirname);

/** The Event Grid trigger (`src/functions/event.ts`). */
export const GATE_EVENT_FUNCTION = "gate-event";
/** The reconcile sweep timer (`src/functions/sweep.ts`). */
export const GATE_SWEEP_FUNCTION = "gate-sweep";
/** Functions the bundle always registers; the publish waits until ARM lists all of them. */
export const HANDLER_FUNCTIONS: readonly string[] = [GATE_EVENT_FUNCTION, GATE_SWEEP_FUNCTION];
/**
 * The hub approval loop's timer (`src/functions/approval-requests.ts`), registered only when the app
 * has `HUB_SERVER`: the publish of a stack with placements waits for it too.
 */
export const HUB_APPROVAL_FUNCTION = "approval-requests";

export interface HandlerPackage {
    /** The deploy folder: `host.json`, a dependency-free `package.json`, `index.js` (+ map). */
    readonly dir: string;
    /** The zipped deploy folder, byte-for-byte deterministic for the same sources. */
    readonly zipPath: string;
    /** Hex SHA-256 of the zip; changes exactly when the deployed code changes. */
    readonly sha256: string;
    /** Size of the bundled `index.js`. */
    readonly bundleBytes: number;
    /** Files in the deploy folder, sorted. */
    readonly files: readonly string[];
    /** Source files esbuild put in the bundle (paths relative to the handler folder). */
    readonly bundledInputs: readonly string[];
}

/** esbuild options of the handler bundle (`npm run build -w handlers/gate-approval` runs this builder too). */
function bundleOptions(handlerDir: string, outDir: string): esbuild.BuildOptions {
    return {
        absWorkingDir: handlerDir,
        entryPoints: [path.join(handlerDir, "src", "index.ts")],
        outfile: path.join(outDir, "index.js"),
        bundle: true,
        platform: "node",
        target: "node20",
        format: "cjs",
        // Provided by the Functions Node.js worker at run time; never bundled.
        external: ["@azure/functions-core"],
        minify: true,
        sourcemap: "linked",
        // Stack traces map to our sources' file and line; the sources' text need not ship in the package.
        sourcesContent: false,
        metafile: true,
        logLevel: "silent",
    };
}

/**
 * Writes `data` to `file` atomically (temp file + rename), so concurrent builds (parallel test
 * workers, a watcher) never leave a half-written bundle or zip for a reader.
 */
function writeAtomic(file: string, data: string | Uint8Array): void {
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
}

/**
 * Bundles the handler and writes `<outDir>/index.js(.map)`, the deploy folder `<outDir>/package/`
 * and `<outDir>/package.zip`. Synchronous, so a component constructor can call it.
 * `outDir` defaults to `handlers/gate-approval/dist`.
 */
export function buildHandlerPackage(outDir: string = path.join(HANDLER_DIR, "dist")): HandlerPackage {
    const handlerDir = HANDLER_DIR;
    const packageDir = path.join(outDir, "package");
    const result = esbuild.buildSync({ ...bundleOptions(handlerDir, outDir), write: false });
    if (result.errors.length > 0) {
        throw new Error(`handler bundle failed: ${result.errors.map((e) => e.text).join("; ")}`);
    }
    fs.mkdirSync(packageDir, { recursive: true });
    const own = JSON.parse(fs.readFileSync(path.join(handlerDir, "package.json"), "utf8")) as {
        name: string;
        version: string;
    };
    const contents = new Map<string, Uint8Array>();
    contents.set("host.json", fs.readFileSync(path.join(handlerDir, "host.json")));
    contents.set(
        "package.json",
        Buffer.from(
            `${JSON.stringify({ name: own.name, version: own.version, private: true, main: "index.js" }, null, 2)}\n`,
        ),
    );
    let bundleBytes = 0;
    for (const file of result.outputFiles ?? []) {
        const base = path.basename(file.path);
        writeAtomic(path.join(outDir, base), file.contents);
        contents.set(base, file.contents);
        if (base === "index.js") bundleBytes = file.contents.byteLength;
    }
    if (!contents.has("index.js")) throw new Error("handler bundle produced no index.js");
    const files = [...contents.keys()].sort();
    for (const f of files) writeAtomic(path.join(packageDir, f), contents.get(f)!);
    const zip = zipFiles(files.map((name) => ({ name, data: contents.get(name)! })));
    const zipPath = path.join(outDir, "package.zip");
    writeAtomic(zipPath, zip);
    const bundledInputs = Object.keys(result.metafile?.inputs ?? {}).sort();
    return {
        dir: packageDir,
        zipPath,
        sha256: crypto.createHash("sha256").update(zip).digest("hex"),
        bundleBytes,
        files,
        bundledInputs,
    };
}

export interface ZipEntry {
    readonly name: string;
    readonly data: Uint8Array;
}

/** 1980-01-01 00:00 local time: DOS timestamps are local, so this gives the same bytes in every time zone. */
const ZIP_EPOCH = new Date(1980, 0, 1);

/**
 * A deterministic zip (deflate, fixed timestamps, entries in the given order, mode 0644): the same
 * files always give the same bytes, so the hash only moves with the code.
 */
export function zipFiles(entries: readonly ZipEntry[]): Buffer {
    const files: fflate.Zippable = {};
    for (const e of entries)
        files[e.name] = [e.data, { level: 9, mtime: ZIP_EPOCH, os: 3, attrs: (0o100644 << 16) >>> 0 }];
    return Buffer.from(fflate.zipSync(files));
}
