/**
 * The offline commands: `npm start`, `npm run plan`, `npm run rehearse`, `npm run replay`.
 * Exit codes: 0 success, 1 a finding (config error, mandatory policy violation, stuck gate), 2 usage.
 */
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config";
import { formatPlanTree, planJson, planStack, type PolicyViolation } from "./plan";
import { ProgramError } from "./mocks";
import { StackFileError } from "./stack-file";

/** The policy pack is evaluated offline once `policies/` exists; until then the verdict says so. */
async function policyVerdict(): Promise<{ violations: PolicyViolation[]; evaluated: boolean }> {
    return { violations: [], evaluated: false };
}

async function plan(opts: { stack: string; json?: boolean; program?: string }): Promise<number> {
    const p = await planStack(opts.stack, opts.program ? { program: opts.program } : {});
    const verdict = await policyVerdict();
    if (opts.json) {
        process.stdout.write(`${JSON.stringify(planJson(p, verdict.violations), null, 2)}\n`);
    } else {
        process.stdout.write(`${formatPlanTree(p)}\n\n`);
        process.stdout.write(
            verdict.evaluated
                ? `policy: ${verdict.violations.length} violation(s)\n`
                : "policy: the policy pack is not evaluated offline yet\n",
        );
    }
    return verdict.violations.some((v) => v.level === "mandatory") ? 1 : 0;
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
        .action(async (opts: { stack: string; json?: boolean; program?: string }) => {
            code = await plan(opts);
        });

    for (const name of ["rehearse", "replay"]) {
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

    try {
        await program.parseAsync([...argv], { from: "user" });
    } catch (e) {
        if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
        if (e instanceof ConfigError || e instanceof StackFileError || e instanceof ProgramError) {
            process.stderr.write(`${e.message}\n`);
            return 1;
        }
        throw e;
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
