/**
 * Fault injection shared by the loopback emulators: a list of faults (HTTP 429/500/503 with
 * Retry-After, connection resets, stalls), each for one route or all, matched in insertion order,
 * optionally with a probability drawn from the emulator's seeded PRNG, and used up after `times`.
 * The emulator decides how an HTTP fault's body looks; resets and stalls act on the socket here.
 */
import type { Socket } from "node:net";

export type FaultKind = "403" | "404" | "429" | "500" | "503" | "reset" | "stall";

export const FAULT_KINDS: readonly FaultKind[] = ["403", "404", "429", "500", "503", "reset", "stall"];

export interface Fault<R extends string = string> {
    route: R | "*";
    kind: FaultKind;
    /** Inject this many times; default Infinity. */
    times?: number;
    /** 0..1, default 1; drawn from the emulator's seeded PRNG. */
    probability?: number;
    /** For 429/503: the Retry-After header, default 1. */
    retryAfterSeconds?: number;
    /** For stall: hold the response this long, then reset the connection; default 60000. */
    stallMs?: number;
}

interface FaultRecord<R extends string> {
    fault: Fault<R>;
    remaining: number;
}

/** The faults of one emulator, in insertion order. */
export class FaultList<R extends string> {
    private faults: FaultRecord<R>[] = [];

    constructor(
        private readonly routes: readonly R[],
        private readonly random: () => number,
    ) {}

    /** Adds a fault; returns a function that removes it. */
    inject(fault: Fault<R>): () => void {
        if (fault.route !== "*" && !this.routes.includes(fault.route)) throw new Error(`unknown route ${fault.route}`);
        if (!FAULT_KINDS.includes(fault.kind)) throw new Error(`unknown fault kind ${fault.kind}`);
        const times = fault.times ?? Infinity;
        if (!(times >= 0)) throw new Error("times must be >= 0");
        const p = fault.probability ?? 1;
        if (!(p >= 0 && p <= 1)) throw new Error("probability must be within 0..1");
        if (fault.retryAfterSeconds !== undefined && !(fault.retryAfterSeconds >= 0))
            throw new Error("retryAfterSeconds must be >= 0");
        if (fault.stallMs !== undefined && !(fault.stallMs >= 0)) throw new Error("stallMs must be >= 0");
        const record: FaultRecord<R> = { fault: { ...fault }, remaining: times };
        this.faults.push(record);
        return () => {
            this.faults = this.faults.filter((f) => f !== record);
        };
    }

    clear(): void {
        this.faults = [];
    }

    /** The fault that answers a request to `route` (and is used once), or undefined. */
    take(route: R | "unknown"): Fault<R> | undefined {
        if (this.faults.length === 0) return undefined;
        for (const f of this.faults) {
            if (f.remaining <= 0) continue;
            if (f.fault.route !== "*" && f.fault.route !== route) continue;
            const p = f.fault.probability ?? 1;
            if (p < 1 && !(this.random() < p)) continue;
            f.remaining--;
            return f.fault;
        }
        return undefined;
    }
}

/**
 * Acts out a `stall` (hold the connection, then reset it; the timer is tracked in `timers` so the
 * emulator can cancel it when it stops) or a `reset`.
 */
export function breakConnection(socket: Socket, fault: Fault, timers: Set<NodeJS.Timeout>): void {
    if (fault.kind === "reset") {
        socket.destroy();
        return;
    }
    const timer = setTimeout(() => {
        timers.delete(timer);
        socket.destroy();
    }, fault.stallMs ?? 60_000);
    timers.add(timer);
    socket.once("close", () => {
        clearTimeout(timer);
        timers.delete(timer);
    });
}
