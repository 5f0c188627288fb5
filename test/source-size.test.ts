/**
 * Keeps every source file readable at once: no file outside tests over 600 lines and no function over
 * 120 lines, measured with the TypeScript compiler's own parse. The exceptions are named with the reason.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");
const FILE_MAX = 600;
const FUNCTION_MAX = 120;

/** `file:function` → why it may be longer. */
const EXCEPTIONS: Readonly<Record<string, string>> = {
    // One short case per Azure resource type: a flat table that splitting would scatter.
    "local/plan/mocks.ts:synthesise": "a table of mocked resource types",
    // Commander's declaration of every command and option: a flat table; the commands' work is in functions.
    "local/cli.ts:main": "the declaration of every command's options",
};

function sourceFiles(): string[] {
    return execFileSync("git", ["ls-files", "*.ts", "*.mts"], { cwd: ROOT, encoding: "utf8" })
        .split("\n")
        .filter((f) => f && !/(^|\/)test\//.test(f) && !f.endsWith(".test.ts"));
}

function functionName(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
    if (node.name) return node.name.getText(sf);
    if (ts.isConstructorDeclaration(node)) return "constructor";
    const parent = node.parent;
    if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText(sf);
    return "<anonymous>";
}

/** Every function of `file` longer than FUNCTION_MAX lines, as `file:name (N lines)`. */
function longFunctions(file: string, text: string): string[] {
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const found: string[] = [];
    const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
            const fn = node as ts.FunctionLikeDeclaration;
            const lines =
                sf.getLineAndCharacterOfPosition(fn.getEnd()).line -
                sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line +
                1;
            const key = `${file}:${functionName(fn, sf)}`;
            if (lines > FUNCTION_MAX && !(key in EXCEPTIONS)) found.push(`${key} (${lines} lines)`);
        }
        ts.forEachChild(node, visit);
    };
    visit(sf);
    return found;
}

describe("source size", () => {
    const files = sourceFiles();

    it("finds the project's sources", () => {
        expect(files).toContain("config.ts");
        expect(files.some((f) => f.startsWith("local/"))).toBe(true);
    });

    it(`has no source file over ${FILE_MAX} lines`, () => {
        const long = files
            .map((f) => [f, readFileSync(path.join(ROOT, f), "utf8").split("\n").length] as const)
            .filter(([, n]) => n > FILE_MAX + 1)
            .map(([f, n]) => `${f} (${n} lines)`);
        expect(long).toEqual([]);
    });

    it(`has no function over ${FUNCTION_MAX} lines outside the named exceptions`, () => {
        const long = files.flatMap((f) => longFunctions(f, readFileSync(path.join(ROOT, f), "utf8")));
        expect(long).toEqual([]);
    });

    it("measures a long function as long (the check can fail)", () => {
        const body = Array.from({ length: FUNCTION_MAX + 5 }, (_, i) => `    const a${i} = ${i};`).join("\n");
        expect(longFunctions("x.ts", `function big() {\n${body}\n}\n`)).toEqual([
            `x.ts:big (${FUNCTION_MAX + 7} lines)`,
        ]);
        expect(longFunctions("x.ts", "function small() {\n    return 1;\n}\n")).toEqual([]);
    });
});
