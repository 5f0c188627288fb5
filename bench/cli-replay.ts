/**
 * The whole `npm run replay` command, measured as a user runs it: a fresh process per run with the
 * npm script's own command line (read from package.json, then `FILE --stack bench --json`), with 1
 * and with 4,000 window-rule events. The difference of the two wall-clock times is the time the
 * extra 3,999 events took beyond start-up (module loading, stack file, emulator start), so
 * `3,999 / (t₄₀₀₀ − t₁)` is the CLI's throughput beyond start-up.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import type { StageSpec } from "../core/strategy";
import { OFFLINE_DEFAULTS } from "../local/plan/mocks";
import { median, npmScriptArgs, type Row } from "./common";
import { generateReplayEvents, generateStackYaml } from "./generate";

const ROOT = path.resolve(__dirname, "..");
const FLEET_ID = `/subscriptions/${OFFLINE_DEFAULTS.subscriptionId}/resourceGroups/rg-fleet-gates-bench/providers/Microsoft.ContainerService/fleets/flt-bench`;

interface Run {
    readonly ms: number;
    readonly decisions: { eventId: string | null; outcome: string }[];
}

function runCli(dir: string, file: string, concurrency: number | undefined): Run {
    const args = [
        ...npmScriptArgs("replay"),
        file,
        "--stack",
        "bench",
        "--dir",
        dir,
        "--json",
        ...(concurrency !== undefined ? ["--concurrency", String(concurrency)] : []),
    ];
    const t0 = performance.now();
    const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
    const ms = performance.now() - t0;
    if (run.status !== 0) throw new Error(`npm run replay failed: ${run.stderr}`);
    if (run.stderr.trim() !== "") throw new Error(`npm run replay printed to stderr: ${run.stderr.slice(0, 300)}`);
    return { ms, decisions: JSON.parse(run.stdout) as Run["decisions"] };
}

/** `npm run replay` end to end: 1 vs 4,000 events, `runs` pairs, default concurrency (16) and strictly in order. */
export function benchCliReplay(events = 4000, runs = 5): { rows: Row[]; notes: string[] } {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-bench-cli-"));
    try {
        const yaml = generateStackYaml({ members: 30, environment: "bench", check: "window" });
        writeFileSync(path.join(dir, "Pulumi.bench.yaml"), yaml);
        const stages = (
            (parse(yaml) as { config: Record<string, unknown> }).config["fleet-gates:updateStrategy"] as {
                stages: StageSpec[];
            }
        ).stages;
        const all = generateReplayEvents(stages, FLEET_ID, events) as { id: string }[];
        const one = path.join(dir, "one.json");
        const many = path.join(dir, "many.jsonl");
        writeFileSync(one, JSON.stringify(all.slice(0, 1)));
        writeFileSync(many, all.map((e) => JSON.stringify(e)).join("\n"));

        const measure = (concurrency: number | undefined) => {
            const pairs = Array.from({ length: runs }, () => {
                const small = runCli(dir, one, concurrency);
                const big = runCli(dir, many, concurrency);
                // Every event approved, and the decisions printed in input order.
                if (big.decisions.length !== events || big.decisions.some((d) => d.outcome !== "approved"))
                    throw new Error("npm run replay: not every event approved");
                if (big.decisions.some((d, i) => d.eventId !== all[i]!.id))
                    throw new Error("npm run replay: decisions not in input order");
                return { small: small.ms, big: big.ms, rate: (events - 1) / ((big.ms - small.ms) / 1000) };
            });
            return pairs;
        };
        const concurrent = measure(undefined);
        const ordered = measure(1);
        const fmt = (pairs: ReturnType<typeof measure>) =>
            `${Math.round(median(pairs.map((p) => p.rate)))} events/s (median of ${runs}: ${pairs.map((p) => Math.round(p.rate)).join(" / ")}; 1 event ${(median(pairs.map((p) => p.small)) / 1000).toFixed(2)} s, ${events} events ${(median(pairs.map((p) => p.big)) / 1000).toFixed(2)} s)`;
        const rate = median(concurrent.map((p) => p.rate));
        return {
            rows: [
                {
                    label: `npm run replay, ${events} window-rule events, default --concurrency 16, beyond start-up`,
                    value: fmt(concurrent),
                },
                {
                    label: `npm run replay, ${events} window-rule events, --concurrency 1, beyond start-up`,
                    value: fmt(ordered),
                },
            ],
            notes: [
                `Target: ≥ 1,000 events/s beyond start-up with the default concurrency — ${rate >= 1000 ? "met" : "NOT met"}.`,
                `Each run is a fresh process with the npm script's command line, \`node ${npmScriptArgs("replay").join(" ")}\` (tsx, no bundle); beyond start-up = ${events - 1} / (time of the ${events}-event run − time of the 1-event run). Every event approved, decisions in input order (checked).`,
                "The emulator runs on its own thread (`replay` uses a worker thread for it), as in the bundle benchmark above.",
            ],
        };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}
