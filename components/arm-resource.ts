/**
 * `ArmResource`: a Pulumi dynamic resource that PUTs, GETs and DELETEs one ARM resource at the
 * api-version it is given, through the gate handler's own `@azure/core-rest-pipeline` pipeline
 * (`handlers/gate-approval/src/pipeline.ts`: retry with Retry-After, per-try timeout, bearer token over
 * TLS only, origin guard). The fleet's members, update strategy and auto-upgrade profile use it at
 * 2026-06-01.
 *
 * Why not azure-native's generic `resources.Resource` (3.28): before a create its provider checks that
 * the resource does not exist with a GET at the provider's own metadata api-version (2024-03-01, the
 * Microsoft.Resources version of `resources:Resource`), not the resource's `apiVersion`
 * (`provider/pkg/provider/crud/crud.go` `(*resourceCrudClient).CanCreate` passes `r.res.APIVersion`;
 * only reads honour a user api-version, `provider.go` `reader`/`getApiVersion`). ARM answers 400 for an
 * api-version the Fleet resource provider does not serve, which
 * `provider/pkg/azure/client_azcore.go` `(*azCoreClient).CanCreate` reports as "cannot check existence of
 * resource" (any status but 200/204/404). Its Check step also adds `location` to every body whose
 * schema has one when `azure-native:location` is set (`provider.go` `applyDefaults`, "Auto-location",
 * `getDefaultLocation`), and the generic body schema has one, although these are proxy resources.
 *
 * Credentials: `DefaultAzureCredential` from `@azure/identity`, asked for a token on every request by
 * the pipeline's bearer-token policy (so a long `pulumi up` never sends a stale one): environment
 * (`AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/secret or certificate), workload identity, managed identity,
 * then the Azure CLI (`az login`, or `azure/login` in GitHub Actions). azure-native's `ARM_*` variables
 * are not read. `AZURE_TOKEN_CREDENTIALS` narrows the chain (e.g. `AzureCliCredential`).
 *
 * Pulumi serializes the provider with everything it captures (`pulumi.runtime.serializeFunction`) and
 * runs it in another process: the runtime functions below take plain values, require their npm
 * packages when they run, and capture only functions (the pipeline's), never module state.
 */
import * as pulumi from "@pulumi/pulumi";
import { createTransport, send } from "../handlers/gate-approval/src/pipeline";

/** Public-cloud ARM; a sovereign cloud (or a loopback emulator) passes its own `armBaseUrl`. */
export const ARM_BASE_URL = "https://management.azure.com";

/** The identity of the resource: changing any of these is a new resource (replace). */
export const ARM_RESOURCE_IDENTITY_KEYS: readonly string[] = [
    "subscriptionId",
    "resourceGroupName",
    "resourceProviderNamespace",
    "parentResourcePath",
    "resourceType",
    "resourceName",
];

export interface ArmResourceArgs {
    readonly subscriptionId: pulumi.Input<string>;
    readonly resourceGroupName: pulumi.Input<string>;
    /** e.g. `Microsoft.ContainerService`. */
    readonly resourceProviderNamespace: pulumi.Input<string>;
    /** e.g. `fleets/flt-dev`; omit for a top-level resource. */
    readonly parentResourcePath?: pulumi.Input<string>;
    /** e.g. `members`. */
    readonly resourceType: pulumi.Input<string>;
    readonly resourceName: pulumi.Input<string>;
    /** The api-version of every request for this resource, the existence check included. */
    readonly apiVersion: pulumi.Input<string>;
    /** The body's `properties`; the body is `{ properties }` and nothing else (no `location`). */
    readonly properties: pulumi.Input<object>;
    /** Default public-cloud ARM. */
    readonly armBaseUrl?: pulumi.Input<string>;
    /** Long-running operation polling when the service sends no Retry-After (default 10 s). */
    readonly pollIntervalSeconds?: pulumi.Input<number>;
    /** Give up on one operation after this long (default 1800 s). */
    readonly timeoutSeconds?: pulumi.Input<number>;
}

/** The ARM id of the resource the inputs name. */
export function armResourceId(i: Record<string, unknown>): string {
    const parent = typeof i.parentResourcePath === "string" ? i.parentResourcePath.replace(/^\/+|\/+$/g, "") : "";
    return (
        `/subscriptions/${String(i.subscriptionId)}/resourceGroups/${String(i.resourceGroupName)}` +
        `/providers/${String(i.resourceProviderNamespace)}${parent ? `/${parent}` : ""}` +
        `/${String(i.resourceType)}/${String(i.resourceName)}`
    );
}

/** JSON with object keys sorted, so two equal values compare equal whatever their key order. */
export function canonicalJson(v: unknown): string {
    const sort = (x: unknown): unknown =>
        Array.isArray(x)
            ? x.map(sort)
            : x !== null && typeof x === "object"
              ? Object.fromEntries(
                    Object.keys(x as Record<string, unknown>)
                        .sort()
                        .map((k) => [k, sort((x as Record<string, unknown>)[k])]),
                )
              : x;
    return JSON.stringify(sort(v)) ?? "undefined";
}

export interface ArmResourceDiff {
    readonly changes: boolean;
    readonly replaces: string[];
    readonly deleteBeforeReplace: boolean;
}

/**
 * Replace when the identity changes, update when `apiVersion` or `properties` change; the endpoint
 * and polling settings change nothing in Azure.
 */
export function diffArmResource(olds: Record<string, unknown>, news: Record<string, unknown>): ArmResourceDiff {
    const differs = (k: string) => canonicalJson(olds[k] ?? "") !== canonicalJson(news[k] ?? "");
    const replaces = ARM_RESOURCE_IDENTITY_KEYS.filter(differs);
    const updates = ["apiVersion", "properties"].filter(differs);
    return { changes: replaces.length + updates.length > 0, replaces, deleteBeforeReplace: false };
}

/**
 * `properties` as read from Azure, narrowed to the keys the inputs set: drift in what this resource
 * manages shows on refresh; what the service adds (`provisioningState`, defaults) does not.
 */
export function managedProperties(sent: unknown, live: unknown): Record<string, unknown> {
    const s = sent !== null && typeof sent === "object" ? (sent as Record<string, unknown>) : {};
    const l = live !== null && typeof live === "object" ? (live as Record<string, unknown>) : {};
    return Object.fromEntries(Object.keys(s).map((k) => [k, l[k]]));
}

// ---------------------------------------------------------------------------------------------
// What the provider runs (serialized by Pulumi). Literals stay inside the functions.
// ---------------------------------------------------------------------------------------------

interface ArmAnswer {
    readonly status: number;
    readonly header: (name: string) => string | undefined;
    readonly body: Record<string, unknown>;
    readonly text: string;
}

interface ArmSession {
    readonly id: string;
    readonly apiVersion: string;
    readonly base: string;
    readonly intervalMs: number;
    readonly deadline: number;
    readonly call: (method: "GET" | "PUT" | "DELETE", url: string, body?: unknown) => Promise<ArmAnswer>;
}

/** One pipeline (DefaultAzureCredential, the handler's policies) for one operation on one resource. */
function armSession(raw: Record<string, unknown>): ArmSession {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const identity = require("@azure/identity") as typeof import("@azure/identity");
    const base = (
        typeof raw.armBaseUrl === "string" && raw.armBaseUrl ? raw.armBaseUrl : "https://management.azure.com"
    )
        .trim()
        .replace(/\/+$/, "");
    const transport = createTransport({
        auth: { credential: new identity.DefaultAzureCredential(), scope: `${new URL(base).origin}/.default` },
        allowedOrigins: [base],
        // ARM answers a PUT within seconds, but a slow region may take longer than the handler's 4 s.
        perTryTimeoutMs: 60_000,
        maxRetries: 6,
        retryDelayMs: 2_000,
        maxRetryDelayMs: 60_000,
    });
    const seconds = (v: unknown, d: number) => (typeof v === "number" && v >= 0 ? v : d);
    const call = async (method: "GET" | "PUT" | "DELETE", url: string, body?: unknown): Promise<ArmAnswer> => {
        const r = await send(transport, url, {
            method,
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        let parsed: Record<string, unknown> = {};
        try {
            const j = JSON.parse(r.bodyText) as unknown;
            if (j !== null && typeof j === "object" && !Array.isArray(j)) parsed = j as Record<string, unknown>;
        } catch {
            // empty (202, 204) or not JSON: the status decides
        }
        return { status: r.status, header: (n) => r.headers.get(n), body: parsed, text: r.bodyText };
    };
    return {
        id: armResourceId(raw),
        apiVersion: String(raw.apiVersion),
        base,
        intervalMs: seconds(raw.pollIntervalSeconds, 10) * 1000,
        deadline: Date.now() + seconds(raw.timeoutSeconds, 1800) * 1000,
        call,
    };
}

function armUrl(s: ArmSession): string {
    return `${s.base}${s.id}?api-version=${encodeURIComponent(s.apiVersion)}`;
}

/** "PUT <id> (api-version V): HTTP 400 Code: message". */
function armFailure(s: ArmSession, what: string, a: ArmAnswer): Error {
    const e = (a.body.error ?? {}) as { code?: unknown; message?: unknown };
    const detail = [e.code, e.message].filter((x) => typeof x === "string" && x).join(": ");
    return new Error(
        `${what} ${s.id} (api-version ${s.apiVersion}): HTTP ${a.status}${detail ? ` ${detail}` : a.text ? ` ${a.text.slice(0, 300)}` : ""}`,
    );
}

function retryAfterMs(a: ArmAnswer, fallback: number): number {
    const v = a.header("retry-after");
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) && n >= 0 ? n * 1000 : fallback;
}

function pause(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits for a long-running PUT or DELETE: the `Azure-AsyncOperation` status resource when given
 * (until `Succeeded`; `Failed`/`Canceled` throw with the operation's error), else `Location` on a 202
 * (until it stops answering 202), else the resource's own `provisioningState`.
 */
async function settleOperation(s: ArmSession, what: string, first: ArmAnswer): Promise<void> {
    const overdue = (waitingFor: string) =>
        new Error(`${what} ${s.id} (api-version ${s.apiVersion}): not finished within its timeout (${waitingFor})`);
    const asyncUrl = first.header("azure-asyncoperation");
    const locationUrl = first.header("location");
    let delay = retryAfterMs(first, s.intervalMs);
    if (asyncUrl) {
        for (;;) {
            if (Date.now() > s.deadline) throw overdue("(operation status)");
            await pause(delay);
            const a = await s.call("GET", asyncUrl);
            if (a.status !== 200 && a.status !== 202) throw armFailure(s, `${what} (operation status)`, a);
            const status = String(a.body.status ?? "");
            if (/^succeeded$/i.test(status)) return;
            if (/^(failed|canceled|cancelled)$/i.test(status)) {
                const e = (a.body.error ?? {}) as { code?: unknown; message?: unknown };
                throw new Error(
                    `${what} ${s.id} (api-version ${s.apiVersion}) ended ${status}: ${String(e.code ?? "")} ${String(e.message ?? "")}`.trim(),
                );
            }
            delay = retryAfterMs(a, s.intervalMs);
        }
    }
    if (first.status === 202 && locationUrl) {
        for (;;) {
            if (Date.now() > s.deadline) throw overdue("(location)");
            await pause(delay);
            const a = await s.call("GET", locationUrl);
            if (a.status === 202) {
                delay = retryAfterMs(a, s.intervalMs);
                continue;
            }
            if (a.status === 200 || a.status === 201 || a.status === 204 || a.status === 404) return;
            throw armFailure(s, `${what} (location)`, a);
        }
    }
    if (what === "DELETE") return;
    // A synchronous answer: done once the resource's provisioningState is terminal.
    let state = String(((first.body.properties ?? {}) as Record<string, unknown>).provisioningState ?? "Succeeded");
    while (!/^(succeeded|failed|canceled|cancelled)$/i.test(state)) {
        if (Date.now() > s.deadline) throw overdue(`provisioningState ${state}`);
        await pause(delay);
        const a = await s.call("GET", armUrl(s));
        if (a.status !== 200) throw armFailure(s, `${what} (reading provisioningState)`, a);
        state = String(((a.body.properties ?? {}) as Record<string, unknown>).provisioningState ?? "Succeeded");
        delay = retryAfterMs(a, s.intervalMs);
    }
    if (!/^succeeded$/i.test(state)) throw new Error(`${what} ${s.id} (api-version ${s.apiVersion}) ended ${state}`);
}

/** The provider's state: the inputs (no secrets among them), the id and what Azure answered. */
function armOutputs(raw: Record<string, unknown>, s: ArmSession, live: ArmAnswer): Record<string, unknown> {
    const props = (live.body.properties ?? {}) as Record<string, unknown>;
    return {
        ...raw,
        armId: typeof live.body.id === "string" ? live.body.id : s.id,
        provisioningState: typeof props.provisioningState === "string" ? props.provisioningState : "Succeeded",
        ...(typeof live.body.eTag === "string" ? { eTag: live.body.eTag } : {}),
    };
}

/** PUT `{ properties }`, wait for it, and read the result back. */
async function armPut(raw: Record<string, unknown>, s: ArmSession, what: "PUT" | "UPDATE") {
    const answer = await s.call("PUT", armUrl(s), { properties: raw.properties ?? {} });
    if (answer.status !== 200 && answer.status !== 201 && answer.status !== 202)
        throw armFailure(s, what === "PUT" ? "PUT" : "PUT (update)", answer);
    await settleOperation(s, "PUT", answer);
    const live = await s.call("GET", armUrl(s));
    if (live.status !== 200) throw armFailure(s, "GET after PUT", live);
    return armOutputs(raw, s, live);
}

export async function armCreate(raw: Record<string, unknown>): Promise<{ id: string; outs: Record<string, unknown> }> {
    const s = armSession(raw);
    // Existence check at the resource's own api-version: a create never adopts what is there.
    const existing = await s.call("GET", armUrl(s));
    if (existing.status === 200)
        throw new Error(
            `${s.id} already exists (api-version ${s.apiVersion}): import it (pulumi import) or delete it before creating it here`,
        );
    if (existing.status !== 404) throw armFailure(s, "GET (existence check)", existing);
    return { id: s.id, outs: await armPut(raw, s, "PUT") };
}

export async function armUpdate(news: Record<string, unknown>): Promise<{ outs: Record<string, unknown> }> {
    const s = armSession(news);
    return { outs: await armPut(news, s, "UPDATE") };
}

export async function armRead(
    id: string,
    props: Record<string, unknown>,
): Promise<{ id?: string; props?: Record<string, unknown> }> {
    const s = armSession(props);
    const live = await s.call("GET", armUrl(s));
    if (live.status === 404) return {};
    if (live.status !== 200) throw armFailure(s, "GET", live);
    return {
        id,
        props: { ...armOutputs(props, s, live), properties: managedProperties(props.properties, live.body.properties) },
    };
}

export async function armDelete(props: Record<string, unknown>): Promise<void> {
    const s = armSession(props);
    const answer = await s.call("DELETE", armUrl(s));
    if (answer.status === 404 || answer.status === 204) return;
    if (answer.status !== 200 && answer.status !== 202) throw armFailure(s, "DELETE", answer);
    await settleOperation(s, "DELETE", answer);
    // Gone only when a GET says so.
    for (;;) {
        const a = await s.call("GET", armUrl(s));
        if (a.status === 404) return;
        if (a.status !== 200) throw armFailure(s, "GET after DELETE", a);
        if (Date.now() > s.deadline) throw new Error(`DELETE ${s.id}: still there after the operation finished`);
        await pause(s.intervalMs);
    }
}

/** The dynamic provider: every operation goes to ARM at the resource's api-version. */
export const armResourceProvider: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        return diffArmResource(olds, news);
    },
    async create(inputs: Record<string, unknown>) {
        return armCreate(inputs);
    },
    async read(id: string, props: Record<string, unknown>) {
        return armRead(id, props);
    },
    async update(_id: string, _olds: Record<string, unknown>, news: Record<string, unknown>) {
        return armUpdate(news);
    },
    async delete(_id: string, props: Record<string, unknown>) {
        await armDelete(props);
    },
};

/** Type token of `ArmResource` (`pulumi-nodejs:dynamic/<module>:<type>`); the policy pack reads it. */
export const ARM_RESOURCE_TYPE = "pulumi-nodejs:dynamic/fleet-gates:ArmResource";

/** One ARM resource created, updated and deleted at its own api-version (see the file comment). */
export class ArmResource extends pulumi.dynamic.Resource {
    /** The resource's ARM id as Azure returned it. */
    declare readonly armId: pulumi.Output<string>;
    declare readonly provisioningState: pulumi.Output<string>;

    constructor(name: string, args: ArmResourceArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            armResourceProvider,
            name,
            {
                ...args,
                armBaseUrl: args.armBaseUrl ?? ARM_BASE_URL,
                armId: undefined,
                provisioningState: undefined,
            },
            opts,
            "fleet-gates",
            "ArmResource",
        );
    }
}
