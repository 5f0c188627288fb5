/**
 * `npm run bench`: the project's benchmarks. Writes `bench/results.md` with the machine and date.
 * Timings are wall-clock medians of repeated runs after a warm-up; they are measurements, not tests.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { generateStackYaml } from "./generate";
import { hostSpeedProbe, median, type Row } from "./common";
import { benchCliReplay } from "./cli-replay";
import { benchBundle, benchReplay } from "./handler";
import { benchFilters, benchRehearsal } from "./rehearse";

/** The node flags the npm scripts use, so the bench measures what users run. */
export const NODE_FLAGS = ["--max-semi-space-size=64", "--import", "tsx"];

function planInFreshProcess(dir: string, stack: string): { ms: number; resources: number } {
    const run = spawnSync(process.execPath, [...NODE_FLAGS, path.join(__dirname, "plan-once.ts"), dir, stack], {
        encoding: "utf8",
        cwd: path.resolve(__dirname, ".."),
    });
    if (run.status !== 0) throw new Error(`plan of ${stack} failed: ${run.stderr}`);
    return JSON.parse(run.stdout.trim().split("\n").pop()!) as { ms: number; resources: number };
}

async function benchPlan(): Promise<{ rows: Row[]; notes: string[] }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-bench-"));
    const sizes = [25, 100, 400];
    const rows: Row[] = [];
    const points: { n: number; ms: number; resources: number }[] = [];
    try {
        for (const n of sizes) writeFileSync(path.join(dir, `Pulumi.m${n}.yaml`), generateStackYaml({ members: n }));
        for (const n of sizes) {
            const runs = [0, 1, 2].map(() => planInFreshProcess(dir, `m${n}`));
            const ms = median(runs.map((r) => r.ms));
            points.push({ n, ms, resources: runs[0]!.resources });
            rows.push({
                label: `plan, ${n} members (${runs[0]!.resources} resources)`,
                value: `${(ms / 1000).toFixed(2)} s (${(ms / n).toFixed(0)} ms per member)`,
            });
        }
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
    const [p25, p100, p400] = points as [(typeof points)[0], (typeof points)[0], (typeof points)[0]];
    const marginal = (p400.ms - p25.ms) / (p400.n - p25.n);
    rows.push({ label: "plan, marginal cost per member (25 → 400)", value: `${marginal.toFixed(1)} ms` });
    const ratio = p400.ms / p400.n / (p100.ms / p100.n);
    const notes = [
        `Target: 100 members < 10 s — ${p100.ms < 10_000 ? "met" : "NOT met"} (${(p100.ms / 1000).toFixed(2)} s).`,
        `Linearity: time per member at 400 is ${ratio.toFixed(2)}× the time per member at 100 (1.00 = linear).`,
        "Each plan runs in a fresh process, as `npm run plan` does; module loading (start-up) is excluded.",
    ];
    return { rows, notes };
}

function machine(): string {
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}

const CLI_REPLAY_TITLE = "Whole CLI: `npm run replay`";
const CLI_REPLAY_INTRO =
    "The command a user runs, end to end in fresh processes: 1 event and 4,000 events of a generated 30-member stack whose rules are window checks (`bench/cli-replay.ts`).";

/** One section of results.md: title, intro, the measurements as a table, then the notes. */
function table(title: string, intro: string, r: { rows: Row[]; notes: string[] }): string[] {
    return [
        `## ${title}`,
        "",
        intro,
        "",
        "| measurement | value |",
        "|---|---|",
        ...r.rows.map((x) => `| ${x.label} | ${x.value} |`),
        "",
        ...r.notes.map((n) => `- ${n}`),
        "",
    ];
}

/**
 * `npm run bench -- --only cli-replay`: measures only the whole-CLI replay and replaces that section
 * of `results.md` (stamped with its own machine and date), leaving the other sections as they were.
 */
function onlyCliReplay(): void {
    const file = path.join(__dirname, "results.md");
    const before = hostSpeedProbe();
    const r = benchCliReplay();
    const stamp = `Measured on its own (\`npm run bench -- --only cli-replay\`): ${machine()}, ${new Date().toISOString().slice(0, 10)}, load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" / ")} (1 / 5 / 15 min) at the end; ${speedLine(before, hostSpeedProbe())}.`;
    const section = table(CLI_REPLAY_TITLE, `${CLI_REPLAY_INTRO}\n\n${stamp}`, r).join("\n");
    const text = readFileSync(file, "utf8");
    const start = text.indexOf(`## ${CLI_REPLAY_TITLE}`);
    const next = start < 0 ? -1 : text.indexOf("\n## ", start + 1);
    const updated =
        start < 0
            ? `${text.trimEnd()}\n\n${section}`
            : `${text.slice(0, start)}${section}${next < 0 ? "" : text.slice(next + 1)}`;
    writeFileSync(file, updated);
    process.stdout.write(`${section}\n`);
}

/** The host's speed probe before and after a measurement (`hostSpeedProbe`). */
function speedLine(before: number, after: number): string {
    return `host speed probe ${before.toFixed(0)} ms before, ${after.toFixed(0)} ms after (a fixed CPU workload; lower is faster)`;
}

async function main(): Promise<void> {
    if (process.argv.includes("--only")) {
        const what = process.argv[process.argv.indexOf("--only") + 1];
        if (what !== "cli-replay") throw new Error(`--only ${String(what)}: only "cli-replay" can run on its own`);
        onlyCliReplay();
        return;
    }
    const before = hostSpeedProbe();
    const sections: string[] = [
        ...table(
            "Offline plan (program under Pulumi mocks)",
            "Generated stacks: members in groups of 10 over 3 stages, a Before gate per stage, an After gate and a rule per group. Median of 3 runs, each in a fresh process.",
            await benchPlan(),
        ),
    ];
    sections.push(
        ...table(
            "Gate handler: replay against the ARM emulator",
            "The real Event Grid trigger, engine, ARM client and checks, through `local/simulate/replay.ts`.",
            benchReplay(),
        ),
        ...table(CLI_REPLAY_TITLE, CLI_REPLAY_INTRO, benchCliReplay()),
        ...table(
            "Gate handler: bundle",
            "The package `pulumi up` deploys (`handlers/gate-approval/bundle.ts`).",
            benchBundle(),
        ),
        ...table(
            "Rehearsal",
            "A whole update run of a generated stack through Event Grid filters and the real handler (`local/simulate/rehearse/`).",
            await benchRehearsal(),
        ),
        ...table(
            "Event Grid filter evaluation",
            "`core/event-filter.ts`, compiled once per subscription.",
            benchFilters(),
        ),
    );
    const text = [
        "# Benchmark results",
        "",
        `Machine: ${machine()}`,
        `Date: ${new Date().toISOString().slice(0, 10)}`,
        `Host: ${speedLine(before, hostSpeedProbe())}; this shared host runs up to about half slower in some periods, and every figure moves with it.`,
        "Rerun: `npm run bench` (rewrites this file); `npm run bench -- --only cli-replay` reruns only the whole-CLI replay section.",
        "",
        ...sections,
    ].join("\n");
    writeFileSync(path.join(__dirname, "results.md"), text);
    process.stdout.write(`${text}\n`);
}

main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
});
