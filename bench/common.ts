/** What the benchmarks share: result rows, order statistics, generated gate names, npm scripts' node arguments. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";

export interface Row {
    readonly label: string;
    readonly value: string;
}

/** The nearest-rank percentile `p` (0–100) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function median(xs: readonly number[]): number {
    return percentile(xs, 50);
}

/** A lower-case GUID numbered `n` (gate names as the service issues them). */
export function gateName(n: number): string {
    return `5e1f0000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

/** The arguments `npm run <name>` gives node (its script is `node <args…>`), from package.json. */
export function npmScriptArgs(name: string): string[] {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, "..", "package.json"), "utf8")) as {
        scripts: Record<string, string>;
    };
    const [command, ...args] = (pkg.scripts[name] ?? "").split(/\s+/);
    if (command !== "node") throw new Error(`npm script ${name} does not start with node: ${pkg.scripts[name]}`);
    return args;
}

/** A fixed CPU workload (a SHA-256 chain and an integer loop), run in a fresh process. */
const SPEED_PROBE = `
const crypto = require("node:crypto");
const t0 = process.hrtime.bigint();
let h = Buffer.alloc(64);
for (let i = 0; i < 300000; i++) h = crypto.createHash("sha256").update(h).digest();
let x = 0;
for (let i = 0; i < 3e7; i++) x = (x * 31 + i) | 0;
process.stdout.write(String(Number(process.hrtime.bigint() - t0) / 1e6 + (x & 0)));
`;

/**
 * Milliseconds the fixed workload takes: how fast this shared host runs at the moment (the same
 * command's figures move with it), so results from different periods can be told apart.
 */
export function hostSpeedProbe(): number {
    const run = spawnSync(process.execPath, ["-e", SPEED_PROBE], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`speed probe failed: ${run.stderr}`);
    return Number(run.stdout);
}
