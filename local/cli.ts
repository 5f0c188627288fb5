/**
 * The offline commands: `npm start`, `npm run plan`, `npm run rehearse`, `npm run replay`.
 * Exit codes: 0 success, 1 a finding (config error, mandatory policy violation, stuck gate), 2 usage.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Command, CommanderError } from "commander";
import { ConfigError, parseConfigMap } from "../config";
import { formatPlanTree, planJson, planStack, PROJECT_ROOT, type Plan } from "./plan/plan";
import { formatRehearsal, rehearsalJson, rehearsalMermaid, rehearse } from "./simulate/rehearse";
import { evaluatePolicies, formatViolations, hasMandatoryViolation, PolicyConfigError } from "./plan/policy-harness";
import { ProgramError } from "./plan/mocks";
import { formatReplay, readEventsFile, replay, ReplayInputError } from "./simulate/replay";
import { loadStackFile, StackFileError } from "./plan/stack-file";

interface PlanOptions {
    readonly stack: string;
    readonly json?: boolean;
    readonly program?: string;
    readonly policyPackConfig?: string;
    readonly preview?: boolean;
    readonly dir?: string;
}

/** Pack config as `pulumi preview --policy-pack-config FILE` takes it: a JSON file. */
function readPolicyConfig(file: string | undefined): Record<string, unknown> | undefined {
    if (file === undefined) return undefined;
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch (e) {
        throw new PolicyConfigError(`--policy-pack-config ${file}: ${(e as Error).message}`);
    }
    try {
        return JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
        throw new PolicyConfigError(`--policy-pack-config ${file}: not valid JSON: ${(e as Error).message}`);
    }
}

async function plan(opts: PlanOptions): Promise<number> {
    const config = readPolicyConfig(opts.policyPackConfig);
    const p = await planStack(opts.stack, {
        ...(opts.program ? { program: opts.program } : {}),
        ...(opts.preview ? { preview: true } : {}),
        ...(opts.dir ? { dir: path.resolve(opts.dir) } : {}),
    });
    const violations = await evaluatePolicies(p, config ? { config } : {});
    if (opts.json) {
        process.stdout.write(`${JSON.stringify(planJson(p, violations), null, 2)}\n`);
    } else {
        process.stdout.write(`${formatPlanTree(p)}\n\n${formatViolations(violations)}\n`);
    }
    return hasMandatoryViolation(violations) ? 1 : 0;
}

interface RehearseCliOptions {
    readonly stack: string;
    readonly json?: boolean;
    readonly now?: string;
    readonly approveManual?: boolean;
    readonly fail: string[];
    readonly newVersion?: string;
    readonly deleteRun?: boolean;
    readonly upgradeMinutes?: string;
    readonly horizonHours?: string;
    readonly duplicates?: string;
    readonly shuffle?: boolean;
    readonly seed?: string;
}

/** A numeric flag's value, or a usage error naming the flag. */
function numberFlag(
    flag: string,
    value: string | undefined,
    ok: (n: number) => boolean,
    what: string,
): number | undefined {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || !ok(n))
        throw new ReplayInputError(`${flag} "${value}" is not ${what}`);
    return n;
}

function isoDate(flag: string, value: string | undefined): Date | undefined {
    if (value === undefined) return undefined;
    const d = new Date(value);
    if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(value))
        throw new ReplayInputError(`${flag} "${value}" is not an ISO 8601 date-time`);
    return d;
}

/** Writes the rollout diagram where a PR workflow can pick it up; returns the path. */
function writeDiagram(stack: string, mermaid: string): string {
    const dir = path.join(PROJECT_ROOT, ".rehearsal");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${stack}.md`);
    writeFileSync(file, `### Rollout of stack \`${stack}\`\n\n\`\`\`mermaid\n${mermaid}\n\`\`\`\n`);
    return file;
}

async function rehearseCommand(opts: RehearseCliOptions, planned?: Plan): Promise<number> {
    const now = isoDate("--now", opts.now);
    const upgradeMinutes = numberFlag(
        "--upgrade-minutes",
        opts.upgradeMinutes,
        (n) => n >= 0,
        "a number of minutes >= 0",
    );
    const horizonHours = numberFlag("--horizon-hours", opts.horizonHours, (n) => n > 0, "a number of hours > 0");
    const duplicates = numberFlag("--duplicates", opts.duplicates, (n) => n >= 0 && n <= 1, "a rate from 0 to 1");
    const seed = numberFlag("--seed", opts.seed, (n) => Number.isInteger(n), "an integer");
    const result = await rehearse({
        stack: opts.stack,
        ...(now ? { now } : {}),
        ...(opts.approveManual ? { approveManual: true } : {}),
        ...(opts.fail.length > 0 ? { fail: opts.fail } : {}),
        ...(opts.newVersion !== undefined ? { newVersion: opts.newVersion } : {}),
        ...(opts.deleteRun ? { deleteRun: true } : {}),
        ...(upgradeMinutes !== undefined ? { upgradeMinutes } : {}),
        ...(horizonHours !== undefined ? { horizonHours } : {}),
        ...(duplicates !== undefined ? { duplicates } : {}),
        ...(opts.shuffle ? { shuffle: true } : {}),
        ...(seed !== undefined ? { seed } : {}),
        ...(planned ? { plan: planned } : {}),
        ...(opts.json ? {} : { onProgress: (line: string) => process.stderr.write(`${line}\n`) }),
    });
    if (opts.json) {
        process.stdout.write(`${JSON.stringify(rehearsalJson(result), null, 2)}\n`);
    } else {
        const file = loadStackFile(opts.stack, PROJECT_ROOT);
        const mermaid = rehearsalMermaid(result, parseConfigMap(file.config, file.secretKeys));
        const written = writeDiagram(opts.stack, mermaid);
        process.stdout.write(
            `${formatRehearsal(result)}\n\n\`\`\`mermaid\n${mermaid}\n\`\`\`\n(diagram written to ${path.relative(process.cwd(), written)})\n`,
        );
    }
    return result.stuck.length > 0 ? 1 : 0;
}

/** `npm start`: the dev stack's plan and policy verdict, then a rehearsal of an update run. */
async function start(): Promise<number> {
    process.stdout.write("== plan of stack dev (offline, Pulumi mocks) ==\n");
    const p = await planStack("dev");
    const violations = await evaluatePolicies(p);
    process.stdout.write(`${formatPlanTree(p)}\n\n== policy pack ==\n${formatViolations(violations)}\n\n`);
    process.stdout.write(
        "== rehearsal of an update run (manual gates approved and the run deleted at the end, as a person would) ==\n",
    );
    const rehearsed = await rehearseCommand({ stack: "dev", approveManual: true, deleteRun: true, fail: [] }, p);
    return hasMandatoryViolation(violations) ? 1 : rehearsed;
}

export async function main(argv: readonly string[]): Promise<number> {
    let code = 0;
    const program = new Command()
        .name("fleet-gates")
        .description("Offline engine of fleet-gates: plan, rehearse and replay without an Azure account.")
        .exitOverride()
        .configureOutput({ writeErr: (s) => process.stderr.write(s) });

    program
        .command("start")
        .description("offline walk-through of the dev stack: plan, policy verdict, rehearsal of an update run")
        .action(async () => {
            code = await start();
        });

    program
        .command("plan")
        .description("run a stack's program under mocks; print the resource tree and policy verdict")
        .requiredOption("--stack <name>", "stack whose Pulumi.<name>.yaml to use")
        .option("--json", "print the plan as JSON (README: plan JSON shape)")
        .option("--program <file>", "run this Pulumi TypeScript program instead of the project's")
        .option("--policy-pack-config <file>", "policy pack config (JSON), as pulumi preview --policy-pack-config")
        .option("--preview", "plan as a first pulumi preview sees it: ids and computed outputs unknown")
        .option("--dir <dir>", "directory of Pulumi.yaml and Pulumi.<stack>.yaml (default: the project root)")
        .action(async (opts: PlanOptions) => {
            code = await plan(opts);
        });

    program
        .command("replay")
        .description("push recorded gate events through the real handler against the ARM emulator")
        .argument("<file>", "events: a JSON array, one event, or JSON lines; Event Grid or CloudEvents schema")
        .requiredOption("--stack <name>", "stack whose Pulumi.<name>.yaml seeds the emulator and the handler")
        .option("--json", "print one decision object per event (README: replay JSON shape)")
        .option("--now <iso>", "fix the handler's clock, e.g. 2026-11-24T10:00:00Z (window checks)")
        .action(async (file: string, opts: { stack: string; json?: boolean; now?: string }) => {
            const now = isoDate("--now", opts.now);
            const result = await replay({
                stack: opts.stack,
                events: readEventsFile(file),
                ...(now ? { now } : {}),
            });
            process.stdout.write(
                opts.json ? `${JSON.stringify(result.decisions, null, 2)}\n` : `${formatReplay(result)}\n`,
            );
            code = 0;
        });

    program
        .command("rehearse")
        .description("simulate an update run of a stack: each gate's routing, decision and timing")
        .requiredOption("--stack <name>", "stack whose Pulumi.<name>.yaml to rehearse")
        .option("--json", "print { stack, gates, stuck, durationMs } (README: rehearse JSON shape)")
        .option("--now <iso>", "start of the virtual clock, e.g. 2026-11-24T09:00:00Z (default: now)")
        .option("--approve-manual", "approve manual gates as a person would (otherwise the run waits there)")
        .option(
            "--fail <member>",
            "make this member's upgrade fail (repeatable)",
            (v: string, acc: string[]) => [...acc, v],
            [],
        )
        .option(
            "--new-version <x.y.z>",
            "start from AKS announcing this Kubernetes version: the handler starts the run (upgradeEvents.startRun)",
        )
        .option("--delete-run", "delete the update run at the end: Fleet deletes its gates (FleetGateDeleted events)")
        .option("--upgrade-minutes <n>", "virtual minutes one member's upgrade takes (default 10)")
        .option("--horizon-hours <h>", "how long a held gate is re-checked before it counts as stuck (default 168)")
        .option("--duplicates <rate>", "Event Grid delivers each request twice with this probability, 0-1")
        .option("--shuffle", "deliveries and work due at the same instant in random order")
        .option("--seed <n>", "seed of the RNG behind --duplicates and --shuffle (default 1)")
        .action(async (opts: RehearseCliOptions) => {
            code = await rehearseCommand(opts);
        });

    // If the event loop drains before a command finishes, something awaited can never settle:
    // fail loudly rather than let Node exit 0 with nothing printed.
    const unfinished = () => {
        process.stderr.write(
            "fleet-gates: the command stopped before finishing (a value it waited for never resolved)\n",
        );
        process.exit(1);
    };
    process.once("beforeExit", unfinished);
    try {
        await program.parseAsync([...argv], { from: "user" });
    } catch (e) {
        if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
        if (
            e instanceof ConfigError ||
            e instanceof StackFileError ||
            e instanceof ProgramError ||
            e instanceof PolicyConfigError ||
            e instanceof ReplayInputError
        ) {
            process.stderr.write(`${e.message}\n`);
            return 1;
        }
        throw e;
    } finally {
        process.off("beforeExit", unfinished);
    }
    return code;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (e: unknown) => {
            process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
            process.exit(1);
        },
    );
}
