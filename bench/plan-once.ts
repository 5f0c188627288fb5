/**
 * One plan in a fresh process, as `npm run plan` runs it: prints `{ ms, resources }` for the plan
 * itself (module loading excluded, it is start-up). Used by bench/run.ts.
 */
import { performance } from "node:perf_hooks";
import { planStack } from "../local/plan/plan";

async function main(): Promise<void> {
    const [dir, stack] = process.argv.slice(2);
    if (!dir || !stack) throw new Error("usage: plan-once.ts <dir> <stack>");
    await import("../program"); // load the program's modules before timing
    const t0 = performance.now();
    const plan = await planStack(stack, { dir });
    const ms = performance.now() - t0;
    process.stdout.write(`${JSON.stringify({ ms, resources: plan.resources.filter((r) => r.custom).length })}\n`);
}

main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
});
