/**
 * Handler benchmarks: replay throughput against the emulator, the handler's own decision time
 * (transport excluded), request and token budgets, bundle size and cold import time.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { gateEventFor } from "../core/event-filter";
import { gatePositions, type StageSpec } from "../core/strategy";
import { buildHandlerPackage } from "../components/handler-package";
import { OFFLINE_DEFAULTS } from "../local/mocks";
import { replay } from "../local/replay";
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

export async function benchReplay(
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
    const windowMix = await replayStack("window", events, concurrency);
    const healthMix = await replayStack("clusterHealth", events, concurrency);
    const windowRate = perSecond(windowMix);
    const rows: Row[] = [
        {
            label: `replay throughput, window rules (2 ARM requests per event), ${concurrency} at a time, beyond start-up`,
            value: `${windowRate.toFixed(0)} events/s (whole run, start-up included: ${overall(windowMix).toFixed(0)})`,
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
        `Each run replays ${events} FleetGateCreated events (both schemas, every gate approved) for a generated 30-member, 3-stage stack through the real Event Grid trigger, against the emulator over loopback TLS with no injected latency; the emulator runs on its own thread (a worker thread of this process, \`replay({ emulator: "worker" })\`), so the handler's thread and the emulator's use one of the 2 cores each. Throughput beyond start-up counts the events completed after the first ${warmup} of a run, over the time they took. Decision time excludes the time at least one HTTP request was in flight, after ${warmup} warm-up events. clusterHealth throughput is bounded by the emulator's request rate (13 requests per event).`,
    ];
    return { rows, notes };
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
