/**
 * Event Grid delivery emulation against `shared/reference/event-grid.md` §4: each status code's
 * fate (§4.2), the retry schedule with its per-status minimums and jitter (§4.3), and the policy's
 * maxDeliveryAttempts / eventTimeToLiveInMinutes limits with dead-letter or drop (§4.3, §4.4).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
    DEFAULT_JITTER_RATIO,
    type DeliveryStatus,
    ENDPOINT_TIMEOUT_MS,
    type EndpointType,
    RETRY_SCHEDULE_MS,
    VirtualClock,
    classifyOutcome,
    deliverWithRetries,
    retryDelayMs,
    scheduledDelayMs,
    seededRng,
} from "../local/emulators/event-grid";

const S = 1000;
const M = 60 * S;
const H = 60 * M;

describe("retry schedule (§4.3)", () => {
    it("is 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h", () => {
        expect(RETRY_SCHEDULE_MS).toEqual([10 * S, 30 * S, 1 * M, 5 * M, 10 * M, 30 * M, 1 * H, 3 * H, 6 * H, 12 * H]);
        const delays = Array.from({ length: 14 }, (_, i) => retryDelayMs(i + 1, 500));
        expect(delays).toEqual([
            10 * S,
            30 * S,
            1 * M,
            5 * M,
            10 * M,
            30 * M,
            1 * H,
            3 * H,
            6 * H,
            12 * H,
            12 * H,
            12 * H,
            12 * H,
            12 * H,
        ]);
    });

    it.each([0, -1, 1.5, Number.NaN])("rejects attempt %s", (attempt) => {
        expect(() => retryDelayMs(attempt, 500)).toThrow(RangeError);
        expect(() => scheduledDelayMs(attempt)).toThrow(RangeError);
    });
});

describe("outcome classification (§4.2)", () => {
    // [status, endpoint, fate]: "success", "dead-letter", or the delay after the first failure.
    const table: [DeliveryStatus, EndpointType, "success" | "dead-letter" | number][] = [
        [200, "AzureFunction", "success"],
        [201, "AzureFunction", "success"],
        [202, "AzureFunction", "success"],
        [203, "AzureFunction", "success"],
        [204, "WebHook", "success"],
        // Only 200–204 succeed: other 2xx and 3xx are failures on the standard schedule.
        [205, "AzureFunction", 10 * S],
        [206, "WebHook", 10 * S],
        [301, "WebHook", 10 * S],
        [400, "AzureFunction", "dead-letter"],
        [400, "WebHook", "dead-letter"],
        [413, "AzureFunction", "dead-letter"],
        [413, "WebHook", "dead-letter"],
        [403, "AzureFunction", "dead-letter"],
        [403, "WebHook", "dead-letter"],
        [401, "WebHook", "dead-letter"],
        [401, "AzureFunction", 5 * M],
        [404, "AzureFunction", 5 * M],
        [404, "WebHook", 5 * M],
        [408, "AzureFunction", 2 * M],
        [408, "WebHook", 2 * M],
        [503, "AzureFunction", 30 * S],
        [503, "WebHook", 30 * S],
        [500, "AzureFunction", 10 * S],
        [429, "AzureFunction", 10 * S],
        [502, "WebHook", 10 * S],
        [504, "AzureFunction", 10 * S],
        [409, "AzureFunction", 10 * S],
        [422, "WebHook", 10 * S],
        ["timeout", "AzureFunction", 10 * S],
        ["reset", "WebHook", 10 * S],
    ];

    it.each(table)("%s on %s → %s", (status, endpointType, fate) => {
        const c = classifyOutcome(status, endpointType);
        if (fate === "success") {
            expect(c).toEqual({ kind: "success" });
            expect(() => retryDelayMs(1, status, undefined, { endpointType })).toThrow(/success/);
        } else if (fate === "dead-letter") {
            expect(c.kind).toBe("final");
            expect(retryDelayMs(1, status, undefined, { endpointType })).toBe("dead-letter");
            expect(retryDelayMs(5, status, undefined, { endpointType, deadLetter: false })).toBe("drop");
        } else {
            expect(c).toEqual({ kind: "retry", minDelayMs: fate });
            expect(retryDelayMs(1, status, undefined, { endpointType })).toBe(fate);
        }
    });

    it("gives dead-letter reasons per status", () => {
        expect(classifyOutcome(400)).toEqual({ kind: "final", reason: "BadRequest" });
        expect(classifyOutcome(413)).toEqual({ kind: "final", reason: "PayloadTooLarge" });
        expect(classifyOutcome(403)).toEqual({ kind: "final", reason: "Forbidden" });
        expect(classifyOutcome(401, "WebHook")).toEqual({ kind: "final", reason: "Unauthorized" });
    });

    it("defaults to an Azure-resource endpoint (AzureFunction, what the project subscribes)", () => {
        expect(classifyOutcome(401)).toEqual({ kind: "retry", minDelayMs: 5 * M });
    });

    it.each([0, 99, 600, 200.5, Number.NaN])("rejects %s as a status", (status) => {
        expect(() => classifyOutcome(status)).toThrow(RangeError);
    });

    // Minimums only raise early steps; later steps of the schedule are longer and win.
    const minimums: [DeliveryStatus, number[]][] = [
        [503, [30 * S, 30 * S, 1 * M, 5 * M, 10 * M]],
        [408, [2 * M, 2 * M, 2 * M, 5 * M, 10 * M]],
        [404, [5 * M, 5 * M, 5 * M, 5 * M, 10 * M]],
        [401, [5 * M, 5 * M, 5 * M, 5 * M, 10 * M]],
        [500, [10 * S, 30 * S, 1 * M, 5 * M, 10 * M]],
    ];
    it.each(minimums)("status %s: delays after attempts 1–5 are the schedule raised to its minimum", (status, want) => {
        expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, status))).toEqual(want);
    });
});

describe("jitter", () => {
    it("is added from the injected RNG, never below the scheduled delay or the minimum", () => {
        expect(retryDelayMs(1, 500, () => 0)).toBe(10 * S);
        expect(retryDelayMs(1, 500, () => 0.5)).toBe(10 * S + 0.5 * DEFAULT_JITTER_RATIO * 10 * S);
        expect(retryDelayMs(1, 503, () => 0.999999)).toBeLessThan(30 * S * (1 + DEFAULT_JITTER_RATIO));
        expect(retryDelayMs(1, 500, () => 0.7, { jitterRatio: 0 })).toBe(10 * S);
        expect(retryDelayMs(2, 500, () => 0.5, { jitterRatio: 0.2 })).toBe(30 * S + 3 * S);
    });

    it("stays within [delay, delay × (1 + ratio)) for any attempt, status and RNG value", () => {
        const statuses: DeliveryStatus[] = [401, 404, 408, 429, 500, 502, 503, "timeout", "reset"];
        fc.assert(
            fc.property(
                fc.integer({ min: 1, max: 40 }),
                fc.constantFrom(...statuses),
                fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
                fc.double({ min: 0, max: 1, noNaN: true }),
                (attempt, status, u, ratio) => {
                    const base = retryDelayMs(attempt, status) as number;
                    const d = retryDelayMs(attempt, status, () => u, { jitterRatio: ratio }) as number;
                    const c = classifyOutcome(status);
                    expect(c.kind).toBe("retry");
                    expect(base).toBe(
                        Math.max(scheduledDelayMs(attempt), c.kind === "retry" ? c.minDelayMs : Infinity),
                    );
                    expect(Number.isInteger(d)).toBe(true);
                    expect(d).toBeGreaterThanOrEqual(base);
                    expect(d).toBeLessThanOrEqual(base + Math.floor(base * ratio));
                    if (ratio > 0) expect(d - base).toBeLessThan(base * ratio);
                },
            ),
            { seed: 7, numRuns: 500 },
        );
    });

    it("rejects RNG values outside [0, 1) and ratios outside 0..1", () => {
        expect(() => retryDelayMs(1, 500, () => 1)).toThrow(RangeError);
        expect(() => retryDelayMs(1, 500, () => -0.1)).toThrow(RangeError);
        expect(() => retryDelayMs(1, 500, () => Number.NaN)).toThrow(RangeError);
        expect(() => retryDelayMs(1, 500, () => 0.5, { jitterRatio: 1.5 })).toThrow(RangeError);
    });
});

/** An endpoint answering the given statuses in turn (the last one repeated). */
function endpoint(...statuses: DeliveryStatus[]) {
    const seen: { attempt: number; deliveryCount: number; now: number }[] = [];
    const fn = (_event: unknown, info: { attempt: number; deliveryCount: number; now: number }) => {
        seen.push(info);
        return statuses[Math.min(info.attempt - 1, statuses.length - 1)]!;
    };
    return { fn, seen };
}

/** Cumulative due times (s) of attempts under a constant 500: 0, 10, 40, 100, 400, 1000, 2800, 6400, 17200, 38800, 82000. */
const DUE_S = [0, 10, 40, 100, 400, 1000, 2800, 6400, 17200, 38800, 82000];

describe("deliverWithRetries", () => {
    it("delivers on the first 2xx without moving the clock", async () => {
        const clock = new VirtualClock(1_000);
        const { fn, seen } = endpoint(202);
        const r = await deliverWithRetries({ id: "e" }, fn, {}, clock);
        expect(r).toMatchObject({ delivered: true, attempts: 1, deadLettered: false, dropped: false, elapsedMs: 0 });
        expect(r.reason).toBeUndefined();
        expect(seen).toEqual([{ attempt: 1, deliveryCount: 0, now: 1_000 }]);
    });

    it("re-schedules transient failures on the virtual clock (500 → 10 s, 503 → 30 s, then delivered)", async () => {
        const clock = new VirtualClock();
        const { fn, seen } = endpoint(500, 503, 429, 200);
        const r = await deliverWithRetries("e", fn, {}, clock);
        expect(r).toMatchObject({ delivered: true, attempts: 4, deadLettered: false, lastStatus: 200 });
        // after 1: 10 s; after 2 (503): max(30 s, 30 s); after 3 (429): 1 min.
        expect(seen.map((s) => s.now)).toEqual([0, 10 * S, 40 * S, 100 * S]);
        expect(seen.map((s) => s.deliveryCount)).toEqual([0, 1, 2, 3]);
        expect(r.elapsedMs).toBe(100 * S);
        expect(r.history.map((h) => h.nextDelayMs)).toEqual([10 * S, 30 * S, 60 * S, undefined]);
    });

    it.each([
        [408, 2 * M],
        [404, 5 * M],
        [401, 5 * M],
        [503, 30 * S],
    ] as const)("waits at least the minimum after %s", async (status, min) => {
        const r = await deliverWithRetries("e", endpoint(status, 204).fn, {}, new VirtualClock());
        expect(r).toMatchObject({ delivered: true, attempts: 2, elapsedMs: min });
    });

    it.each([
        [400, "BadRequest"],
        [413, "PayloadTooLarge"],
        [403, "Forbidden"],
    ] as const)("dead-letters %s after one attempt, or drops it without a destination", async (status, reason) => {
        const r = await deliverWithRetries("e", endpoint(status).fn, {}, new VirtualClock());
        expect(r).toMatchObject({ delivered: false, attempts: 1, deadLettered: true, dropped: false, reason });
        expect(r.elapsedMs).toBe(0);
        const d = await deliverWithRetries("e", endpoint(status).fn, { deadLetter: false }, new VirtualClock());
        expect(d).toMatchObject({ delivered: false, attempts: 1, deadLettered: false, dropped: true, reason });
    });

    it("401: a WebHook is not retried, an Azure Function is", async () => {
        const hook = await deliverWithRetries("e", endpoint(401, 200).fn, { endpointType: "WebHook" });
        expect(hook).toMatchObject({ delivered: false, attempts: 1, reason: "Unauthorized" });
        const fn = await deliverWithRetries("e", endpoint(401, 200).fn, { endpointType: "AzureFunction" });
        expect(fn).toMatchObject({ delivered: true, attempts: 2, elapsedMs: 5 * M });
    });

    it("stops at maxDeliveryAttempts and dead-letters right after the last attempt", async () => {
        const r = await deliverWithRetries("e", endpoint(500).fn, { maxDeliveryAttempts: 3 }, new VirtualClock());
        expect(r).toMatchObject({
            delivered: false,
            attempts: 3,
            deadLettered: true,
            reason: "MaxDeliveryAttemptsExceeded",
            elapsedMs: 40 * S,
        });
        const one = await deliverWithRetries("e", endpoint(503).fn, { maxDeliveryAttempts: 1 });
        expect(one).toMatchObject({ attempts: 1, reason: "MaxDeliveryAttemptsExceeded", elapsedMs: 0 });
    });

    it("with the defaults (30 attempts, 24 h) the TTL ends it: 11 attempts, expiry observed at the next due time", async () => {
        const { fn, seen } = endpoint(500);
        const r = await deliverWithRetries("e", fn, {}, new VirtualClock());
        expect(seen.map((s) => s.now / S)).toEqual(DUE_S);
        expect(r).toMatchObject({
            delivered: false,
            attempts: 11,
            deadLettered: true,
            reason: "EventTimeToLiveExpired",
        });
        // The 12th attempt would be due at 82000 s + 12 h = 125200 s (> 86400 s): that is when expiry is seen.
        expect(r.elapsedMs).toBe((82_000 + 43_200) * S);
    });

    it("matches the docs' example: about 6 attempts within a 30-minute TTL", async () => {
        const r = await deliverWithRetries("e", endpoint(500).fn, { eventTimeToLiveInMinutes: 30 });
        expect(r).toMatchObject({ attempts: 6, reason: "EventTimeToLiveExpired", elapsedMs: 2800 * S });
    });

    it("the Fleet sample subscription (10 attempts, 120 min): the TTL comes first, after 8 attempts", async () => {
        const r = await deliverWithRetries("e", endpoint(503).fn, {
            maxDeliveryAttempts: 10,
            eventTimeToLiveInMinutes: 120,
        });
        expect(r).toMatchObject({ attempts: 8, reason: "EventTimeToLiveExpired", elapsedMs: 17_220 * S });
    });

    it("a TTL already spent at publication time gives no attempt", async () => {
        const clock = new VirtualClock(10 * M);
        const { fn, seen } = endpoint(200);
        const r = await deliverWithRetries("e", fn, { eventTimeToLiveInMinutes: 5, publishedAt: 0 }, clock);
        expect(seen).toHaveLength(0);
        expect(r).toMatchObject({
            delivered: false,
            attempts: 0,
            deadLettered: true,
            reason: "EventTimeToLiveExpired",
        });
        expect(r.lastStatus).toBeUndefined();
    });

    it("a throw is the host's 500 by default (retried), or what statusOfError says", async () => {
        let n = 0;
        const flaky = () => {
            if (++n < 3) throw new Error("boom");
            return 202;
        };
        const r = await deliverWithRetries("e", flaky, {}, new VirtualClock());
        expect(r).toMatchObject({ delivered: true, attempts: 3, elapsedMs: 40 * S });
        expect(r.history.map((h) => h.status)).toEqual([500, 500, 202]);
        const bad = await deliverWithRetries(
            "e",
            () => {
                throw new Error("bad");
            },
            { statusOfError: () => 400 },
        );
        expect(bad).toMatchObject({ delivered: false, attempts: 1, reason: "BadRequest" });
        const reset = await deliverWithRetries(
            "e",
            async () => {
                throw new Error("socket");
            },
            { statusOfError: () => "reset", maxDeliveryAttempts: 2 },
        );
        expect(reset.history.map((h) => h.status)).toEqual(["reset", "reset"]);
    });

    it("an answer later than the endpoint timeout counts as no answer, so the event comes again", async () => {
        const clock = new VirtualClock();
        let n = 0;
        const slow = () => {
            if (++n === 1) clock.advance(ENDPOINT_TIMEOUT_MS + 1); // the handler ran past 30 s
            return 200;
        };
        const r = await deliverWithRetries("e", slow, {}, clock);
        expect(r).toMatchObject({ delivered: true, attempts: 2 });
        expect(r.history.map((h) => h.status)).toEqual(["timeout", 200]);
        // The retry is due 10 s after the timeout, not after the late answer.
        expect(r.history[1]!.at).toBe(ENDPOINT_TIMEOUT_MS + 10 * S);
        const onTime = new VirtualClock();
        const exact = await deliverWithRetries(
            "e",
            () => {
                onTime.advance(ENDPOINT_TIMEOUT_MS);
                return 200;
            },
            {},
            onTime,
        );
        expect(exact).toMatchObject({ delivered: true, attempts: 1 });
    });

    it("jitter from a seeded RNG is reproducible and within bounds", async () => {
        const run = () => deliverWithRetries("e", endpoint(500).fn, { rng: seededRng(42), maxDeliveryAttempts: 10 });
        const a = await run();
        const b = await run();
        expect(a).toEqual(b);
        a.history.slice(0, -1).forEach((h, i) => {
            const base = RETRY_SCHEDULE_MS[i]!;
            expect(h.nextDelayMs).toBeGreaterThanOrEqual(base);
            expect(h.nextDelayMs).toBeLessThan(base * (1 + DEFAULT_JITTER_RATIO));
        });
        expect(a.history.some((h, i) => h.nextDelayMs !== undefined && h.nextDelayMs !== RETRY_SCHEDULE_MS[i])).toBe(
            true,
        );
    });

    it.each([
        [{ maxDeliveryAttempts: 0 }],
        [{ maxDeliveryAttempts: 31 }],
        [{ maxDeliveryAttempts: 2.5 }],
        [{ eventTimeToLiveInMinutes: 0 }],
        [{ eventTimeToLiveInMinutes: 1441 }],
        [{ endpointTimeoutMs: 0 }],
    ])("rejects policy %j", async (policy) => {
        await expect(deliverWithRetries("e", endpoint(200).fn, policy)).rejects.toThrow(RangeError);
    });

    it("lets a scheduler pass the time between attempts (waitUntil) instead of jumping the clock", async () => {
        const clock = new VirtualClock(0);
        const waits: number[] = [];
        const r = await deliverWithRetries(
            "e",
            endpoint(500, 503, 200).fn,
            {
                waitUntil: (t) => {
                    waits.push(t);
                    clock.advanceTo(t);
                    return Promise.resolve();
                },
            },
            clock,
        );
        expect(r).toMatchObject({ delivered: true, attempts: 3 });
        expect(waits).toEqual([10 * S, 40 * S]);
    });

    it("rejects an attempt result that is not a status", async () => {
        await expect(deliverWithRetries("e", () => 42)).rejects.toThrow(RangeError);
    });
});

describe("VirtualClock", () => {
    it("moves only forward, and only when told", () => {
        const c = new VirtualClock(5);
        const now = c.now;
        expect(now()).toBe(5);
        expect(c.advance(10)).toBe(15);
        expect(c.advanceTo(20)).toBe(20);
        expect(now()).toBe(20);
        expect(() => c.advanceTo(19)).toThrow(RangeError);
        expect(() => c.advance(-1)).toThrow(RangeError);
        expect(() => new VirtualClock(Number.NaN)).toThrow(RangeError);
    });
});

describe("seededRng", () => {
    it("replays and stays in [0, 1)", () => {
        const a = seededRng(1);
        const b = seededRng(1);
        const xs = Array.from({ length: 1000 }, () => a());
        expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
        expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    });
});
