/**
 * Handler benchmarks: replay throughput against the emulator, the handler's own decision time
 * (transport excluded), request and token budgets, bundle size and cold import time.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as esbuild from "esbuild";
import { buildHandlerPackage } from "../components/handler-package";
import { median, type Row } from "./common";

/**
 * Replay throughput, decision time and request budgets (`replay-run.ts`), measured in a fresh
 * process from an esbuild bundle with the handler bundle's settings (node20, CommonJS, minified);
 * packages stay external and resolve from the repository's node_modules.
 */
export function benchReplay(events = 3000, warmup = 200, concurrency = 16): { rows: Row[]; notes: string[] } {
    const outDir = path.join(__dirname, ".build");
    mkdirSync(outDir, { recursive: true });
    const outfile = path.join(outDir, "replay-run.js");
    esbuild.buildSync({
        entryPoints: [path.join(__dirname, "replay-run.ts")],
        outfile,
        bundle: true,
        platform: "node",
        target: "node20",
        format: "cjs",
        minify: true,
        packages: "external",
        logLevel: "silent",
    });
    const run = spawnSync(
        process.execPath,
        ["--max-semi-space-size=64", outfile, String(events), String(warmup), String(concurrency)],
        { encoding: "utf8", cwd: path.resolve(__dirname, ".."), maxBuffer: 16 * 1024 * 1024 },
    );
    if (run.status !== 0) throw new Error(`replay bench failed: ${run.stderr}`);
    return JSON.parse(run.stdout.trim().split("\n").pop()!) as { rows: Row[]; notes: string[] };
}

/** Loads the bundle in a fresh Node process, as the Functions worker would (its host module stubbed). */
const COLD_IMPORT = `
const Module = require("node:module");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
    return request === "@azure/functions-core" ? "@azure/functions-core" : resolve.call(this, request, ...rest);
};
require.cache["@azure/functions-core"] = { id: "@azure/functions-core", filename: "@azure/functions-core", loaded: true,
    exports: { setProgrammingModel() {}, registerFunction() { return { dispose() {} }; }, registerHook() { return { dispose() {} }; } } };
const t0 = process.hrtime.bigint();
require(process.argv[1]);
process.stdout.write(String(Number(process.hrtime.bigint() - t0) / 1e6));
`;

export function benchBundle(runs = 7): { rows: Row[]; notes: string[] } {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-bench-bundle-"));
    try {
        const pkg = buildHandlerPackage(dir);
        const bundle = path.join(pkg.dir, "index.js");
        const times = Array.from({ length: runs }, () => {
            const run = spawnSync(process.execPath, ["-e", COLD_IMPORT, bundle], { encoding: "utf8" });
            if (run.status !== 0) throw new Error(`cold import failed: ${run.stderr}`);
            return Number(run.stdout);
        });
        const ms = median(times);
        const mb = pkg.bundleBytes / (1024 * 1024);
        return {
            rows: [
                {
                    label: "handler bundle (minified, one file)",
                    value: `${(pkg.bundleBytes / 1024).toFixed(0)} KiB (${mb.toFixed(2)} MiB)`,
                },
                { label: `cold import of the bundle, median of ${runs} fresh processes`, value: `${ms.toFixed(0)} ms` },
            ],
            notes: [
                `Targets: bundle ≤ 1.5 MB — ${mb <= 1.5 ? "met" : "NOT met"}; cold import < 250 ms — ${ms < 250 ? "met" : "NOT met"}.`,
            ],
        };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}
