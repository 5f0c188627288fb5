/**
 * Keeps the dependency direction of the layout true: core <- config <- components <- program;
 * the handler and the policy pack depend on core only (components may use the handler's bundle
 * recipe to deploy it); the offline engine (`local/`) may use all,
 * and nothing outside tests and benchmarks imports it. Every relative import, `export … from`,
 * `require()` and `import()` of every source file is resolved and checked against its layer.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");

type Layer = "core" | "config" | "components" | "program" | "bootstrap" | "handler" | "policies" | "local";

/** Which layers a layer may import (its own always). */
const ALLOWED: Record<Layer, readonly Layer[]> = {
    core: [],
    config: ["core"],
    // Components deploy the handler: they may use its bundle recipe (the handler never imports them).
    components: ["core", "config", "handler"],
    program: ["core", "config", "components", "handler"],
    bootstrap: ["core", "config", "components", "handler"],
    handler: ["core"],
    policies: ["core"],
    local: ["core", "config", "components", "program", "bootstrap", "handler", "policies"],
};

/**
 * Known exceptions, each with its reason. The bootstrap program reads the fleet-gates stacks'
 * `Pulumi.<stack>.yaml` with the offline engine's stack-file reader (one parser for both).
 */
const EXCEPTIONS: readonly { readonly from: string; readonly to: string }[] = [
    { from: "bootstrap/config.ts", to: "local/plan/stack-file.ts" },
];

/** The layer of a repository file; undefined for tests, benchmarks and tooling (unchecked). */
function layerOf(rel: string): Layer | undefined {
    if (/(^|\/)test\//.test(rel) || rel.startsWith("bench/") || rel.startsWith("scripts/")) return undefined;
    if (rel.startsWith("core/")) return "core";
    if (rel === "config.ts") return "config";
    if (rel.startsWith("components/")) return "components";
    if (rel === "program.ts" || rel === "index.ts") return "program";
    if (rel.startsWith("bootstrap/")) return "bootstrap";
    if (rel.startsWith("handlers/")) return "handler";
    if (rel.startsWith("policies/")) return "policies";
    if (rel.startsWith("local/")) return "local";
    return undefined;
}

function sourceFiles(dir: string): string[] {
    const out: string[] = [];
    for (const name of readdirSync(dir)) {
        if (name === "node_modules" || name === "dist" || name === "bin" || name.startsWith(".")) continue;
        const full = path.join(dir, name);
        if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
        else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(full);
    }
    return out;
}

/** A relative specifier resolved to a repository file (`x.ts` or `x/index.ts`). */
function resolve(fromFile: string, spec: string): string {
    const base = path.resolve(path.dirname(fromFile), spec);
    for (const candidate of [`${base}.ts`, path.join(base, "index.ts"), base]) {
        try {
            if (statSync(candidate).isFile()) return path.relative(ROOT, candidate).split(path.sep).join("/");
        } catch {
            // try the next form
        }
    }
    return path.relative(ROOT, base).split(path.sep).join("/");
}

/** Every `import`/`export … from`/`require()`/`import()` specifier of a file (the compiler's own scan). */
function specifiers(file: string): string[] {
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    return info.importedFiles.map((f) => f.fileName);
}

describe("import direction", () => {
    const files = sourceFiles(ROOT).map((f) => path.relative(ROOT, f).split(path.sep).join("/"));

    it("finds the layers it checks", () => {
        const layers = new Set(files.map(layerOf));
        for (const l of Object.keys(ALLOWED)) expect(layers).toContain(l);
    });

    it("no source file imports upward", () => {
        const violations: string[] = [];
        for (const rel of files) {
            const from = layerOf(rel);
            if (from === undefined) continue;
            for (const spec of specifiers(path.join(ROOT, rel))) {
                if (!spec.startsWith(".")) continue;
                const target = resolve(path.join(ROOT, rel), spec);
                const to = layerOf(target);
                if (to === undefined) {
                    if (/(^|\/)test\//.test(target) || target.startsWith("bench/"))
                        violations.push(`${rel} imports ${target} (a test or benchmark)`);
                    continue;
                }
                if (to === from || ALLOWED[from].includes(to)) continue;
                if (EXCEPTIONS.some((e) => e.from === rel && e.to === target)) continue;
                violations.push(`${rel} (${from}) imports ${target} (${to})`);
            }
        }
        expect(violations).toEqual([]);
    });

    it("catches an upward import", () => {
        // The checker itself: a handler file importing a component must be reported.
        const from = layerOf("handlers/gate-approval/build.ts")!;
        const to = layerOf("components/handler-package.ts")!;
        expect(ALLOWED[from].includes(to)).toBe(false);
        expect(specifiers(__filename).length).toBeGreaterThan(0);
    });
});
