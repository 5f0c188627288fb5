/**
 * The approval rules' checks: clusterHealth and metric against the loopback ARM emulator (Azure
 * Monitor's regional batch API included), the http check against a local server, and the harness that runs
 * them (cheap checks first, timeouts and a spent decision budget are failures, never passes).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseGateEvent, type GateView } from "../../../core/gate-event";
import type { Check } from "../../../core/rules";
import { ArmError } from "../src/arm-client";
import { DecisionScope, runChecks, type CheckRegistry, type CheckResult } from "../src/checks";
import { valueAtPath } from "../src/checks/http";
import type { CheckServices } from "../src/checks/types";
import { createTransport } from "../src/pipeline";
import { createMetricsReader } from "../src/checks/metric";
import { createDefaultHttpClient, type HttpClient } from "@azure/core-rest-pipeline";
import { FAST, World, clusterId, startWorld } from "./helpers";

let world: World | undefined;
afterEach(async () => {
    await world?.stop();
    world = undefined;
});

function viewOf(w: World, spec: Parameters<World["event"]>[0]): GateView {
    const p = parseGateEvent(w.event(spec));
    if (!p.ok) throw new Error(p.reason);
    return p.event;
}

async function run(w: World, view: GateView, checks: Check[], budgetMs = 5000): Promise<CheckResult[]> {
    const signal = AbortSignal.timeout(budgetMs);
    const services: CheckServices = { ...w.deps.services, arm: w.arm };
    return runChecks(
        checks,
        { gate: view, now: w.clock.now, services, scope: new DecisionScope(w.arm, view, { abortSignal: signal }) },
        { budget: signal },
    );
}

describe("clusterHealth (emulator)", () => {
    it("passes for a group gate when the group's members are provisioned, running and (After) updated", async () => {
        world = await startWorld();
        const view = viewOf(world, { n: 1, group: "blue", timing: "After" });
        world.emu.resetLog();
        const [r] = await run(world, view, [{ type: "clusterHealth" }]);
        expect(r).toMatchObject({
            type: "clusterHealth",
            passed: true,
            observed: "2/2 members healthy in group blue of stage dev",
        });
        const routes = world.emu.requests.map((q) => q.route);
        expect(routes.filter((x) => x === "updateRuns.get")).toHaveLength(1);
        expect(routes.filter((x) => x === "clusters.get")).toHaveLength(2);
    });

    it("a stage gate covers every group of the stage", async () => {
        world = await startWorld();
        const view = viewOf(world, { n: 1, timing: "Before" });
        const [r] = await run(world, view, [{ type: "clusterHealth" }]);
        expect(r!.passed).toBe(true);
        expect(r!.observed).toBe("3/3 members healthy in stage dev");
    });

    it("an After stage gate fails while a member's update is not Completed", async () => {
        world = await startWorld();
        const view = viewOf(world, { n: 1, timing: "After" });
        const [r] = await run(world, view, [{ type: "clusterHealth" }]);
        expect(r!.passed).toBe(false);
        expect(r!.observed).toBe("1/3 unhealthy in stage dev: aks-green-1: update NotStarted (expected Completed)");
    });

    it("fails with the observed states of stopped or failed clusters", async () => {
        world = await startWorld();
        world.emu.setMember("aks-blue-1", { powerState: "Stopped" });
        world.emu.setMember("aks-blue-2", { provisioningState: "Failed", updateState: "Failed" });
        const view = viewOf(world, { n: 1, group: "blue", timing: "After" });
        const [r] = await run(world, view, [{ type: "clusterHealth" }]);
        expect(r!.passed).toBe(false);
        expect(r!.observed).toContain("aks-blue-1: powerState Stopped");
        expect(r!.observed).toContain("aks-blue-2: update Failed (expected Completed), provisioningState Failed");
    });

    it("no data is a failure: unknown stage, unknown run", async () => {
        world = await startWorld();
        const [a] = await run(world, viewOf(world, { n: 1, stage: "prod" }), [{ type: "clusterHealth" }]);
        expect(a).toMatchObject({ passed: false, observed: "stage prod not in the update run's status" });
        const [b] = await run(world, viewOf(world, { n: 2, run: "run-9" }), [{ type: "clusterHealth" }]);
        expect(b).toMatchObject({ passed: false, observed: "update run run-9 not found" });
    });

    it("an ARM outage is a transient failure with the error as observed value", async () => {
        world = await startWorld();
        world.emu.inject({ route: "updateRuns.get", kind: "503", retryAfterSeconds: 0 });
        const [r] = await run(world, viewOf(world, { n: 1, group: "blue", timing: "After" }), [
            { type: "clusterHealth" },
        ]);
        expect(r).toMatchObject({ passed: false, transient: true });
        expect(r!.observed).toMatch(/^error: .*HTTP 503/);
    });

    it("reads each member cluster once even with two checks needing members", async () => {
        world = await startWorld();
        world.emu.setMetric(clusterId("aks-blue-1"), "node_cpu_usage_percentage", 10);
        world.emu.setMetric(clusterId("aks-blue-2"), "node_cpu_usage_percentage", 20);
        const view = viewOf(world, { n: 1, group: "blue", timing: "After" });
        world.emu.resetLog();
        const results = await run(world, view, [
            {
                type: "metric",
                metric: "node_cpu_usage_percentage",
                namespace: "Microsoft.ContainerService/managedClusters",
                aggregation: "Average",
                operator: "lt",
                threshold: 80,
                lookbackMinutes: 15,
            },
            { type: "clusterHealth" },
        ]);
        expect(results.map((r) => r.passed)).toEqual([true, true]);
        expect(world.emu.requests.filter((q) => q.route === "updateRuns.get")).toHaveLength(1);
        expect(world.emu.requests.filter((q) => q.route === "clusters.get")).toHaveLength(2);
    });
});

describe("metric (emulator, MetricsClient.queryResources)", () => {
    const cpu = (operator: "lt" | "le" | "gt" | "ge", threshold: number): Check => ({
        type: "metric",
        metric: "node_cpu_usage_percentage",
        namespace: "Microsoft.ContainerService/managedClusters",
        aggregation: "Maximum",
        operator,
        threshold,
        lookbackMinutes: 15,
    });

    it("compares each member's value with the threshold", async () => {
        world = await startWorld();
        world.emu.setMetric(clusterId("aks-blue-1"), "node_cpu_usage_percentage", 42);
        world.emu.setMetric(clusterId("aks-blue-2"), "node_cpu_usage_percentage", 91.5);
        const view = viewOf(world, { n: 1, group: "blue", timing: "After" });
        const [ok] = await run(world, view, [cpu("lt", 95)]);
        expect(ok).toMatchObject({
            passed: true,
            observed: "Maximum node_cpu_usage_percentage over 15 min: aks-blue-1: 42; aks-blue-2: 91.5",
        });
        const [bad] = await run(world, view, [cpu("lt", 90)]);
        expect(bad!.passed).toBe(false);
        expect(bad!.observed).toContain("aks-blue-2: 91.5 (needs < 90)");
        expect(world.emu.requests.some((q) => q.route === "metrics.batch" && q.status === 200)).toBe(true);
    });

    it("queries each member's region at its own Azure Monitor endpoint (the batch API is regional)", async () => {
        world = await startWorld({
            members: [
                {
                    name: "aks-blue-1",
                    clusterResourceId: clusterId("aks-blue-1"),
                    group: "blue",
                    updateState: "Completed",
                    location: "westeurope",
                },
                {
                    name: "aks-blue-2",
                    clusterResourceId: clusterId("aks-blue-2"),
                    group: "blue",
                    updateState: "Completed",
                    location: "eastus",
                },
            ],
        });
        world.emu.setMetric(clusterId("aks-blue-1"), "node_cpu_usage_percentage", 40);
        world.emu.setMetric(clusterId("aks-blue-2"), "node_cpu_usage_percentage", 60);
        // The transport is the HTTP boundary: note the regional host asked for, answer from the emulator.
        const inner = createDefaultHttpClient();
        const hosts: string[] = [];
        const emulatorUrl = world.emu.url;
        const httpClient: HttpClient = {
            sendRequest(request) {
                hosts.push(new URL(request.url).host);
                request.url = request.url.replace(/^https:\/\/[^/]+/, emulatorUrl);
                return inner.sendRequest(request);
            },
        };
        const metrics = createMetricsReader({
            ...FAST,
            tlsCa: world.emu.ca!,
            httpClient,
            endpoint: "https://{region}.metrics.monitor.azure.com",
            credential: world.credential,
        });
        const view = viewOf(world, { n: 1, group: "blue", timing: "After" });
        const signal = AbortSignal.timeout(5000);
        const [r] = await runChecks(
            [cpu("lt", 95)],
            {
                gate: view,
                now: world.clock.now,
                services: { ...world.deps.services, arm: world.arm, metrics },
                scope: new DecisionScope(world.arm, view, { abortSignal: signal }),
            },
            { budget: signal },
        );
        expect(r).toMatchObject({
            passed: true,
            observed: "Maximum node_cpu_usage_percentage over 15 min: aks-blue-1: 40; aks-blue-2: 60",
        });
        expect([...new Set(hosts)].sort()).toEqual([
            "eastus.metrics.monitor.azure.com",
            "westeurope.metrics.monitor.azure.com",
        ]);
        expect(world.emu.requests.filter((q) => q.route === "metrics.batch")).toHaveLength(2);
    });

    it("no data for a member is a failure", async () => {
        world = await startWorld();
        world.emu.setMetric(clusterId("aks-blue-1"), "node_cpu_usage_percentage", 1);
        world.emu.setMetric(clusterId("aks-blue-2"), "node_cpu_usage_percentage", null);
        const [r] = await run(world, viewOf(world, { n: 1, group: "blue", timing: "After" }), [cpu("ge", 0)]);
        expect(r!.passed).toBe(false);
        expect(r!.observed).toContain("aks-blue-2: no data");
    });

    it("without a metrics endpoint the check fails and says which setting is missing", async () => {
        world = await startWorld({ metrics: false });
        const [r] = await run(world, viewOf(world, { n: 1, group: "blue", timing: "After" }), [cpu("ge", 0)]);
        expect(r).toMatchObject({
            passed: false,
            observed: "no metrics endpoint configured (app setting METRICS_ENDPOINT)",
        });
    });

    it("a throttled metrics API is a transient failure", async () => {
        world = await startWorld();
        world.emu.inject({ route: "metrics.batch", kind: "500" });
        const [r] = await run(world, viewOf(world, { n: 1, group: "blue", timing: "After" }), [cpu("ge", 0)]);
        expect(r!.passed).toBe(false);
        expect(r!.transient).toBe(true);
    });
});

describe("http check (local server)", () => {
    let server: http.Server;
    let base: string;
    beforeAll(async () => {
        server = http.createServer((req, res) => {
            if (req.url === "/ok")
                return res
                    .writeHead(200, { "Content-Type": "application/json" })
                    .end(JSON.stringify({ status: { ready: true, name: "prod" }, items: [{ v: 3 }] }));
            if (req.url === "/down") return res.writeHead(503).end("down");
            if (req.url === "/text") return res.writeHead(200).end("not json");
            if (req.url === "/slow") return void setTimeout(() => res.writeHead(200).end("{}"), 3000);
            if (req.url === "/big") return res.writeHead(200).end(`{"a":"${"x".repeat(300 * 1024)}"}`);
            res.writeHead(404).end();
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => {
        server.closeAllConnections();
        server.close();
    });

    const view = {} as GateView;
    async function httpRun(check: Partial<Extract<Check, { type: "http" }>> & { url: string }): Promise<CheckResult> {
        const signal = AbortSignal.timeout(10_000);
        const services = { http: createTransport({ ...FAST, perTryTimeoutMs: 500, maxRetries: 1 }), arm: {} as never };
        const [r] = await runChecks(
            [{ type: "http", expectStatus: 200, ...check }],
            { gate: view, now: 0, services, scope: {} as never },
            { budget: signal },
        );
        return r!;
    }

    it("passes on the expected status", async () => {
        expect(await httpRun({ url: `${base}/ok` })).toMatchObject({ passed: true, observed: "HTTP 200" });
    });

    it("compares a JSON field by dotted path", async () => {
        expect(await httpRun({ url: `${base}/ok`, jsonPath: "status.name", equals: "prod" })).toMatchObject({
            passed: true,
            observed: 'HTTP 200, status.name = "prod"',
        });
        expect(await httpRun({ url: `${base}/ok`, jsonPath: "items.0.v", equals: 3 })).toMatchObject({ passed: true });
        expect(await httpRun({ url: `${base}/ok`, jsonPath: "status.name", equals: "dev" })).toMatchObject({
            passed: false,
            observed: 'HTTP 200, status.name = "prod" (expected "dev")',
        });
        expect(await httpRun({ url: `${base}/ok`, jsonPath: "status.ready" })).toMatchObject({ passed: true });
        expect(await httpRun({ url: `${base}/ok`, jsonPath: "status.missing" })).toMatchObject({
            passed: false,
            observed: "HTTP 200, status.missing = missing",
        });
    });

    it("a wrong status fails with the status observed", async () => {
        expect(await httpRun({ url: `${base}/down` })).toMatchObject({
            passed: false,
            observed: "HTTP 503 (expected 200)",
            transient: true,
        });
        expect(await httpRun({ url: `${base}/nope` })).toMatchObject({
            passed: false,
            observed: "HTTP 404 (expected 200)",
        });
        expect(await httpRun({ url: `${base}/nope`, expectStatus: 404 })).toMatchObject({ passed: true });
    });

    it("a non-JSON or oversized body fails when a field is asked for", async () => {
        expect(await httpRun({ url: `${base}/text`, jsonPath: "a" })).toMatchObject({
            passed: false,
            observed: "HTTP 200, body is not JSON",
        });
        expect((await httpRun({ url: `${base}/big`, jsonPath: "a" })).observed).toMatch(
            /body larger than 262144 bytes/,
        );
    });

    it("a check timeout is a failure, never a pass", async () => {
        const t0 = Date.now();
        const r = await httpRun({ url: `${base}/slow`, timeoutSeconds: 1 });
        expect(r.passed).toBe(false);
        expect(r.observed).toMatch(/no answer within 1000 ms|ETIMEDOUT/);
        expect(Date.now() - t0).toBeLessThan(2500);
    });

    it("valueAtPath ignores inherited properties", () => {
        expect(valueAtPath({ a: { b: 1 } }, "a.b")).toBe(1);
        expect(valueAtPath({}, "constructor")).toBeUndefined();
        expect(valueAtPath({ a: [1, 2] }, "a.1")).toBe(2);
        expect(valueAtPath({ a: [1, 2] }, "a.x")).toBeUndefined();
    });
});

describe("check harness", () => {
    const gate = {} as GateView;
    const fake = (impl: Partial<CheckRegistry>): CheckRegistry =>
        ({
            window: async () => ({ passed: true, observed: "w" }),
            http: async () => ({ passed: true, observed: "h" }),
            clusterHealth: async () => ({ passed: true, observed: "c" }),
            metric: async () => ({ passed: true, observed: "m" }),
            ...impl,
        }) as CheckRegistry;
    const go = (checks: Check[], registry: CheckRegistry, budget = AbortSignal.timeout(10_000)) =>
        runChecks(checks, { gate, now: 0, services: {} as never, scope: {} as never }, { budget, registry });
    const W: Check = { type: "window", days: ["Mon"], hours: "00:00-24:00", timeZone: "UTC" };
    const C: Check = { type: "clusterHealth" };

    it("runs cheap checks first and skips the rest after a failure", async () => {
        const order: string[] = [];
        const r = await go(
            [C, W],
            fake({
                clusterHealth: async () => (order.push("c"), { passed: true, observed: "c" }),
                window: async () => (order.push("w"), { passed: false, observed: "closed" }),
            }),
        );
        expect(order).toEqual(["w"]);
        expect(r.map((x) => [x.type, x.passed, x.skipped ?? false])).toEqual([
            ["window", false, false],
            ["clusterHealth", false, true],
        ]);
    });

    it("an exception is a failure carrying the error; a transient ArmError is marked transient", async () => {
        const [a] = await go(
            [C],
            fake({
                clusterHealth: async () => {
                    throw new Error("boom");
                },
            }),
        );
        expect(a).toMatchObject({ passed: false, observed: "error: Error: boom" });
        expect(a!.transient).toBeUndefined();
        const [b] = await go(
            [C],
            fake({
                clusterHealth: async () => {
                    throw new ArmError("GET: HTTP 503", true, 503);
                },
            }),
        );
        expect(b).toMatchObject({ passed: false, transient: true });
    });

    it("a check that never answers fails at its timeout", async () => {
        const [r] = await go(
            [{ type: "clusterHealth", timeoutSeconds: 1 }],
            fake({ clusterHealth: () => new Promise(() => undefined) }),
        );
        expect(r).toMatchObject({ passed: false, observed: "no answer within 1000 ms" });
        expect(r!.durationMs).toBeGreaterThanOrEqual(950);
    });

    it("a spent decision budget is a transient failure", async () => {
        const [r] = await go(
            [C],
            fake({ clusterHealth: () => new Promise(() => undefined) }),
            AbortSignal.timeout(200),
        );
        expect(r).toMatchObject({ passed: false, observed: "decision budget spent", transient: true });
    });

    it("a runner answering something other than passed: true does not pass", async () => {
        const [r] = await go(
            [C],
            fake({ clusterHealth: async () => ({ passed: "yes" as unknown as boolean, observed: "?" }) }),
        );
        expect(r!.passed).toBe(false);
    });
});
