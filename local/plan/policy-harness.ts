/**
 * Offline policy evaluation: runs the CrossGuard pack's policies over a mocked plan the way the
 * Pulumi engine and `@pulumi/policy`'s analyzer server do, without the gRPC round trip.
 *
 * Mirrors `@pulumi/policy@1.21.0` `server.js`:
 * - resource policies (`Analyze`) run once per registered resource, in registration order, with the
 *   resource's inputs as `props`; stack policies (`AnalyzeStack`) run once, after all resources, with
 *   every resource's outputs as `props` and `parent`/`dependencies`/`propertyDependencies` resolved to
 *   the PolicyResource objects of the same call;
 * - enforcement level = pack config's `enforcementLevel`, else the policy's, else the pack's;
 *   `disabled` skips the policy, `remediate` reports as `mandatory`; remediations run before analysis;
 * - props are wrapped in `unknownCheckingProxy`: a policy reading an unknown value is reported as an
 *   advisory "can't run ... during preview", `args.notApplicable()` ends the policy for that resource,
 *   any other exception fails the evaluation (the engine fails the preview);
 * - `getConfig()` returns the policy's pack config without `enforcementLevel` (defaults are applied by
 *   the policies themselves), validated against the policy's `configSchema` as the CLI does.
 * Resources get the default provider the engine would use: `pulumi:providers:<package>` with the
 * stack's `<package>:*` config as its inputs.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import {
    UnknownValueError,
    unknownCheckingProxy,
    type EnforcementLevel,
    type Policies,
    type PolicyProviderResource,
    type PolicyResource,
    type PolicyResourceOptions,
    type ReportViolation,
    type ResourceValidation,
    type ResourceValidationArgs,
    type ResourceValidationPolicy,
    type StackValidationArgs,
    type StackValidationPolicy,
} from "@pulumi/policy";
import { POLICY_PACK_ENFORCEMENT_LEVEL, POLICY_PACK_NAME, policies as packPolicies } from "../../policies/policies";
import type { PlannedResource } from "./mocks";
import type { Plan, PolicyViolation } from "./plan";

export interface EvaluateOptions {
    /**
     * Pack config as `pulumi preview --policy-pack-config` takes it: policy name → an enforcement level,
     * or `{ enforcementLevel?, ...properties }`. Example: `{ "production-stages-gated": { stagePattern: "^prd" } }`.
     */
    readonly config?: Record<string, unknown>;
    /** Policies to run instead of the pack's (policy authors testing a policy of their own). */
    readonly policies?: Policies;
    /** Stack tags handed to policies as `stackTags`. */
    readonly stackTags?: Record<string, string>;
}

/** Pack config that the CLI would reject: unknown policy, bad enforcement level, or properties not matching the schema. */
export class PolicyConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "PolicyConfigError";
    }
}

const LEVELS: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];
type PolicyConfig = { enforcementLevel?: EnforcementLevel } & Record<string, unknown>;
type AnyPolicy = ResourceValidationPolicy | StackValidationPolicy;

function packVersion(): string {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "policies", "package.json"), "utf8")) as {
        version?: string;
    };
    if (!pkg.version) throw new Error("policies/package.json has no version");
    return pkg.version;
}

function isResourcePolicy(p: AnyPolicy): p is ResourceValidationPolicy {
    const v = (p as ResourceValidationPolicy).validateResource;
    if (typeof v === "function") return true;
    if (Array.isArray(v)) return v.every((f) => typeof f === "function");
    return typeof (p as ResourceValidationPolicy).remediateResource === "function";
}

function isStackPolicy(p: AnyPolicy): p is StackValidationPolicy {
    return typeof (p as StackValidationPolicy).validateStack === "function";
}

function pulumiTypeOf(x: unknown): string | undefined {
    const t = (x as { __pulumiType?: unknown } | undefined)?.__pulumiType;
    return typeof t === "string" && t.length > 0 ? t : undefined;
}

/** `isType` as the analyzer server implements it: the class's `__pulumiType`, else its `isInstance`. */
function isTypeOf(type: string, resourceClass: unknown): boolean {
    const t = pulumiTypeOf(resourceClass);
    if (t) return type === t;
    const isInstance = (resourceClass as { isInstance?: unknown }).isInstance;
    return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

class NotApplicableError extends Error {
    constructor(readonly reason?: string) {
        super(reason ?? "Policy does not apply");
    }
}

function throwNotApplicable(reason?: string): never {
    throw new NotApplicableError(reason);
}

/** Normalises and validates pack config (string form = enforcement level), as `pulumi` does before `Configure`. */
function packConfig(
    raw: Record<string, unknown> | undefined,
    policies: readonly AnyPolicy[],
): Map<string, PolicyConfig> {
    const out = new Map<string, PolicyConfig>();
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const [name, value] of Object.entries(raw ?? {})) {
        const policy = policies.find((p) => p.name === name);
        if (!policy) throw new PolicyConfigError(`policy config: the pack has no policy "${name}"`);
        const cfg: PolicyConfig =
            typeof value === "string"
                ? { enforcementLevel: value as EnforcementLevel }
                : value && typeof value === "object" && !Array.isArray(value)
                  ? { ...(value as Record<string, unknown>) }
                  : (() => {
                        throw new PolicyConfigError(
                            `policy config "${name}": expected an enforcement level or an object`,
                        );
                    })();
        if (cfg.enforcementLevel !== undefined && !LEVELS.includes(cfg.enforcementLevel))
            throw new PolicyConfigError(
                `policy config "${name}": enforcementLevel ${JSON.stringify(cfg.enforcementLevel)} is not one of ${LEVELS.join(", ")}`,
            );
        const { enforcementLevel: _level, ...properties } = cfg;
        const schema = {
            type: "object",
            properties: policy.configSchema?.properties ?? {},
            required: policy.configSchema?.required ?? [],
        };
        const validate = ajv.compile(schema);
        if (!validate(properties)) {
            const why = (validate.errors ?? [])
                .map((e) => `${e.instancePath ? e.instancePath.slice(1) : "config"} ${e.message ?? "is invalid"}`)
                .join("; ");
            throw new PolicyConfigError(`policy config "${name}": ${why}`);
        }
        out.set(name, cfg);
    }
    return out;
}

/** Copies a property value as the analyzer receives it: plain data, undefined-valued keys dropped. */
function clone(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(clone);
    if (v && typeof v === "object") {
        const proto = Object.getPrototypeOf(v) as unknown;
        if (proto !== Object.prototype && proto !== null) return v; // assets, archives
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = clone(x);
        return out;
    }
    return v;
}

function options(r: PlannedResource): PolicyResourceOptions {
    const opts: PolicyResourceOptions = {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
    };
    if (r.parent) opts.parent = r.parent;
    return opts;
}

const providerVersions = new Map<string, string | undefined>();
function providerVersion(pkg: string): string | undefined {
    if (!providerVersions.has(pkg)) {
        let version: string | undefined;
        try {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            version = (require(`@pulumi/${pkg}/package.json`) as { version?: string }).version;
        } catch {
            version = undefined;
        }
        providerVersions.set(pkg, version);
    }
    return providerVersions.get(pkg);
}

/**
 * The default provider the engine would give a custom resource (`pulumi:providers:<package>`, named
 * `default_<version>`), with its package's stack config as inputs; undefined for components and providers.
 */
export function defaultProviderOf(r: PlannedResource, plan: Plan): PolicyProviderResource | undefined {
    if (!r.custom || r.type.startsWith("pulumi:providers:")) return undefined;
    const pkg = r.type.split(":")[0]!;
    const m = /^urn:pulumi:([^:]+)::([^:]+)::/.exec(r.urn);
    const version = providerVersion(pkg);
    const name = version ? `default_${version.replace(/[.-]/g, "_")}` : "default";
    const props: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(plan.stackFile.config))
        if (key.startsWith(`${pkg}:`)) props[key.slice(pkg.length + 1)] = value;
    if (version) props.version = version;
    return {
        type: `pulumi:providers:${pkg}`,
        name,
        urn: `urn:pulumi:${m?.[1] ?? plan.stack}::${m?.[2] ?? "project"}::pulumi:providers:${pkg}::${name}`,
        props,
    };
}

/** The provider as policies get it: props behind the unknown-checking proxy. */
function withProxy(p: PolicyProviderResource | undefined): PolicyProviderResource | undefined {
    return p && { ...p, props: unknownCheckingProxy(clone(p.props)) as Record<string, unknown> };
}

function freezeTags(tags: Record<string, string> | undefined): ReadonlyMap<string, string> {
    return new Map(Object.entries(tags ?? {}));
}

/** One evaluation's policies, settings and findings, shared by the resource and stack passes. */
interface HarnessRun {
    readonly plan: Plan;
    readonly policies: AnyPolicy[];
    readonly stackTags: ReadonlyMap<string, string>;
    readonly out: PolicyViolation[];
    levelOf(p: AnyPolicy): EnforcementLevel;
    getConfigFor(name: string): <T extends object>() => T;
    reporter(p: AnyPolicy, level: EnforcementLevel, fixedUrn: string | undefined): ReportViolation;
    cannotRun(p: AnyPolicy, e: UnknownValueError, urn: string | null): void;
    fail(p: AnyPolicy, e: unknown, what: string): never;
}

function harnessRun(plan: Plan, opts: EvaluateOptions): HarnessRun {
    const policies = (opts.policies ?? packPolicies) as AnyPolicy[];
    const config = packConfig(opts.config, policies);
    const version = packVersion();
    const packLevel: EnforcementLevel = opts.policies ? "advisory" : POLICY_PACK_ENFORCEMENT_LEVEL;
    const stackTags = freezeTags(opts.stackTags);
    const out: PolicyViolation[] = [];

    const levelOf = (p: AnyPolicy): EnforcementLevel =>
        config.get(p.name)?.enforcementLevel ?? p.enforcementLevel ?? packLevel;
    const getConfigFor =
        (name: string) =>
        <T extends object>(): T => {
            const c = config.get(name);
            if (!c) return {} as T;
            const { enforcementLevel: _level, ...properties } = c;
            return properties as T;
        };
    const reporter =
        (p: AnyPolicy, level: EnforcementLevel, fixedUrn: string | undefined): ReportViolation =>
        (message: string, urn?: string) => {
            out.push({
                policy: p.name,
                level: level === "remediate" ? "mandatory" : level,
                urn: fixedUrn ?? urn ?? null,
                message: message || p.description,
            });
        };
    const cannotRun = (p: AnyPolicy, e: UnknownValueError, urn: string | null): void => {
        out.push({
            policy: p.name,
            level: "advisory",
            urn,
            message: `can't run policy '${p.name}' from policy pack '${POLICY_PACK_NAME}@v${version}' during preview: ${e.message}`,
        });
    };
    const fail = (p: AnyPolicy, e: unknown, what: string): never => {
        const err = new Error(
            `Error ${what} with policy '${p.name}' from policy pack '${POLICY_PACK_NAME}@v${version}': ${(e as Error)?.message ?? String(e)}`,
        );
        (err as Error & { cause?: unknown }).cause = e;
        throw err;
    };

    return { plan, policies, stackTags, out, levelOf, getConfigFor, reporter, cannotRun, fail };
}

/** `Analyze` of one resource: remediations first, then every resource policy's validations. */
async function analyzeResource(h: HarnessRun, r: PlannedResource): Promise<void> {
    const { plan, policies, stackTags, levelOf, getConfigFor, reporter, cannotRun, fail } = h;
    const provider = withProxy(defaultProviderOf(r, plan));
    let inputs = clone(r.inputs) as Record<string, unknown>;
    const argsFor = (p: AnyPolicy, props: Record<string, unknown>): ResourceValidationArgs => {
        const args: ResourceValidationArgs = {
            type: r.type,
            props,
            urn: r.urn,
            name: r.name,
            opts: options(r),
            stackTags,
            isType: (resourceClass) => isTypeOf(r.type, resourceClass),
            asType: ((resourceClass: unknown) =>
                isTypeOf(r.type, resourceClass) ? props : undefined) as ResourceValidationArgs["asType"],
            getConfig: getConfigFor(p.name),
            notApplicable: throwNotApplicable,
        };
        if (provider) args.provider = provider;
        return args;
    };

    // Remediations first: later policies see the remediated inputs.
    for (const p of policies) {
        if (levelOf(p) !== "remediate" || !isResourcePolicy(p) || !p.remediateResource) continue;
        const t = pulumiTypeOf(p.remediateResource);
        if (t && t !== r.type) continue;
        try {
            const result = await Promise.resolve(
                p.remediateResource(argsFor(p, unknownCheckingProxy(clone(inputs)) as Record<string, unknown>)),
            );
            if (result) inputs = clone(result) as Record<string, unknown>;
        } catch (e) {
            if (e instanceof UnknownValueError) cannotRun(p, e, r.urn);
            else if (!(e instanceof NotApplicableError)) fail(p, e, "remediating resource");
        }
    }

    for (const p of policies) {
        const level = levelOf(p);
        if (level === "disabled" || !isResourcePolicy(p) || !p.validateResource) continue;
        if (!Array.isArray(p.validateResource)) {
            const t = pulumiTypeOf(p.validateResource);
            if (t && t !== r.type) continue;
        }
        const validations: ResourceValidation[] = Array.isArray(p.validateResource)
            ? p.validateResource
            : [p.validateResource];
        for (const validate of validations) {
            try {
                const props = unknownCheckingProxy(clone(inputs)) as Record<string, unknown>;
                await Promise.resolve(validate(argsFor(p, props), reporter(p, level, r.urn)));
            } catch (e) {
                if (e instanceof UnknownValueError) cannotRun(p, e, r.urn);
                else if (!(e instanceof NotApplicableError)) fail(p, e, "validating resource");
            }
        }
    }
}

/** `AnalyzeStack`: once, over every resource's outputs. */
async function analyzeStack(h: HarnessRun): Promise<void> {
    const { plan, policies, stackTags, levelOf, getConfigFor, reporter, cannotRun, fail } = h;
    for (const p of policies) {
        let level = levelOf(p);
        if (level === "disabled" || !isStackPolicy(p)) continue;
        if (level === "remediate") level = "mandatory";
        const t = pulumiTypeOf(p.validateStack);
        if (t && !plan.resources.some((r) => r.type === t)) continue;
        try {
            const resources = stackResources(plan);
            const args: StackValidationArgs = {
                resources,
                stackTags,
                getConfig: getConfigFor(p.name),
                notApplicable: throwNotApplicable,
            };
            await Promise.resolve(p.validateStack(args, reporter(p, level, undefined)));
        } catch (e) {
            if (e instanceof UnknownValueError) cannotRun(p, e, null);
            else if (!(e instanceof NotApplicableError)) fail(p, e, "validating stack");
        }
    }
}

/**
 * Runs every policy of the pack (or `opts.policies`) over the plan and returns the violations in the
 * order the engine reports them: resource policies per resource, then stack policies. `message` is the
 * text the policy reported (the engine prints it below the policy's description); `urn` is null for a
 * stack-level violation without a resource.
 */
export async function evaluatePolicies(plan: Plan, opts: EvaluateOptions = {}): Promise<PolicyViolation[]> {
    const h = harnessRun(plan, opts);
    // Analyze: one call per resource, in registration order.
    for (const r of plan.resources) await analyzeResource(h, r);
    await analyzeStack(h);
    return h.out;
}

/** The stack as `AnalyzeStack` sees it: PolicyResources with outputs, parents and dependencies linked. */
function stackResources(plan: Plan): PolicyResource[] {
    const byUrn = new Map<string, PolicyResource>();
    const resources = plan.resources.map((r) => {
        const props = unknownCheckingProxy(clone(r.outputs)) as Record<string, unknown>;
        const resource: PolicyResource = {
            type: r.type,
            props,
            urn: r.urn,
            name: r.name,
            opts: options(r),
            dependencies: [],
            propertyDependencies: {},
            isType: (resourceClass) => isTypeOf(r.type, resourceClass),
            asType: ((resourceClass: unknown) =>
                isTypeOf(r.type, resourceClass) ? props : undefined) as PolicyResource["asType"],
        };
        const provider = withProxy(defaultProviderOf(r, plan));
        if (provider) resource.provider = provider;
        byUrn.set(r.urn, resource);
        return resource;
    });
    const resolve = (urns: readonly string[]) =>
        urns.map((u) => byUrn.get(u)).filter((x): x is PolicyResource => x !== undefined);
    plan.resources.forEach((r, i) => {
        const resource = resources[i]!;
        const parent = r.parent ? byUrn.get(r.parent) : undefined;
        if (parent) resource.parent = parent;
        resource.dependencies = resolve(r.dependencies);
        for (const [k, urns] of Object.entries(r.propertyDependencies))
            resource.propertyDependencies[k] = resolve(urns);
    });
    return resources;
}

/** True when any violation is mandatory (what makes `npm run plan` exit 1). */
export function hasMandatoryViolation(violations: readonly PolicyViolation[]): boolean {
    return violations.some((v) => v.level === "mandatory");
}

/** Human-readable verdict: one block per violation, then a summary line. */
export function formatViolations(violations: readonly PolicyViolation[]): string {
    const lines: string[] = [];
    for (const v of violations) {
        lines.push(`[${v.level}] ${v.policy}${v.urn ? `  (${v.urn})` : ""}`);
        lines.push(`    ${v.message}`);
    }
    const mandatory = violations.filter((v) => v.level === "mandatory").length;
    lines.push(
        violations.length === 0
            ? "policy: no violations"
            : `policy: ${violations.length} violation(s), ${mandatory} mandatory`,
    );
    return lines.join("\n");
}
