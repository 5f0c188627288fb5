/**
 * The replay benchmark's measuring side, run as its own process from an esbuild bundle built the way
 * the deployed handler is built (`benchReplay` in `handler.ts` builds and starts it): what is timed
 * is the handler's code as compiled for Azure, not an on-the-fly TypeScript transform. It prints one
 * JSON line, `{ rows, notes }`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isMainThread } from "node:worker_threads";
import { parse } from "yaml";
import { gateEventFor } from "../core/event-filter";
import { gatePositions, type StageSpec } from "../core/strategy";
import { OFFLINE_DEFAULTS } from "../local/plan/mocks";
import { replay } from "../local/simulate/replay";
import { gateName, median, percentile, type Row } from "./common";
import { generateStackYaml } from "./generate";

function replayEvents(stages: readonly StageSpec[], fleetId: string, events: number): unknown[] {
    const positions = gatePositions(stages);
    return Array.from({ length: events }, (_, i) => {
        const g = positions[i % positions.length]!;
        return gateEventFor(
            {
                fleetId,
                gateName: gateName(i + 1),
                updateRunName: `run-${Math.floor(i / positions.length) + 1}`,
                stage: g.stage,
                ...(g.group !== undefined ? { group: g.group } : {}),
                timing: g.timing,
                displayName: g.displayName,
            },
            { schema: i % 2 === 0 ? "EventGridSchema" : "CloudEventSchemaV1_0" },
        );
    });
}

async function replayStack(check: "clusterHealth" | "window", events: number, concurrency: number) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-bench-replay-"));
    try {
        const yaml = generateStackYaml({ members: 30, environment: "bench", check });
        writeFileSync(path.join(dir, "Pulumi.bench.yaml"), yaml);
        const config = (parse(yaml) as { config: Record<string, unknown> }).config;
        const stages = (config["fleet-gates:updateStrategy"] as { stages: StageSpec[] }).stages;
        const fleetId = `/subscriptions/${OFFLINE_DEFAULTS.subscriptionId}/resourceGroups/rg-fleet-gates-bench/providers/Microsoft.ContainerService/fleets/flt-bench`;
        // The emulator runs in a worker thread: its own core, so the handler's throughput is what is measured.
        const r = await replay({
            stack: "bench",
            events: replayEvents(stages, fleetId, events),
            dir,
            concurrency,
            emulator: "worker",
        });
        const approved = r.decisions.filter((d) => d.outcome === "approved").length;
        if (approved !== events) {
            const other = r.decisions.find((d) => d.outcome !== "approved");
            throw new Error(`replay bench: ${events - approved} event(s) not approved, e.g. ${JSON.stringify(other)}`);
        }
        return r;
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

export async function measureReplay(
    events = 3000,
    warmup = 200,
    concurrency = 16,
): Promise<{ rows: Row[]; notes: string[] }> {
    // In order, one at a time: the handler's own time per decision and the request budgets.
    const seq = await replayStack("clusterHealth", events, 1);
    const own = seq.handlerMs.map((ms, i) => ms - seq.transportMs[i]!).slice(warmup);
    const count = (route: string) => seq.requestLog.filter((q) => q.route === route).length;
    const gateRequests = count("gates.get") + count("gates.patch") + count("operation.get");
    // Concurrent deliveries, as the Functions host handles them: throughput for two rule mixes.
    // Beyond start-up (the measure): events completed after the first `warmup` ones, over the
    // time they took. The whole-run rate, start-up included, is reported next to it.
    const perSecond = (r: Awaited<ReturnType<typeof replayStack>>) => {
        const done = [...r.completedMs].sort((a, b) => a - b);
        return ((done.length - warmup) / (done[done.length - 1]! - done[warmup - 1]!)) * 1000;
    };
    const overall = (r: Awaited<ReturnType<typeof replayStack>>) => (r.decisions.length / r.wallMs) * 1000;
    // The headline figure is the median of three runs: single runs on this machine vary by ±15 %.
    const windowRuns: Awaited<ReturnType<typeof replayStack>>[] = [];
    for (let i = 0; i < 3; i++) windowRuns.push(await replayStack("window", events, concurrency));
    const rates = windowRuns.map(perSecond);
    const windowRate = median(rates);
    const windowMix = windowRuns[rates.indexOf(windowRate)]!;
    const healthMix = await replayStack("clusterHealth", events, concurrency);
    const rows: Row[] = [
        {
            label: `replay throughput, window rules (2 ARM requests per event), ${concurrency} at a time, beyond start-up`,
            value: `${windowRate.toFixed(0)} events/s (median of 3 runs: ${rates.map((r) => r.toFixed(0)).join(" / ")}; that run whole, start-up included: ${overall(windowMix).toFixed(0)})`,
        },
        {
            label: `replay throughput, clusterHealth rules (13 ARM requests per event), ${concurrency} at a time`,
            value: `${perSecond(healthMix).toFixed(0)} events/s`,
        },
        {
            label: "replay throughput, clusterHealth rules, strictly in order",
            value: `${perSecond(seq).toFixed(0)} events/s`,
        },
        {
            label: "handler decision time, emulator excluded: p50 / p99",
            value: `${median(own).toFixed(2)} ms / ${percentile(own, 99).toFixed(2)} ms`,
        },
        { label: "gate API requests per approved gate (GET + PATCH)", value: (gateRequests / events).toFixed(2) },
        {
            label: "update-run reads per decision (clusterHealth)",
            value: (count("updateRuns.get") / events).toFixed(2),
        },
        {
            label: "cluster reads per decision (10 members in scope, ≤ 1 each)",
            value: (count("clusters.get") / events).toFixed(2),
        },
        { label: "token acquisitions per 1,000 events", value: ((seq.tokenAcquisitions / events) * 1000).toFixed(2) },
    ];
    const notes = [
        `Targets: ≥ 1,000 events/s — ${windowRate >= 1000 ? "met" : "NOT met"} (window rules); p99 decision time < 5 ms — ${percentile(own, 99) < 5 ? "met" : "NOT met"}; ≤ 2 gate requests per approval — ${gateRequests / events <= 2 ? "met" : "NOT met"}; 1 token per 1,000 events — ${seq.tokenAcquisitions <= Math.ceil(events / 1000) ? "met" : "NOT met"}.`,
        `Measured in a fresh process running an esbuild bundle built like the deployed handler (node20, CommonJS, minified). Each run replays ${events} FleetGateCreated events (both schemas, every gate approved) for a generated 30-member, 3-stage stack through the real Event Grid trigger, against the emulator over loopback TLS with no injected latency; the emulator runs on its own thread (a worker thread of this process, \`replay({ emulator: "worker" })\`), so the handler's thread and the emulator's use one of the 2 cores each. Throughput beyond start-up counts the events completed after the first ${warmup} of a run, over the time they took. Decision time excludes the time at least one HTTP request was in flight, after ${warmup} warm-up events. clusterHealth throughput is bounded by the emulator's request rate (13 requests per event).`,
    ];
    return { rows, notes };
}

// The emulator's worker thread loads this bundle too: only the main thread of a direct run measures.
if (isMainThread && require.main === module) {
    const [events, warmup, concurrency] = process.argv.slice(2).map(Number);
    measureReplay(events, warmup, concurrency).then(
        (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
        (e: unknown) => {
            process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
            process.exitCode = 1;
        },
    );
}
