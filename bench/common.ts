/** What the benchmarks share: result rows, order statistics, generated gate names, npm scripts' node arguments. */
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
