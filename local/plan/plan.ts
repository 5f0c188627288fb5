/**
 * The offline plan: a stack's program (or any Pulumi TypeScript program) run in-process under
 * Pulumi's mocks with `Pulumi.<stack>.yaml`, giving the resource graph with fully resolved inputs.
 */
import { existsSync, readFileSync } from "node:fs";
import Module from "node:module";
import * as path from "node:path";
import { parse } from "yaml";
import { BUILTIN_ROLES, roleGuidOf } from "../../core/roles";
import { resolveOutputs, runUnderMocks, type PlannedResource } from "./mocks";
import { loadStackFile, mockEnvironment, type StackFile } from "./stack-file";

export interface PolicyViolation {
    readonly policy: string;
    readonly level: "mandatory" | "advisory" | "remediate" | "disabled";
    readonly urn: string | null;
    readonly message: string;
}

/** The `--json` contract of `npm run plan` (README, DESIGN.md). */
export interface PlanJson {
    readonly stack: string;
    readonly resources: {
        urn: string;
        type: string;
        name: string;
        parent: string | null;
        id: string | null;
        inputs: Record<string, unknown>;
    }[];
    readonly outputs: Record<string, unknown>;
    readonly policy: { violations: PolicyViolation[] };
}

export interface Plan {
    readonly stack: string;
    readonly stackFile: StackFile;
    /** The full graph, including dependencies (the policy pack's stack policies need them). */
    readonly resources: PlannedResource[];
    readonly outputs: Record<string, unknown>;
}

export interface PlanOptions {
    /** Directory holding `Pulumi.<stack>.yaml`; defaults to the project root. */
    readonly dir?: string;
    /** Any Pulumi TypeScript program to run instead of the project's; its exports become the outputs. */
    readonly program?: string;
    /** Plan as a first `pulumi preview` sees it (ids and computed outputs unknown). */
    readonly preview?: boolean;
}

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

async function runProjectProgram(): Promise<Record<string, unknown>> {
    // Imported lazily so the mocks are installed before any resource module loads.
    const { loadStackConfig } = await import("../../config");
    const { fleetGates } = await import("../../program");
    return { ...fleetGates(loadStackConfig()) };
}

/** Lets a program anywhere on disk import the project's packages (@pulumi/*, core/ deps). */
function resolveImportsFromProject(): void {
    const nodeModules = path.join(PROJECT_ROOT, "node_modules");
    const current = (process.env.NODE_PATH ?? "").split(path.delimiter).filter(Boolean);
    if (current.includes(nodeModules)) return;
    process.env.NODE_PATH = [...current, nodeModules].join(path.delimiter);
    // Node reads NODE_PATH at start-up; `_initPaths` is how it re-reads it.
    (Module as unknown as { _initPaths(): void })._initPaths();
}

async function runProgramFile(file: string): Promise<Record<string, unknown>> {
    resolveImportsFromProject();
    const abs = path.resolve(file);
    const mod = (await import(abs)) as Record<string, unknown>;
    // A CommonJS program's exports arrive as `default` too; keep the named ones.
    const { default: def, ...named } = mod;
    return Object.keys(named).length > 0 ? named : ((def as Record<string, unknown>) ?? {});
}

/** The project name in `dir/Pulumi.yaml` (URNs carry it), or `fallback` when there is none. */
export function projectName(dir: string, fallback = "fleet-gates"): string {
    const file = path.join(dir, "Pulumi.yaml");
    if (!existsSync(file)) return fallback;
    const doc = parse(readFileSync(file, "utf8")) as { name?: unknown } | null;
    return typeof doc?.name === "string" && doc.name.length > 0 ? doc.name : fallback;
}

/** Runs the stack's program under mocks. Throws `ConfigError`/`StackFileError` with the reason. */
export async function planStack(stack: string, opts: PlanOptions = {}): Promise<Plan> {
    const dir = opts.dir ?? PROJECT_ROOT;
    const stackFile = loadStackFile(stack, dir);
    const env = { ...mockEnvironment(stackFile, projectName(dir)), preview: opts.preview ?? false };
    const run = await runUnderMocks(() => (opts.program ? runProgramFile(opts.program) : runProjectProgram()), env);
    const outputs = (await resolveOutputs(run.result)) as Record<string, unknown>;
    return { stack, stackFile, resources: run.resources, outputs };
}

export function planJson(plan: Plan, violations: PolicyViolation[]): PlanJson {
    return {
        stack: plan.stack,
        resources: plan.resources.map((r) => ({
            urn: r.urn,
            type: r.type,
            name: r.name,
            parent: r.parent,
            id: r.id,
            inputs: r.inputs,
        })),
        outputs: plan.outputs,
        policy: { violations },
    };
}

const ROLE_NAMES = new Map<string, string>(Object.entries(BUILTIN_ROLES).map(([name, guid]) => [guid, name]));

/** The inputs worth a glance in the tree, per kind of resource. */
function keyInputs(r: PlannedResource): string {
    const i = r.inputs;
    const parts: string[] = [];
    const add = (label: string, v: unknown) => {
        if (v !== undefined && v !== null && v !== "")
            parts.push(`${label}=${typeof v === "string" ? v : JSON.stringify(v)}`);
    };
    switch (r.type) {
        case "azure-native:resources:Resource":
        case "pulumi-nodejs:dynamic/fleet-gates:ArmResource":
            add(
                "type",
                `${String(i.resourceProviderNamespace)}/${String(i.parentResourcePath ?? "")}/${String(i.resourceType)}`.replace(
                    "//",
                    "/",
                ),
            );
            add("apiVersion", i.apiVersion);
            break;
        case "azure-native:authorization:RoleAssignment": {
            const guid = roleGuidOf(String(i.roleDefinitionId ?? ""));
            add("role", guid ? (ROLE_NAMES.get(guid) ?? `custom ${guid}`) : i.roleDefinitionId);
            add("scope", shortScope(String(i.scope ?? "")));
            break;
        }
        case "azure-native:eventgrid:SystemTopic":
            add("topicType", i.topicType);
            add("source", i.source);
            break;
        case "azure-native:eventgrid:SystemTopicEventSubscription": {
            const f = i.filter as { includedEventTypes?: string[]; advancedFilters?: unknown[] } | undefined;
            add("events", f?.includedEventTypes?.map((t) => t.split(".").pop()).join(","));
            add("advancedFilters", f?.advancedFilters?.length);
            break;
        }
        case "azure-native:containerservice:ManagedCluster":
            add("location", i.location);
            add("localAccounts", i.disableLocalAccounts === true ? "disabled" : "enabled");
            break;
        default:
            for (const k of ["location", "kind", "apiVersion"]) add(k, i[k]);
    }
    return parts.join("  ");
}

function shortScope(scope: string): string {
    const m = /\/providers\/(.+)$/.exec(scope);
    return m ? m[1]! : scope;
}

/** A readable tree: components and their children, each with type, name and key inputs. */
export function formatPlanTree(plan: Plan): string {
    const children = new Map<string | null, PlannedResource[]>();
    for (const r of plan.resources) {
        const p = r.parent && plan.resources.some((x) => x.urn === r.parent) ? r.parent : null;
        children.set(p, [...(children.get(p) ?? []), r]);
    }
    const lines: string[] = [];
    const walk = (parent: string | null, prefix: string) => {
        const list = children.get(parent) ?? [];
        list.forEach((r, idx) => {
            const last = idx === list.length - 1;
            const detail = keyInputs(r);
            lines.push(`${prefix}${last ? "└─ " : "├─ "}${r.type}  ${r.name}${detail ? `  (${detail})` : ""}`);
            walk(r.urn, prefix + (last ? "   " : "│  "));
        });
    };
    walk(null, "");
    const counts = new Map<string, number>();
    for (const r of plan.resources) if (r.custom) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    const summary = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${n} × ${t}`);
    return [
        `stack ${plan.stack}: ${plan.resources.filter((r) => r.custom).length} resources`,
        ...lines,
        "",
        "outputs:",
        ...Object.entries(plan.outputs).map(([k, v]) => `  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`),
        "",
        "by type:",
        ...summary.map((s) => `  ${s}`),
    ].join("\n");
}
