/**
 * Loads the pack the way `pulumi preview --policy-pack policies` does: the nodejs language host runs
 * `node <@pulumi/pulumi/cmd/run-policy-pack> <engine address> <pack dir>` with the pack directory as
 * working directory; the runner compiles the TypeScript entry (package.json `main`) with ts-node, the
 * PolicyPack starts the analyzer's gRPC server and prints its port on stdout. The test then talks
 * gRPC to it as the engine does, and checks that the offline harness reports exactly what the real
 * analyzer reports for the same plans.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as analyzerpb from "@pulumi/pulumi/proto/analyzer_pb";
import * as analyzerrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as plugpb from "@pulumi/pulumi/proto/plugin_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { PlannedResource } from "../../local/plan/mocks";
import { PROJECT_ROOT, planStack, type Plan, type PolicyViolation } from "../../local/plan/plan";
import { defaultProviderOf, evaluatePolicies } from "../../local/plan/policy-harness";
import { POLICY_PACK_DESCRIPTION, POLICY_PACK_NAME, policies } from "../policies";
import { compliantStack, mutate, planOf } from "./fixture";

const PACK_DIR = path.join(PROJECT_ROOT, "policies");
const RUNNER = require.resolve("@pulumi/pulumi/cmd/run-policy-pack");
const pkg = JSON.parse(readFileSync(path.join(PACK_DIR, "package.json"), "utf8")) as { version: string; main: string };

const LEVEL_NAMES = new Map<number, PolicyViolation["level"]>([
    [analyzerpb.EnforcementLevel.ADVISORY, "advisory"],
    [analyzerpb.EnforcementLevel.MANDATORY, "mandatory"],
    [analyzerpb.EnforcementLevel.REMEDIATE, "remediate"],
    [analyzerpb.EnforcementLevel.DISABLED, "disabled"],
]);

let child: ChildProcess | undefined;
let client: analyzerrpc.AnalyzerClient;
let stderr = "";

function settle<T>(resolve: (v: T) => void, reject: (e: unknown) => void) {
    return (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res));
}

/** The analyzer RPCs the engine calls, promisified. */
const rpc = {
    info: () =>
        new Promise<analyzerpb.AnalyzerInfo>((ok, fail) => client.getAnalyzerInfo(new Empty(), settle(ok, fail))),
    plugin: () => new Promise<plugpb.PluginInfo>((ok, fail) => client.getPluginInfo(new Empty(), settle(ok, fail))),
    analyze: (req: analyzerpb.AnalyzeRequest) =>
        new Promise<analyzerpb.AnalyzeResponse>((ok, fail) => client.analyze(req, settle(ok, fail))),
    analyzeStack: (req: analyzerpb.AnalyzeStackRequest) =>
        new Promise<analyzerpb.AnalyzeResponse>((ok, fail) => client.analyzeStack(req, settle(ok, fail))),
    configure: (req: analyzerpb.ConfigureAnalyzerRequest) =>
        new Promise<unknown>((ok, fail) => client.configure(req, settle(ok, fail))),
};

/** Starts the pack as the policy host does and resolves with the port it prints. */
function startPack(): Promise<number> {
    return new Promise((resolve, reject) => {
        const proc = spawn(process.execPath, [RUNNER, "127.0.0.1:0", "."], {
            cwd: PACK_DIR,
            stdio: ["ignore", "pipe", "pipe"],
            // The host's environment, without the test runner's loader options.
            env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_OPTIONS")),
        });
        child = proc;
        let out = "";
        proc.stdout!.on("data", (d: Buffer) => {
            out += d.toString();
            const line = out.split("\n")[0]!;
            if (out.includes("\n") && /^\d+$/.test(line.trim())) resolve(Number(line.trim()));
        });
        proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
        proc.on("exit", (code) => reject(new Error(`policy pack exited with ${code}: ${stderr || out}`)));
    });
}

function options(r: PlannedResource): analyzerpb.AnalyzerResourceOptions {
    const o = new analyzerpb.AnalyzerResourceOptions();
    o.setProtect(false);
    if (r.parent) o.setParent(r.parent);
    return o;
}

function provider(r: PlannedResource, plan: Plan): analyzerpb.AnalyzerProviderResource | undefined {
    const p = defaultProviderOf(r, plan);
    if (!p) return undefined;
    const msg = new analyzerpb.AnalyzerProviderResource();
    msg.setType(p.type);
    msg.setName(p.name);
    msg.setUrn(p.urn);
    msg.setProperties(Struct.fromJavaScript(p.props as Record<string, never>));
    return msg;
}

const struct = (v: Record<string, unknown>) =>
    Struct.fromJavaScript(JSON.parse(JSON.stringify(v)) as Record<string, never>);

/** What the message of a diagnostic is once the description the server prefixes is removed. */
function ownMessage(d: analyzerpb.AnalyzeDiagnostic): string {
    const prefix = `${d.getDescription()}\n`;
    return d.getMessage().startsWith(prefix) ? d.getMessage().slice(prefix.length) : d.getMessage();
}

/** The plan through the real analyzer: Analyze per resource (inputs), then AnalyzeStack (outputs). */
async function analyzeOverGrpc(plan: Plan): Promise<PolicyViolation[]> {
    const out: PolicyViolation[] = [];
    for (const r of plan.resources) {
        const req = new analyzerpb.AnalyzeRequest();
        req.setType(r.type);
        req.setName(r.name);
        req.setUrn(r.urn);
        req.setProperties(struct(r.inputs));
        req.setOptions(options(r));
        const prov = provider(r, plan);
        if (prov) req.setProvider(prov);
        const res = await rpc.analyze(req);
        for (const d of res.getDiagnosticsList())
            // The engine attributes a resource policy's diagnostic to the analyzed resource.
            out.push({
                policy: d.getPolicyname(),
                level: LEVEL_NAMES.get(d.getEnforcementlevel())!,
                urn: r.urn,
                message: ownMessage(d),
            });
    }
    const stack = new analyzerpb.AnalyzeStackRequest();
    stack.setResourcesList(
        plan.resources.map((r) => {
            const res = new analyzerpb.AnalyzerResource();
            res.setType(r.type);
            res.setName(r.name);
            res.setUrn(r.urn);
            res.setProperties(struct(r.outputs));
            res.setOptions(options(r));
            const prov = provider(r, plan);
            if (prov) res.setProvider(prov);
            if (r.parent) res.setParent(r.parent);
            res.setDependenciesList(r.dependencies);
            for (const [k, urns] of Object.entries(r.propertyDependencies)) {
                const deps = new analyzerpb.AnalyzerPropertyDependencies();
                deps.setUrnsList(urns);
                res.getPropertydependenciesMap().set(k, deps);
            }
            return res;
        }),
    );
    const res = await rpc.analyzeStack(stack);
    for (const d of res.getDiagnosticsList())
        out.push({
            policy: d.getPolicyname(),
            level: LEVEL_NAMES.get(d.getEnforcementlevel())!,
            urn: d.getUrn() || null,
            message: ownMessage(d),
        });
    return out;
}

async function configure(
    config: Record<string, { level: number; properties?: Record<string, unknown> }>,
): Promise<void> {
    const req = new analyzerpb.ConfigureAnalyzerRequest();
    for (const [name, c] of Object.entries(config)) {
        const pc = new analyzerpb.PolicyConfig();
        pc.setEnforcementlevel(c.level as analyzerpb.EnforcementLevel);
        pc.setProperties(struct(c.properties ?? {}));
        req.getPolicyconfigMap().set(name, pc);
    }
    await rpc.configure(req);
}

describe("the policy pack loaded as the Pulumi CLI loads it", () => {
    beforeAll(async () => {
        const port = await startPack();
        client = new analyzerrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    }, 120_000);

    afterAll(() => {
        client?.close();
        if (child && child.exitCode === null) {
            child.removeAllListeners("exit");
            child.kill();
        }
    });

    it("has a PulumiPolicy.yaml the CLI accepts, agreeing with package.json", () => {
        const manifest = parse(readFileSync(path.join(PACK_DIR, "PulumiPolicy.yaml"), "utf8")) as Record<
            string,
            unknown
        >;
        expect(manifest.runtime).toBe("nodejs");
        expect(manifest.version).toBe(pkg.version);
        expect(manifest.description).toBe(POLICY_PACK_DESCRIPTION);
        // No `main`: the entry is the pack directory, i.e. package.json's main.
        expect(manifest.main).toBeUndefined();
        expect(pkg.main).toBe("index.ts");
    });

    it("reports its name, version and the fifteen policies with their levels", async () => {
        const info = await rpc.info();
        expect(info.getName()).toBe(POLICY_PACK_NAME);
        expect(info.getVersion()).toBe(pkg.version);
        expect(info.getSupportsconfig()).toBe(true);
        expect(info.getDescription()).toBe(POLICY_PACK_DESCRIPTION);
        const served = info.getPoliciesList().map((p) => ({
            name: p.getName(),
            level: LEVEL_NAMES.get(p.getEnforcementlevel()),
            type: p.getPolicyType() === analyzerpb.PolicyType.POLICY_TYPE_STACK ? "stack" : "resource",
            description: p.getDescription(),
        }));
        expect(served).toEqual(
            policies.map((p) => ({
                name: p.name,
                level: p.enforcementLevel,
                type: "validateStack" in p ? "stack" : "resource",
                description: p.description,
            })),
        );
        const configurable = info.getPoliciesList().find((p) => p.getName() === "production-stages-gated")!;
        expect(configurable.getConfigschema()!.getProperties()!.toJavaScript()).toEqual({
            stagePattern: { type: "string", minLength: 1, default: "prod" },
        });
        const plugin = await rpc.plugin();
        expect(plugin.getVersion()).toBe("1.21.0");
    });

    it("reports the same violations as the offline harness, for the compliant fixture, every insecure program and the bootstrap", async () => {
        const plans: Plan[] = [
            planOf(compliantStack()),
            planOf(mutate(compliantStack(), "aks-blue", (i) => void (i.disableLocalAccounts = false))),
        ];
        const programs = [
            "insecure-topic-scope",
            "insecure-topic-duplicate",
            "insecure-subscription-unscoped",
            "insecure-handler-role-scope",
            "insecure-handler-owner",
            "insecure-subscriber-without-reader",
            "insecure-rbac-management-group",
            "insecure-custom-role-wildcard",
            "insecure-gate-typo",
            "insecure-prod-ungated",
            "insecure-function-app",
            "insecure-cluster-local-accounts",
            "insecure-unconstrained-rbac-admin",
            "insecure-github-wildcard-subject",
            "insecure-pr-identity-contributor",
        ];
        for (const p of programs)
            plans.push(await planStack("dev", { program: path.join(PROJECT_ROOT, "test", "programs", `${p}.ts`) }));
        const bootstrapDir = path.join(PROJECT_ROOT, "bootstrap");
        plans.push(await planStack("example", { dir: bootstrapDir, program: path.join(bootstrapDir, "index.ts") }));
        let total = 0;
        for (const plan of plans) {
            const offline = await evaluatePolicies(plan);
            expect(await analyzeOverGrpc(plan)).toEqual(offline);
            total += offline.length;
        }
        expect(total).toBe(16);
    });

    it("applies pack config sent with Configure as the harness applies it", async () => {
        const plan = await planStack("prod");
        await configure({
            "production-stages-gated": {
                level: analyzerpb.EnforcementLevel.MANDATORY,
                properties: { stagePattern: "^canary$" },
            },
        });
        try {
            const offline = await evaluatePolicies(plan, {
                config: { "production-stages-gated": { enforcementLevel: "mandatory", stagePattern: "^canary$" } },
            });
            expect(offline.map((v) => v.message)).toEqual([
                expect.stringContaining(
                    'stage "canary" of update strategy "gated-rollout" matches the production pattern /^canary$/i',
                ),
            ]);
            expect(await analyzeOverGrpc(plan)).toEqual(offline);
        } finally {
            await configure({});
        }
    });
});
