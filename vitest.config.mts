// Vitest: which files are tests (root, handler and policy-pack tests) and how they run (forked processes).
import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts", "handlers/*/test/**/*.test.ts", "policies/test/**/*.test.ts"],
        // Pulumi's runtime state is per process: isolate test files in forks.
        pool: "forks",
        testTimeout: 60_000,
        hookTimeout: 60_000,
    },
});
