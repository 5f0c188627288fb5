/**
 * Cooperative processes on a virtual clock (a small discrete-event scheduler), so that the parts of
 * an update run Fleet runs in parallel (the groups of a stage, the members of a group up to its
 * maxConcurrency, late duplicate deliveries) can be simulated without real waiting.
 *
 * Exactly one process holds the turn at a time. A process gives it up only at `sleepUntil`,
 * `waitFor` / `all`, or when it ends; while it awaits real I/O (the handler calling the loopback
 * ARM emulator) it keeps the turn, so nothing else runs in between. The next process to resume is
 * the one due earliest; among processes due at the same instant, the one queued first, or one
 * drawn from `rng` (shuffled order). Given the same inputs and RNG, a run replays exactly.
 *
 * Handing the turn over goes through `setImmediate`, after pending promise continuations: a process
 * that joins children it spawned is queued again before the scheduler looks for the next one.
 */
import type { VirtualClock } from "../emulators/event-grid";

interface Entry {
    readonly at: number;
    readonly seq: number;
    readonly resume: () => void;
}

export class Scheduler {
    private readonly queue: Entry[] = [];
    private seq = 0;
    private busy = false;
    private dispatchScheduled = false;

    /** `rng`: values in [0, 1) to order processes due at the same instant (default: the order they were queued). */
    constructor(
        readonly clock: VirtualClock,
        private readonly rng?: () => number,
    ) {}

    /** Starts `fn` as a process at the current virtual time; resolves with its result. */
    spawn<T>(fn: () => Promise<T>): Promise<T> {
        return new Promise<T>((resolve, reject) => {
            this.enqueue(this.clock.now(), () => {
                let p: Promise<T>;
                try {
                    p = fn();
                } catch (e) {
                    p = Promise.reject(e as Error);
                }
                p.then(
                    (v) => {
                        this.release();
                        resolve(v);
                    },
                    (e: unknown) => {
                        this.release();
                        reject(e as Error);
                    },
                );
            });
        });
    }

    /** Suspends the calling process (which must hold the turn) until virtual time `t`. */
    sleepUntil(t: number): Promise<void> {
        return new Promise<void>((resolve) => {
            this.enqueue(Math.max(t, this.clock.now()), resolve);
            this.release();
        });
    }

    /** `sleepUntil(now + ms)`. */
    sleep(ms: number): Promise<void> {
        return this.sleepUntil(this.clock.now() + ms);
    }

    /** Gives up the turn until `p` settles (settled by other processes), then takes it back. */
    async waitFor<T>(p: Promise<T>): Promise<T> {
        this.release();
        let outcome: { ok: true; value: T } | { ok: false; error: unknown };
        try {
            outcome = { ok: true, value: await p };
        } catch (error) {
            outcome = { ok: false, error };
        }
        await new Promise<void>((resolve) => this.enqueue(this.clock.now(), resolve));
        if (!outcome.ok) throw outcome.error;
        return outcome.value;
    }

    /** Waits for every process (see `waitFor`). */
    all<T>(ps: readonly Promise<T>[]): Promise<T[]> {
        return this.waitFor(Promise.all(ps));
    }

    private enqueue(at: number, resume: () => void): void {
        this.queue.push({ at, seq: this.seq++, resume });
        this.kick();
    }

    private release(): void {
        this.busy = false;
        this.kick();
    }

    private kick(): void {
        if (this.dispatchScheduled) return;
        this.dispatchScheduled = true;
        setImmediate(() => {
            this.dispatchScheduled = false;
            this.dispatch();
        });
    }

    private dispatch(): void {
        if (this.busy || this.queue.length === 0) return;
        let at = Infinity;
        for (const e of this.queue) if (e.at < at) at = e.at;
        const due = this.queue.filter((e) => e.at === at);
        let next = due[0]!;
        if (this.rng !== undefined && due.length > 1) next = due[Math.floor(this.rng() * due.length)] ?? next;
        else for (const e of due) if (e.seq < next.seq) next = e;
        this.queue.splice(this.queue.indexOf(next), 1);
        this.clock.advanceTo(Math.max(this.clock.now(), next.at));
        this.busy = true;
        next.resume();
    }
}

/** A counting semaphore for scheduler processes (e.g. a stage's maxConcurrency across its groups). */
export class Semaphore {
    private readonly waiters: (() => void)[] = [];

    constructor(
        private readonly scheduler: Scheduler,
        private free: number,
    ) {
        if (!(Number.isInteger(free) && free >= 1))
            throw new RangeError(`semaphore size ${free} must be an integer >= 1`);
    }

    async acquire(): Promise<void> {
        if (this.free > 0) {
            this.free--;
            return;
        }
        await this.scheduler.waitFor(new Promise<void>((resolve) => this.waiters.push(resolve)));
    }

    release(): void {
        const next = this.waiters.shift();
        if (next) next();
        else this.free++;
    }
}
