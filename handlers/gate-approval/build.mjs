// Bundles the Functions app with esbuild and writes the deploy folder `dist/package/`
// (host.json + a dependency-free package.json + the bundle): that folder is what gets zipped
// and deployed. The Pulumi program builds the same thing through `components/handler-package.ts`;
// keep the esbuild options of both in step (test/handler-package.test.ts compares the outputs).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
// Optional first argument: another output folder (tests build into a temporary one).
const outDir = process.argv[2] ? resolve(process.argv[2]) : join(root, "dist");
const packageDir = join(outDir, "package");

const result = await build({
    absWorkingDir: root,
    entryPoints: [join(root, "src", "index.ts")],
    outfile: join(outDir, "index.js"),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // Provided by the Functions Node.js worker at run time; never bundled.
    external: ["@azure/functions-core"],
    minify: true,
    sourcemap: "linked",
    metafile: true,
    logLevel: "warning",
});

const own = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
rmSync(packageDir, { recursive: true, force: true });
mkdirSync(packageDir, { recursive: true });
copyFileSync(join(root, "host.json"), join(packageDir, "host.json"));
copyFileSync(join(outDir, "index.js"), join(packageDir, "index.js"));
copyFileSync(join(outDir, "index.js.map"), join(packageDir, "index.js.map"));
writeFileSync(
    join(packageDir, "package.json"),
    `${JSON.stringify({ name: own.name, version: own.version, private: true, main: "index.js" }, null, 2)}\n`,
);

const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs).find((k) => k.endsWith("index.js"))].bytes;
console.log(`gate-approval: ${packageDir} (index.js ${bytes} bytes)`);
