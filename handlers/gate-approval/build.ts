/**
 * `npm run build -w handlers/gate-approval`: bundles the Functions app into the deploy folder
 * `dist/package/` and `dist/package.zip` with the recipe in `bundle.ts` — the very builder `pulumi up` runs, so both agree.
 * Optional first argument: another output folder.
 */
import * as path from "node:path";
import { buildHandlerPackage } from "./bundle";

const pkg = buildHandlerPackage(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
process.stdout.write(`gate-approval: ${pkg.dir} (index.js ${pkg.bundleBytes} bytes, zip sha256 ${pkg.sha256})\n`);
