/**
 * The cooperative scheduler behind the rehearsal's parallel groups: processes resume in virtual-time
 * order, one at a time, joins and semaphores hand the turn over without moving the clock early.
 */
import { describe, expect, it } from "vitest";
import { seededRng, VirtualClock } from "../local/emulators/event-grid";
import { Scheduler, Semaphore } from "../local/simulate/scheduler";

describe("Scheduler", () => {
    it("resumes sleepers in virtual-time order, ties in the order they were queued", async () => {
        const clock = new VirtualClock(0);
        const s = new Scheduler(clock);
        const log: string[] = [];
        const proc = (name: string, wakes: number[]) =>
            s.spawn(async () => {
                for (const t of wakes) {
                    await s.sleepUntil(t);
                    log.push(`${name}@${clock.now()}`);
                }
            });
        await s.spawn(async () => {
            await s.all([proc("a", [30, 50]), proc("b", [10, 50]), proc("c", [20])]);
            log.push(`joined@${clock.now()}`);
        });
        // b queued its sleep until 50 (at 10) before a did (at 30).
        expect(log).toEqual(["b@10", "c@20", "a@30", "b@50", "a@50", "joined@50"]);
    });

    it("a joining process resumes at the time its last child ends, before anything due later", async () => {
        const clock = new VirtualClock(0);
        const s = new Scheduler(clock);
        const log: string[] = [];
        await s.spawn(async () => {
            const bystander = s.spawn(async () => {
                await s.sleepUntil(100);
                log.push(`bystander@${clock.now()}`);
            });
            await s.all([
                s.spawn(async () => {
                    await s.sleep(10);
                }),
            ]);
            log.push(`parent@${clock.now()}`);
            await s.waitFor(bystander);
            log.push(`parent again@${clock.now()}`);
        });
        expect(log).toEqual(["parent@10", "bystander@100", "parent again@100"]);
    });

    it("keeps the turn while a process awaits real I/O: nothing interleaves", async () => {
        const clock = new VirtualClock(0);
        const s = new Scheduler(clock);
        const log: string[] = [];
        const worker = (name: string) =>
            s.spawn(async () => {
                log.push(`${name} start`);
                await new Promise((r) => setTimeout(r, 5));
                log.push(`${name} end`);
            });
        await s.spawn(() => s.all([worker("a"), worker("b")]));
        expect(log).toEqual(["a start", "a end", "b start", "b end"]);
        expect(clock.now()).toBe(0);
    });

    it("with an rng, processes due at the same instant run in a drawn order, reproducibly", async () => {
        const order = async (seed: number) => {
            const s = new Scheduler(new VirtualClock(0), seededRng(seed));
            const log: number[] = [];
            await s.spawn(() =>
                s.all(
                    Array.from({ length: 8 }, (_, i) =>
                        s.spawn(async () => {
                            await s.sleepUntil(5);
                            log.push(i);
                        }),
                    ),
                ),
            );
            return log;
        };
        const a = await order(1);
        expect([...a].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
        expect(await order(1)).toEqual(a);
        const others = await Promise.all([2, 3, 4, 5].map(order));
        expect(others.some((o) => o.join() !== a.join())).toBe(true);
        expect(others.some((o) => o.join() !== "0,1,2,3,4,5,6,7") || a.join() !== "0,1,2,3,4,5,6,7").toBe(true);
    });

    it("passes results and errors through spawn and all", async () => {
        const s = new Scheduler(new VirtualClock(0));
        await expect(
            s.spawn(async () => {
                const [x, y] = await s.all([s.spawn(() => Promise.resolve(1)), s.spawn(() => Promise.resolve(2))]);
                return x! + y!;
            }),
        ).resolves.toBe(3);
        await expect(
            s.spawn(async () => {
                await s.all([s.spawn(() => Promise.reject(new Error("boom")))]);
            }),
        ).rejects.toThrow("boom");
    });
});

describe("Semaphore", () => {
    it("lets at most n processes through at once; the others wait without the clock jumping", async () => {
        const clock = new VirtualClock(0);
        const s = new Scheduler(clock);
        const slots = new Semaphore(s, 2);
        let inside = 0;
        let most = 0;
        const ends: number[] = [];
        await s.spawn(() =>
            s.all(
                Array.from({ length: 5 }, () =>
                    s.spawn(async () => {
                        await slots.acquire();
                        inside++;
                        most = Math.max(most, inside);
                        await s.sleep(10);
                        inside--;
                        slots.release();
                        ends.push(clock.now());
                    }),
                ),
            ),
        );
        expect(most).toBe(2);
        expect(ends).toEqual([10, 10, 20, 20, 30]);
    });

    it.each([0, -1, 1.5])("rejects size %s", (n) => {
        expect(() => new Semaphore(new Scheduler(new VirtualClock()), n)).toThrow(RangeError);
    });
});
