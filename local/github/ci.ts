/**
 * What the GitHub workflows derive from the repository: the stacks (one per `Pulumi.<stack>.yaml`) and
 * the preview matrix, whose entries name the repository variables each stack's preview reads (the
 * names the bootstrap prints, `core/github-oidc.ts`).
 *
 * `node --import tsx local/github/ci.ts matrix` prints the matrix as one line of JSON for `$GITHUB_OUTPUT`.
 */
import { readdirSync } from "node:fs";
import * as path from "node:path";
import { previewVariables } from "../../core/github-oidc";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

const STACK_FILE = /^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$/;

/** The stacks of the project: the names of the `Pulumi.<stack>.yaml` files in `dir`, sorted. */
export function stackNames(dir = PROJECT_ROOT): string[] {
    return readdirSync(dir)
        .map((f) => STACK_FILE.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

/** One preview job: its stack and the names of the repository variables holding its identity. */
export interface PreviewMatrixEntry {
    readonly stack: string;
    readonly clientIdVariable: string;
    readonly subscriptionIdVariable: string;
}

/** A GitHub Actions matrix (`include` entries) with one preview per stack. */
export function previewMatrix(stacks: readonly string[]): { include: PreviewMatrixEntry[] } {
    if (stacks.length === 0) throw new Error("no Pulumi.<stack>.yaml: nothing to preview");
    return {
        include: stacks.map((stack) => {
            const v = previewVariables(stack);
            return { stack, clientIdVariable: v.clientId, subscriptionIdVariable: v.subscriptionId };
        }),
    };
}

export function main(argv: readonly string[], out: (s: string) => void = (s) => process.stdout.write(s)): number {
    if (argv[0] !== "matrix" || argv.length !== 1) {
        process.stderr.write("usage: local/github/ci.ts matrix\n");
        return 2;
    }
    out(`${JSON.stringify(previewMatrix(stackNames()))}\n`);
    return 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
