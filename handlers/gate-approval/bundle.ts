/**
 * The gate handler's bundle recipe: esbuild bundles `src/index.ts` and everything it imports into
 * `dist/index.js`, next to a deploy folder `dist/package/` (`host.json`, a dependency-free
 * `package.json`, the bundle) and a deterministic `dist/package.zip` whose hash moves only with the
 * code. `build.ts` runs it for `npm run build -w handlers/gate-approval`; the Pulumi program's
 * `components/handler-package.ts` runs the same recipe at `pulumi up`, so both deploy the same bytes.
 * A build whose inputs are unchanged is reused (`build-record.json`, checked by content hashes).
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
    /** True when an earlier build of the same inputs was reused (`build-record.json`). */
    readonly reused: boolean;
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
    const recordFile = path.join(outDir, BUILD_RECORD);
    const recipe = recipeHash(handlerDir);
    const kept = keptBuild(recordFile, recipe, handlerDir, packageDir, path.join(outDir, "package.zip"));
    if (kept) return kept;
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
    const pkg: HandlerPackage = {
        dir: packageDir,
        zipPath,
        sha256: sha256(zip),
        bundleBytes,
        files,
        bundledInputs,
        reused: false,
    };
    writeAtomic(recordFile, JSON.stringify(buildRecord(handlerDir, recipe, pkg)));
    return pkg;
}

// ----- reusing an unchanged build ---------------------------------------------------------------

/** Beside a build: what it read (with content hashes) and what it made, so the same inputs reuse it. */
export const BUILD_RECORD = "build-record.json";

interface BuildRecord {
    /** Hashes of what decides the build besides its inputs: this recipe, host.json, the manifests, the lock. */
    readonly recipe: string;
    /** Every file esbuild read (relative to the handler folder) and its content hash. */
    readonly inputs: Readonly<Record<string, string>>;
    readonly sha256: string;
    readonly bundleBytes: number;
    readonly files: readonly string[];
}

function sha256(data: string | Uint8Array): string {
    return crypto.createHash("sha256").update(data).digest("hex");
}

/** What decides a build besides the bundled sources, hashed: a change to any of them builds again. */
function recipeHash(handlerDir: string): string {
    const files = [
        __filename,
        path.join(handlerDir, "host.json"),
        path.join(handlerDir, "package.json"),
        path.join(handlerDir, "tsconfig.json"),
        path.join(handlerDir, "..", "..", "package-lock.json"),
    ];
    return sha256(files.map((f) => `${f}\u0000${fs.existsSync(f) ? sha256(fs.readFileSync(f)) : "-"}`).join("\n"));
}

function buildRecord(handlerDir: string, recipe: string, pkg: HandlerPackage): BuildRecord {
    const inputs: Record<string, string> = {};
    for (const f of pkg.bundledInputs) inputs[f] = sha256(fs.readFileSync(path.resolve(handlerDir, f)));
    return {
        recipe,
        inputs,
        sha256: pkg.sha256,
        bundleBytes: pkg.bundleBytes,
        files: pkg.files,
    };
}

/**
 * The build recorded in `recordFile` when it is still what a build would make: the same recipe,
 * every input with the content it had, and the zip and deploy folder as written. Anything else
 * (no record, a changed or missing file, a damaged record) is undefined: build again.
 */
function keptBuild(
    recordFile: string,
    recipe: string,
    handlerDir: string,
    packageDir: string,
    zipPath: string,
): HandlerPackage | undefined {
    try {
        const r = JSON.parse(fs.readFileSync(recordFile, "utf8")) as BuildRecord;
        if (r.recipe !== recipe) return undefined;
        for (const [f, hash] of Object.entries(r.inputs))
            if (sha256(fs.readFileSync(path.resolve(handlerDir, f))) !== hash) return undefined;
        const zip = fs.readFileSync(zipPath);
        if (sha256(zip) !== r.sha256) return undefined;
        for (const [name, data] of readZipEntries(zip))
            if (!data.equals(fs.readFileSync(path.join(packageDir, name)))) return undefined;
        return {
            dir: packageDir,
            zipPath,
            sha256: r.sha256,
            bundleBytes: r.bundleBytes,
            files: r.files,
            bundledInputs: Object.keys(r.inputs).sort(),
            reused: true,
        };
    } catch {
        return undefined;
    }
}

/** The entries of a zip (fflate), for checking the deploy folder against it. */
function readZipEntries(zip: Uint8Array): [string, Buffer][] {
    return Object.entries(fflate.unzipSync(zip)).map(([name, data]) => [name, Buffer.from(data)]);
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
