/** Small async helpers: bounded fan-out and deadlines. */

/** Maps `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(
    items: readonly T[],
    limit: number,
    fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
    const results = new Array<R>(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
        for (;;) {
            const i = next++;
            if (i >= items.length) return;
            results[i] = await fn(items[i]!, i);
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
    return results;
}

export class DeadlineError extends Error {
    constructor(readonly ms: number) {
        super(`timed out after ${ms} ms`);
        this.name = "DeadlineError";
    }
}

/**
 * An AbortController that aborts after `ms` or when `parent` aborts, whichever comes first.
 * `dispose()` clears the timer.
 */
export function deadline(
    ms: number,
    parent?: AbortSignal,
): { signal: AbortSignal; dispose: () => void; expired: () => boolean } {
    const controller = new AbortController();
    let expired = false;
    const timer = setTimeout(
        () => {
            expired = true;
            controller.abort(new DeadlineError(ms));
        },
        Math.max(0, ms),
    );
    const onParent = () => controller.abort(parent?.reason);
    if (parent?.aborted) controller.abort(parent.reason);
    else parent?.addEventListener("abort", onParent, { once: true });
    return {
        signal: controller.signal,
        dispose: () => {
            clearTimeout(timer);
            parent?.removeEventListener("abort", onParent);
        },
        expired: () => expired,
    };
}

/** Resolves with `work`, or rejects once `signal` aborts (the work keeps running but is no longer awaited). */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason ?? new Error("aborted"));
    return new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(signal.reason ?? new Error("aborted"));
        signal.addEventListener("abort", onAbort, { once: true });
        work.then(
            (v) => {
                signal.removeEventListener("abort", onAbort);
                resolve(v);
            },
            (e) => {
                signal.removeEventListener("abort", onAbort);
                reject(e);
            },
        );
    });
}
