/**
 * The program loads under Pulumi's own Node.js runtime: the project's TypeScript and Pulumi's vendored
 * ts-node type-check it in a child process, and the dev stack plans under mocks.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");

describe("Pulumi's Node.js runtime", () => {
    it("compiles and type-checks the program with the project's TypeScript and Pulumi's ts-node", () => {
        const run = spawnSync(process.execPath, [path.join(__dirname, "fixtures", "pulumi-runtime-probe.cjs"), ROOT], {
            encoding: "utf8",
            timeout: 170_000,
        });
        expect(run.stderr).not.toMatch(/TSError|error TS\d+/);
        expect(run.status).toBe(0);
        const result = JSON.parse(run.stdout.trim().split("\n").pop()!) as {
            typescript: string;
            tsnode: string;
            resources: number;
        };
        // The runtime must pick the project's TypeScript (pinned below 6: Pulumi supports < 7 via ts-node).
        expect(result.typescript).toMatch(/^5\./);
        expect(result.tsnode).toMatch(/vendor[\\/]ts-node@7\.0\.1$/);
        expect(result.resources).toBeGreaterThan(40);
    }, 180_000); // a whole-program type-check in a child process: minutes on a loaded 2-core machine
});
