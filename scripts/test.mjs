// Runs every test with vitest and ends with the one plain line CI reads: "N passed, N failed".
// A run that executes no test is a failure.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "fleet-gates-test-"));
const report = join(dir, "report.json");
const run = spawnSync(
    process.execPath,
    [
        "node_modules/vitest/vitest.mjs",
        "run",
        "--reporter=default",
        "--reporter=json",
        `--outputFile.json=${report}`,
        ...process.argv.slice(2),
    ],
    { stdio: "inherit" },
);
let passed = 0;
let failed = 0;
try {
    const json = JSON.parse(readFileSync(report, "utf8"));
    passed = json.numPassedTests;
    // A file that fails to load has no failed test of its own: count it as one failure.
    const brokenFiles = json.testResults.filter(
        (r) => r.status === "failed" && !r.assertionResults.some((a) => a.status === "failed"),
    ).length;
    failed = json.numFailedTests + brokenFiles;
    // A file whose worker never started, or an unhandled error, fails the run without failing a test:
    // vitest says so (success false, non-zero exit), and so must the line CI reads.
    if (failed === 0 && (json.success === false || run.status !== 0)) {
        console.error("vitest reported the run as not successful (a test file did not run, or an unhandled error)");
        failed = 1;
    }
} catch {
    failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
