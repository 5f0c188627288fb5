/**
 * The offline CLI as a user runs it: each command with its npm script's own command line from
 * package.json (`node … local/cli.ts <command>`, node flags included): it prints what the command
 * is for and nothing else. In particular `@azure/functions` never announces
 * test mode or skipped registrations: the engine runs the handler without registering its triggers.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { npmScriptArgs } from "../bench/common";
import { main } from "../local/cli";

const ROOT = path.resolve(__dirname, "..");
const SAMPLE = path.resolve(ROOT, "../shared/fixtures/events/resolved/eventgrid-schema-gate-created.json");

/** `npm run <command> -- <args>` as node arguments: the script's own (after `node`), then the rest. */
function npmRun(command: string, args: readonly string[]): string[] {
    const own = npmScriptArgs(command);
    expect(own.slice(-2)).toEqual(["local/cli.ts", command]);
    return [...own, ...args];
}

function cli([command, ...args]: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, npmRun(command!, args), { cwd: ROOT });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

describe("CLI output", () => {
    it.each<[string, string[]]>([
        ["plan", ["plan", "--stack", "dev", "--json"]],
        ["replay", ["replay", SAMPLE, "--stack", "dev", "--json"]],
    ])(
        "%s prints no @azure/functions warning",
        async (_what, args) => {
            const run = await cli(args);
            expect(run.code).toBe(0);
            expect(run.stderr).not.toMatch(/WARNING|test mode|Skipping call to register/);
            expect(run.stdout).not.toMatch(/WARNING/);
            // The output is the command's JSON and nothing else.
            expect(() => JSON.parse(run.stdout) as unknown).not.toThrow();
        },
        180_000,
    );
});

describe("npm start", () => {
    it("prints dev's plan without a policy violation, then a run whose two gates pass by their rules", async () => {
        const r = await cli(["start"]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^== plan of stack dev \(offline, Pulumi mocks\) ==\nstack dev: \d+ resources\n/);
        expect(r.stdout).toContain("\n== policy pack ==\npolicy: no violations\n");
        expect(r.stdout).toMatch(
            /\ndev +- +Before +"Check with sales team" +sales-check +gate-sales-check +approved\n/,
        );
        expect(r.stdout).toMatch(/\ndev +blue +After +"blue healthy" +blue-healthy +gate-blue-healthy +approved\n/);
        expect(r.stdout).toContain(", 2 gate approval(s) written by it,");
        expect(r.stdout).toMatch(/\nthe run completed: 2 gate\(s\) passed in /);
        // The person of `npm start` deletes the run at the end: FleetGateDeleted for both gates.
        expect(r.stdout).toMatch(/person +run deleted +the update run is deleted; Fleet deletes its 2 gate\(s\)/);
        expect(r.stderr).not.toMatch(/WARNING|test mode|Skipping call to register/);
    }, 180_000);
});

describe("--help", () => {
    it.each<[string, string[]]>([
        ["start", []],
        ["plan", ["--stack <name>", "--json", "--program <file>", "--dir <dir>", "--preview", "--policy-pack-config"]],
        ["rehearse", ["--stack <name>", "--dir <dir>", "--now <iso>", "--approve-manual", "--fail <member>"]],
        [
            "replay",
            [
                "[file]",
                "--dead-letter <container-url>",
                "--stack <name>",
                "--dir <dir>",
                "--now <iso>",
                "--concurrency <n>",
            ],
        ],
    ])("%s --help lists its options and exits 0", async (command, options) => {
        const out: string[] = [];
        const spy = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
        try {
            expect(await main([command, "--help"])).toBe(0);
        } finally {
            spy.mockRestore();
        }
        const text = out.join("");
        expect(text).toMatch(new RegExp(`^Usage: fleet-gates ${command} `));
        for (const o of options) expect(text).toContain(o);
        if (command !== "start") expect(text).toMatch(/--stack <name>[\s\S]*\(default:\s+"dev"\)/);
    });
});
