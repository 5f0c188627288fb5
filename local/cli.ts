/**
 * The offline commands: `npm start`, `npm run plan`, `npm run rehearse`, `npm run replay`.
 * Exit codes: 0 success, 1 a finding (config error, mandatory policy violation, stuck gate), 2 usage.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config";
import { formatPlanTree, planJson, planStack } from "./plan";
import { evaluatePolicies, formatViolations, hasMandatoryViolation, PolicyConfigError } from "./policy-harness";
import { ProgramError } from "./mocks";
import { formatReplay, readEventsFile, replay, ReplayInputError } from "./replay";
import { StackFileError } from "./stack-file";

interface PlanOptions {
    readonly stack: string;
    readonly json?: boolean;
    readonly program?: string;
    readonly policyPackConfig?: string;
    readonly preview?: boolean;
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
    });
    const violations = await evaluatePolicies(p, config ? { config } : {});
    if (opts.json) {
        process.stdout.write(`${JSON.stringify(planJson(p, violations), null, 2)}\n`);
    } else {
        process.stdout.write(`${formatPlanTree(p)}\n\n${formatViolations(violations)}\n`);
    }
    return hasMandatoryViolation(violations) ? 1 : 0;
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
        .description("offline walk-through of the dev stack")
        .action(async () => {
            code = await plan({ stack: "dev" });
        });

    program
        .command("plan")
        .description("run a stack's program under mocks; print the resource tree and policy verdict")
        .requiredOption("--stack <name>", "stack whose Pulumi.<name>.yaml to use")
        .option("--json", "print the plan as JSON (README: plan JSON shape)")
        .option("--program <file>", "run this Pulumi TypeScript program instead of the project's")
        .option("--policy-pack-config <file>", "policy pack config (JSON), as pulumi preview --policy-pack-config")
        .option("--preview", "plan as a first pulumi preview sees it: ids and computed outputs unknown")
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
            const now = opts.now === undefined ? undefined : new Date(opts.now);
            if (now !== undefined && (Number.isNaN(now.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(opts.now!)))
                throw new ReplayInputError(`--now "${opts.now}" is not an ISO 8601 date-time`);
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

    for (const name of ["rehearse"]) {
        program
            .command(name)
            .description(`${name} (not available yet)`)
            .allowUnknownOption()
            .allowExcessArguments()
            .action(() => {
                process.stderr.write(`${name}: not available yet in this version\n`);
                code = 2;
            });
    }

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
