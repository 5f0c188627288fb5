/**
 * The offline commands: `npm start`, `npm run plan`, `npm run rehearse`, `npm run replay`, and
 * `npm run stage-run` (creates a staged update run on the hub; `--offline` rehearses it).
 * Exit codes: 0 success, 1 a finding (config error, mandatory policy violation, stuck gate), 2 usage.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { ConfigError, parseConfigMap } from "../config";
import { formatPlanTree, planJson, planStack, PROJECT_ROOT, type Plan } from "./plan/plan";
import { evaluatePolicies, formatViolations, hasMandatoryViolation, PolicyConfigError } from "./plan/policy-harness";
import { ProgramError } from "./plan/mocks";
import { loadStackFile, StackFileError } from "./plan/stack-file";
import { OFFLINE_DEFAULTS } from "./plan/mocks";

// The handler (and the emulators it runs against) load only for the commands that run it:
// `rehearse`, `replay` and `start` import these modules when they start, `plan` never does.
const loadRehearse = () => import("./simulate/rehearse");
const loadStagedRun = () => import("./simulate/staged-run");
const loadHubClient = () => import("./stage-run");
const loadReplay = () => import("./simulate/replay");

/** The stack a command uses when `--stack` is not given. */
export const DEFAULT_STACK = "dev";
/** Events `replay` hands the handler at once unless `--concurrency` says otherwise (Event Grid delivers concurrently). */
export const DEFAULT_REPLAY_CONCURRENCY = 16;

/** A usage mistake in an option's value (exit 1 with the message). */
export class CliInputError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CliInputError";
    }
}

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
    readonly dir?: string;
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
        throw new CliInputError(`${flag} "${value}" is not ${what}`);
    return n;
}

function isoDate(flag: string, value: string | undefined): Date | undefined {
    if (value === undefined) return undefined;
    const d = new Date(value);
    if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(value))
        throw new CliInputError(`${flag} "${value}" is not an ISO 8601 date-time`);
    return d;
}

/** Commander's parser of a whole number ≥ 1, naming the flag in its error. */
function positiveInteger(flag: string): (value: string) => number {
    return (value) => {
        const n = Number(value);
        if (value.trim() === "" || !Number.isInteger(n) || n < 1)
            throw new InvalidArgumentError(`${flag} "${value}" is not a whole number ≥ 1`);
        return n;
    };
}

/**
 * The events dead-lettered in a Blob container, oldest blob first, as published. A SAS in the URL
 * signs the requests; without one, the user's Azure sign-in does (`DefaultAzureCredential`:
 * environment, managed identity, Azure CLI, ...). Progress goes to stderr.
 */
async function deadLetteredEvents(url: string): Promise<unknown[]> {
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        throw new CliInputError(`--dead-letter "${url}" is not a URL`);
    }
    if (parsed.protocol !== "https:") throw new CliInputError(`--dead-letter "${url}" is not an https URL`);
    const { readDeadLetterBlobs } = await import("./simulate/dead-letter-storage");
    const sas = parsed.searchParams.has("sig");
    const credential = sas ? undefined : new (await import("@azure/identity")).DefaultAzureCredential();
    let blobs: Awaited<ReturnType<typeof readDeadLetterBlobs>>;
    try {
        blobs = await readDeadLetterBlobs(url, credential ? { credential } : {});
    } catch (e) {
        if (e instanceof Error && e.name === "DeadLetterReadError") throw e;
        throw new CliInputError(`--dead-letter ${parsed.origin}${parsed.pathname}: ${(e as Error).message}`);
    }
    const events = blobs.flatMap((b) => b.events);
    process.stderr.write(
        `${events.length} dead-lettered event(s) in ${blobs.length} blob(s) of ${parsed.origin}${parsed.pathname}\n`,
    );
    return events;
}

/** Writes the rollout diagram where a PR workflow can pick it up; returns the path. */
function writeDiagram(stack: string, mermaid: string, staged?: string): string {
    const dir = path.join(PROJECT_ROOT, ".rehearsal");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${stack}.md`);
    const hub = staged ? `\n#### Staged runs on the hub\n\n\`\`\`mermaid\n${staged}\n\`\`\`\n` : "";
    writeFileSync(file, `### Rollout of stack \`${stack}\`\n\n\`\`\`mermaid\n${mermaid}\n\`\`\`\n${hub}`);
    return file;
}

async function rehearseCommand(opts: RehearseCliOptions, planned?: Plan): Promise<number> {
    const { formatRehearsal, rehearsalJson, rehearsalMermaid, rehearse } = await loadRehearse();
    const { formatStagedRuns, rehearseStagedRuns, stagedRunJson, stagedRunsMermaid } = await loadStagedRun();
    const dir = opts.dir !== undefined ? path.resolve(opts.dir) : undefined;
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
        ...(dir !== undefined ? { dir } : {}),
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
    const file = loadStackFile(opts.stack, dir ?? PROJECT_ROOT);
    const cfg = parseConfigMap(file.config, file.secretKeys);
    // Staged workload rollouts on the hub: one run per placement, its approval requests decided by the handler.
    const staged = await rehearseStagedRuns({
        config: cfg,
        subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
        ...(now ? { now } : {}),
        ...(opts.approveManual ? { approveManual: true } : {}),
        ...(horizonHours !== undefined ? { horizonHours } : {}),
    });
    const stagedStuck = staged.some((r) => r.stuck.length > 0);
    if (opts.json) {
        process.stdout.write(
            `${JSON.stringify({ ...rehearsalJson(result), stagedRuns: staged.map(stagedRunJson) }, null, 2)}\n`,
        );
    } else {
        const mermaid = rehearsalMermaid(result, cfg);
        const stagedMermaid = staged.length > 0 ? stagedRunsMermaid(staged) : undefined;
        const written = writeDiagram(opts.stack, mermaid, stagedMermaid);
        const hub = stagedMermaid
            ? `\n\n== staged runs on the hub ==\n${formatStagedRuns(staged)}\n\n\`\`\`mermaid\n${stagedMermaid}\n\`\`\``
            : "";
        process.stdout.write(
            `${formatRehearsal(result)}\n\n\`\`\`mermaid\n${mermaid}\n\`\`\`${hub}\n(diagram written to ${path.relative(process.cwd(), written)})\n`,
        );
    }
    return result.stuck.length > 0 || stagedStuck ? 1 : 0;
}

interface StageRunCliOptions {
    readonly stack: string;
    readonly placement: string;
    readonly snapshot: string;
    readonly run?: string;
    readonly dir?: string;
    readonly offline?: boolean;
    readonly approveManual?: boolean;
    readonly json?: boolean;
}

/** `npm run stage-run`: create a staged update run on the stack's hub, or rehearse it with `--offline`. */
async function stageRunCommand(opts: StageRunCliOptions): Promise<number> {
    if (!/^\d+$/.test(opts.snapshot))
        throw new CliInputError(`--snapshot "${opts.snapshot}" is not a resource snapshot index (0, 1, ...)`);
    const file = loadStackFile(opts.stack, opts.dir ?? PROJECT_ROOT);
    const cfg = parseConfigMap(file.config, file.secretKeys);
    const placement = cfg.placements.find((p) => p.name === opts.placement);
    if (!placement)
        throw new CliInputError(
            `--placement "${opts.placement}" is not a placement of stack ${opts.stack} (placements: ${cfg.placements.map((p) => p.name).join(", ") || "none"})`,
        );
    if (opts.offline) {
        const { formatStagedRuns, rehearseStagedRuns, stagedRunJson, stagedRunsMermaid } = await loadStagedRun();
        const runs = await rehearseStagedRuns({
            config: cfg,
            subscriptionId: OFFLINE_DEFAULTS.subscriptionId,
            placement: placement.name,
            snapshot: opts.snapshot,
            ...(opts.run ? { run: opts.run } : {}),
            ...(opts.approveManual ? { approveManual: true } : {}),
        });
        process.stdout.write(
            opts.json
                ? `${JSON.stringify(runs.map(stagedRunJson)[0], null, 2)}\n`
                : `${formatStagedRuns(runs)}\n\n\`\`\`mermaid\n${stagedRunsMermaid(runs)}\n\`\`\`\n`,
        );
        return runs.some((r) => r.stuck.length > 0) ? 1 : 0;
    }
    const subscriptionId = file.config["azure-native:subscriptionId"];
    if (!subscriptionId)
        throw new CliInputError(
            `stage-run needs azure-native:subscriptionId in Pulumi.${opts.stack}.yaml (or use --offline)`,
        );
    const { createStagedUpdateRun, hubKubeConfigFromAzure } = await loadHubClient();
    const kc = await hubKubeConfigFromAzure({
        subscriptionId,
        resourceGroup: cfg.resourceGroupName,
        fleetName: cfg.fleet.name,
    });
    const name = await createStagedUpdateRun(kc, {
        placement,
        snapshot: opts.snapshot,
        ...(opts.run ? { run: opts.run } : {}),
    });
    process.stdout.write(`created run ${name} of placement ${placement.name} at resource snapshot ${opts.snapshot}\n`);
    return 0;
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
        .option("--stack <name>", "stack whose Pulumi.<name>.yaml to use (also with --program)", DEFAULT_STACK)
        .option("--json", "print the plan as JSON (README: plan JSON shape)")
        .option(
            "--program <file>",
            "run this Pulumi TypeScript program instead of the project's, with the config of --stack",
        )
        .option("--policy-pack-config <file>", "policy pack config (JSON), as pulumi preview --policy-pack-config")
        .option("--preview", "plan as a first pulumi preview sees it: ids and computed outputs unknown")
        .option("--dir <dir>", "directory of Pulumi.yaml and Pulumi.<stack>.yaml (default: the project root)")
        .action(async (opts: PlanOptions) => {
            code = await plan(opts);
        });

    program
        .command("replay")
        .description("push recorded gate events through the real handler against the ARM emulator")
        .argument("[file]", "events: a JSON array, one event, or JSON lines; Event Grid or CloudEvents schema")
        .option(
            "--dead-letter <container-url>",
            "instead of a file: the events dead-lettered in this Blob container (a SAS in the URL, or your Azure sign-in)",
        )
        .option("--stack <name>", "stack whose Pulumi.<name>.yaml seeds the emulator and the handler", DEFAULT_STACK)
        .option("--dir <dir>", "directory of Pulumi.<stack>.yaml (default: the project root)")
        .option("--json", "print one decision object per event (README: replay JSON shape)")
        .option("--now <iso>", "fix the handler's clock, e.g. 2026-11-24T10:00:00Z (window checks)")
        .option(
            "--concurrency <n>",
            "events handled at once, as Event Grid delivers them; decisions are printed in input order",
            positiveInteger("--concurrency"),
            DEFAULT_REPLAY_CONCURRENCY,
        )
        .action(
            async (
                file: string | undefined,
                opts: {
                    stack: string;
                    dir?: string;
                    json?: boolean;
                    now?: string;
                    concurrency: number;
                    deadLetter?: string;
                },
            ) => {
                const now = isoDate("--now", opts.now);
                if ((file === undefined) === (opts.deadLetter === undefined))
                    throw new CliInputError("replay: give an events FILE or --dead-letter CONTAINER-URL (one of them)");
                const { formatReplay, readEventsFile, replay } = await loadReplay();
                const events =
                    opts.deadLetter !== undefined ? await deadLetteredEvents(opts.deadLetter) : readEventsFile(file!);
                const result = await replay({
                    stack: opts.stack,
                    events,
                    concurrency: opts.concurrency,
                    // The emulator on its own thread: the handler keeps this one.
                    emulator: "worker",
                    ...(opts.dir !== undefined ? { dir: path.resolve(opts.dir) } : {}),
                    ...(now ? { now } : {}),
                });
                process.stdout.write(
                    opts.json ? `${JSON.stringify(result.decisions, null, 2)}\n` : `${formatReplay(result)}\n`,
                );
                code = 0;
            },
        );

    program
        .command("rehearse")
        .description("simulate an update run of a stack: each gate's routing, decision and timing")
        .option("--stack <name>", "stack whose Pulumi.<name>.yaml to rehearse", DEFAULT_STACK)
        .option("--dir <dir>", "directory of Pulumi.<stack>.yaml (default: the project root)")
        .option("--json", "print { stack, gates, stuck, durationMs, stagedRuns } (README: rehearse JSON shape)")
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

    program
        .command("stage-run")
        .description("start a staged rollout of a placement on the stack's hub (a rollback: an older --snapshot)")
        .option("--stack <name>", "stack whose Pulumi.<name>.yaml names the placement", DEFAULT_STACK)
        .requiredOption("--placement <name>", "the placement to roll out")
        .option("--snapshot <index>", "resource snapshot index to roll out (default 1; older = rollback)", "1")
        .option("--run <name>", "name of the run (default <placement>-run-<snapshot>-<UTC minute>)")
        .option("--dir <dir>", "directory holding Pulumi.<name>.yaml (default: the project)")
        .option("--offline", "rehearse the run against the loopback hub and ARM emulators instead")
        .option("--approve-manual", "with --offline: a person approves requests no rule decides")
        .option("--json", "with --offline: print the run as a stagedRuns entry (README: rehearse JSON shape)")
        .action(async (opts: StageRunCliOptions) => {
            code = await stageRunCommand(opts);
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
            e instanceof CliInputError ||
            // Thrown by modules loaded lazily: a file that is not events, a blob that is not dead letters,
            // a rehearsal option the stack cannot take.
            (e instanceof Error &&
                (e.name === "ReplayInputError" || e.name === "DeadLetterReadError" || e.name === "RehearsalInputError"))
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

/**
 * Exits once stdout and stderr have taken everything written: into a pipe, writes may still be
 * queued, and `process.exit` at once would cut a long `--json` output short.
 */
function exitWhenFlushed(code: number): void {
    let pending = 2;
    const done = () => {
        if (--pending === 0) process.exit(code);
    };
    process.stdout.write("", done);
    process.stderr.write("", done);
}

if (require.main === module) {
    main(process.argv.slice(2)).then(exitWhenFlushed, (e: unknown) => {
        process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        exitWhenFlushed(1);
    });
}
