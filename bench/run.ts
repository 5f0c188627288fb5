/**
 * `npm run bench`: the project's benchmarks. Writes `bench/results.md` with the machine and date.
 * Timings are wall-clock medians of repeated runs after a warm-up; they are measurements, not tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { planStack } from "../local/plan";
import { generateStackYaml } from "./generate";

interface Row {
    readonly label: string;
    readonly value: string;
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
}

async function benchPlan(): Promise<{ rows: Row[]; notes: string[] }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-bench-"));
    const sizes = [25, 100, 400];
    const rows: Row[] = [];
    const points: { n: number; ms: number; resources: number }[] = [];
    try {
        for (const n of sizes) writeFileSync(path.join(dir, `Pulumi.m${n}.yaml`), generateStackYaml({ members: n }));
        await planStack("m25", { dir }); // warm-up: module loading is start-up, not per-plan cost
        for (const n of sizes) {
            const runs: number[] = [];
            let resources = 0;
            for (let i = 0; i < 3; i++) {
                const t0 = performance.now();
                const p = await planStack(`m${n}`, { dir });
                runs.push(performance.now() - t0);
                resources = p.resources.filter((r) => r.custom).length;
            }
            const ms = median(runs);
            points.push({ n, ms, resources });
            rows.push({ label: `plan, ${n} members (${resources} resources)`, value: `${(ms / 1000).toFixed(2)} s` });
        }
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
    const first = points[0]!;
    const last = points[points.length - 1]!;
    const perMember = (last.ms - first.ms) / (last.n - first.n);
    rows.push({ label: "plan, marginal cost per member (25 → 400)", value: `${perMember.toFixed(1)} ms` });
    const ratio = last.ms / last.n / (points[1]!.ms / points[1]!.n);
    const notes = [
        `Target: 100 members < 10 s — ${points[1]!.ms < 10_000 ? "met" : "NOT met"}.`,
        `Linearity: time per member at 400 is ${ratio.toFixed(2)}× the time per member at 100 (1.0 = linear).`,
    ];
    return { rows, notes };
}

function machine(): string {
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}

async function main(): Promise<void> {
    const sections: string[] = [];
    const plan = await benchPlan();
    sections.push(
        "## Offline plan (program under Pulumi mocks)",
        "",
        "Generated stacks: members in groups of 10 over 3 stages, a Before gate per stage, an After gate and a rule per group. Median of 3 runs after a warm-up.",
        "",
        "| measurement | value |",
        "|---|---|",
        ...plan.rows.map((r) => `| ${r.label} | ${r.value} |`),
        "",
        ...plan.notes.map((n) => `- ${n}`),
        "",
    );
    const text = [
        "# Benchmark results",
        "",
        `Machine: ${machine()}`,
        `Date: ${new Date().toISOString().slice(0, 10)}`,
        "Rerun: `npm run bench` (rewrites this file).",
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
