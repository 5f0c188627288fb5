/**
 * The gate handler's code, from source to a running Flex Consumption app.
 *
 * - `buildHandlerPackage()`, the handler's own bundle recipe (`handlers/gate-approval/bundle.ts`,
 *   also run by its `build.ts`), bundles it with esbuild into the deploy folder `dist/package/` and a
 *   deterministic `package.zip`, so `pulumi up` always deploys what is in the working tree.
 * - `HandlerPublish` (a dynamic resource) publishes that zip with OneDeploy: `POST
 *   <scm>/api/publish` with a Microsoft Entra bearer token, then polls the deployment and waits
 *   until ARM lists the app's functions. Event subscriptions `dependsOn` it, because Event Grid
 *   validates an `AzureFunction` destination only once the function exists.
 *
 * Why not `storage.Blob` + the `onedeploy` site extension: the handler's storage account has
 * shared keys disabled, and azure-native's `storage.Blob` writes with the account key. Verified in
 * the provider source (`custom_storage_azidentity.go`: `blobClientDependencies` lists the keys,
 * then `NewClientWithSharedKeyCredential`); 2.72.0 briefly used Entra tokens and 2.73.1 went back
 * (pulumi/pulumi-azure-native#3709); #2015 and #2948 are the open requests. Not re-checked in the
 * 3.28 provider binary (not installed here). The upload would fail with
 * `KeyBasedAuthenticationNotPermitted`. OneDeploy's publish endpoint needs no key: the platform
 * writes the package into the deployment container with the app's own identity
 * (`functionAppConfig.deployment.storage.authentication`), and the `onedeploy` extension's
 * `packageUri` would still need the zip hosted somewhere (all public examples use a public or SAS
 * URL; identity-authenticated `packageUri` is undocumented).
 *
 * Sources: Azure/azure-dev#3658 (Functions team: Flex publish is `scm + /api/publish`, the body
 * of the answer is the deployment id, `GET /api/deployments/{id|latest}` carries `status`
 * -1..6); Learn "Deployment technologies" (one deploy is the only technology for Flex);
 * ZeroFailed.Deploy.Azure `Publish-FlexConsumptionFunctionApp` (bearer-token publish, status in
 * the body, 400-wrapped storage 403 while a new role assignment propagates).
 * NOT verified against live Azure: the whole publish round trip, that the SCM site accepts an ARM
 * audience token with basic publishing credentials disabled (documented for Entra ID
 * deployments, not exercised here), and the ARM `sites/functions` listing shape beyond `name`.
 */
import * as pulumi from "@pulumi/pulumi";

export {
    BUILD_RECORD,
    buildHandlerPackage,
    GATE_EVENT_FUNCTION,
    GATE_SWEEP_FUNCTION,
    HANDLER_DIR,
    HANDLER_FUNCTIONS,
    HUB_APPROVAL_FUNCTION,
    zipFiles,
    type HandlerPackage,
    type ZipEntry,
} from "../handlers/gate-approval/bundle";

// ---------------------------------------------------------------------------------------------
// OneDeploy publish. Everything the dynamic provider calls is a plain function of its arguments:
// Pulumi serializes the provider (and what it captures) into the deployment, so no module
// imports are captured; Node built-ins are required inside the functions that use them.
// ---------------------------------------------------------------------------------------------

/** Public-cloud ARM; override with `armBaseUrl` for sovereign clouds (and for loopback tests). */
export const ARM_BASE_URL = "https://management.azure.com";
/**
 * api-version for listing `Microsoft.Web/sites/functions`. `publishAndWait` spells it out: code
 * the dynamic provider runs must not capture module exports (Pulumi serializes it).
 */
export const WEB_API_VERSION = "2024-11-01";

/**
 * The SCM (Kudu) base URL of a site: the `Repository` host name when the site reports one, else
 * its default host name with `.scm` after the first label (`app.azurewebsites.net` →
 * `app.scm.azurewebsites.net`; also right for regional unique host names
 * `app-h4sh.westeurope-01.azurewebsites.net` → `app-h4sh.scm.westeurope-01.azurewebsites.net`).
 */
export function scmBaseUrlFor(
    defaultHostName: string,
    hostNameSslStates?: readonly { readonly name?: string; readonly hostType?: string }[],
): string {
    const repo = hostNameSslStates?.find((s) => s.hostType === "Repository" && s.name);
    if (repo?.name) return `https://${repo.name.toLowerCase()}`;
    const host = defaultHostName.trim().toLowerCase();
    const dot = host.indexOf(".");
    if (dot <= 0 || !/^[a-z0-9.-]+$/.test(host)) throw new Error(`not a site host name: "${defaultHostName}"`);
    return `https://${host.slice(0, dot)}.scm${host.slice(dot)}`;
}

/** Marks an `accessToken` that could not be obtained; the text after it says why. */
export const NO_TOKEN_PREFIX = "unavailable:";

export type PublishAnswer = "accepted" | "retry" | "fail";

/**
 * What to do with the answer to `POST /api/publish`. Retried: throttling and server errors, a
 * deployment already running (409), the SCM site refusing a freshly granted caller (403), and
 * the 400 that wraps storage's 403 while the app identity's new role assignment propagates. A 401
 * refuses the token itself (expired, another tenant or audience): the same token would be refused
 * until the timeout, so it fails at once (`unauthorizedMessage` says what to do).
 */
export function classifyPublishResponse(status: number, body: string): PublishAnswer {
    if (status === 200 || status === 202) return "accepted";
    if (status === 401) return "fail";
    if (status === 403 || status === 408 || status === 409 || status === 429) return "retry";
    if (status >= 500) return "retry";
    if (status === 400 && /BlobUploadFailed|\b403\b|AuthorizationPermissionMismatch|not authorized/i.test(body)) {
        return "retry";
    }
    return "fail";
}

/** The deployment id `POST /api/publish` answers with (a bare or JSON-quoted GUID), if any. */
export function parseDeploymentId(body: string): string | undefined {
    const m = /^\s*"?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"?\s*$/i.exec(body);
    return m?.[1]?.toLowerCase();
}

export type DeploymentOutcome = "running" | "succeeded" | "failed";

/**
 * Kudu's `status`: -1 Cancelled, 0 Pending, 1 Building, 2 Deploying, 3 Failed, 4 Success,
 * 5 Conflict, 6 PartialSuccess (Azure/azure-dev#3658). Partial success is a failure here: a
 * handler that is half deployed must not receive gates.
 */
export function deploymentOutcome(status: unknown): DeploymentOutcome {
    switch (status) {
        case 0:
        case 1:
        case 2:
            return "running";
        case 4:
            return "succeeded";
        default:
            return "failed";
    }
}

/** Function names in an ARM `sites/functions` listing (`value[].name` is `<app>/<function>`). */
export function registeredFunctionNames(body: unknown): string[] {
    const value = (body as { value?: unknown } | null)?.value;
    if (!Array.isArray(value)) return [];
    return value
        .map((f) => (f as { name?: unknown })?.name)
        .filter((n): n is string => typeof n === "string")
        .map((n) => n.slice(n.lastIndexOf("/") + 1))
        .sort();
}

export interface PublishInputs {
    readonly appId: string;
    readonly scmBaseUrl: string;
    readonly armBaseUrl: string;
    readonly zipPath: string;
    readonly packageHash: string;
    readonly functionNames: readonly string[];
    /**
     * A bearer token to use as given. Omitted (the default): a token is taken from
     * `DefaultAzureCredential` when publishing, and again whenever it comes within five minutes of expiry.
     */
    readonly accessToken?: string;
    readonly pollIntervalSeconds: number;
    readonly timeoutSeconds: number;
}

export interface PublishResult {
    readonly deploymentId: string;
    readonly functions: string[];
}

/** The error for a 401 from the SCM site or ARM: the token is refused, retrying it cannot help. */
export function unauthorizedMessage(appId: string, what: string, tokenGiven: boolean, last: string): string {
    return (
        `OneDeploy publish of ${appId}: ${what} refused the bearer token (401): it has expired or is not valid for this ` +
        "tenant or audience. Sign in again (az login; in CI, azure/login) and rerun pulumi up" +
        (tokenGiven ? "; GateHandler publishToken is used as given: omit it to take a token when publishing" : "") +
        `. Last answer: ${last}`
    );
}

/**
 * The Authorization header of the publish's requests: the given token as it is, else one from
 * DefaultAzureCredential, asked when publishing (not at program start) and again near expiry, so a
 * long deployment before the publish never hands over a stale token.
 */
function publishAuthorization(
    accessToken: string | undefined,
    arm: string,
    appId: string,
): () => Promise<Record<string, string>> {
    let cached: { token: string; expiresOnTimestamp: number } | undefined;
    let credential: import("@azure/core-auth").TokenCredential | undefined;
    return async () => {
        if (accessToken !== undefined) return { Authorization: `Bearer ${accessToken}` };
        if (!cached || cached.expiresOnTimestamp - 5 * 60_000 < Date.now()) {
            if (!credential) {
                // eslint-disable-next-line @typescript-eslint/no-require-imports
                const identity = require("@azure/identity") as typeof import("@azure/identity");
                credential = new identity.DefaultAzureCredential();
            }
            const t = await credential.getToken(`${new URL(arm).origin}/.default`);
            if (!t) throw new Error(`no bearer token to publish ${appId}: DefaultAzureCredential returned none`);
            cached = t;
        }
        return { Authorization: `Bearer ${cached.token}` };
    };
}

/**
 * Publishes the zip with OneDeploy and waits until the deployment succeeded and ARM lists every
 * expected function. Throws with the service's own words on failure or timeout, and at once on 401.
 */
export async function publishAndWait(inputs: PublishInputs): Promise<PublishResult> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeFs = require("node:fs") as typeof import("node:fs");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeCrypto = require("node:crypto") as typeof import("node:crypto");
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    const deadline = Date.now() + inputs.timeoutSeconds * 1000;
    const interval = Math.max(0, inputs.pollIntervalSeconds * 1000);
    const scm = inputs.scmBaseUrl.replace(/\/+$/, "");
    const arm = inputs.armBaseUrl.replace(/\/+$/, "");
    const given = inputs.accessToken !== undefined;
    const overdue = (what: string, last: string) =>
        new Error(
            `OneDeploy publish of ${inputs.appId}: timed out after ${inputs.timeoutSeconds}s ${what}; last answer: ${last}`,
        );

    // The bearer token goes to both endpoints: never over plain http, whatever the URL says.
    for (const [field, url] of [
        ["scmBaseUrl", inputs.scmBaseUrl],
        ["armBaseUrl", inputs.armBaseUrl],
    ] as const) {
        if (!/^https:\/\//i.test(url)) {
            throw new Error(`OneDeploy publish of ${inputs.appId}: ${field} "${url}" is not an https URL`);
        }
    }
    if (given && (!inputs.accessToken || inputs.accessToken.startsWith("unavailable:"))) {
        throw new Error(
            `no bearer token to publish ${inputs.appId} (${(inputs.accessToken ?? "").slice("unavailable:".length) || "empty"}); ` +
                "pass a valid GateHandler publishToken, or omit it to take one from DefaultAzureCredential when publishing",
        );
    }
    const auth = publishAuthorization(inputs.accessToken, arm, inputs.appId);
    const zip = nodeFs.readFileSync(inputs.zipPath);
    const actual = nodeCrypto.createHash("sha256").update(zip).digest("hex");
    if (actual !== inputs.packageHash) {
        throw new Error(
            `package ${inputs.zipPath} changed since the plan (sha256 ${actual}, expected ${inputs.packageHash})`,
        );
    }

    // 1. Publish.
    let deploymentId: string | undefined;
    for (let last = ""; ;) {
        if (Date.now() > deadline) throw overdue("publishing", last);
        const res = await fetch(`${scm}/api/publish?RemoteBuild=false&Deployer=fleet-gates`, {
            method: "POST",
            headers: { ...(await auth()), "Content-Type": "application/zip" },
            body: zip,
        });
        const text = await res.text();
        last = `${res.status} ${text.slice(0, 300)}`;
        if (res.status === 401) throw new Error(unauthorizedMessage(inputs.appId, "the SCM site", given, last));
        const answer = classifyPublishResponse(res.status, text);
        if (answer === "accepted") {
            deploymentId = parseDeploymentId(text);
            break;
        }
        if (answer === "fail") throw new Error(`OneDeploy publish of ${inputs.appId} failed: ${last}`);
        await sleep(interval);
    }

    // 2. Wait for the deployment. A deployment the SCM site no longer knows by id (it recycles)
    // is followed through `latest`.
    let which = deploymentId ?? "latest";
    for (let last = ""; ;) {
        if (Date.now() > deadline) throw overdue("waiting for the deployment", last);
        const res = await fetch(`${scm}/api/deployments/${which}`, { headers: await auth() });
        const text = await res.text();
        last = `${res.status} ${text.slice(0, 300)}`;
        if (res.status === 401) throw new Error(unauthorizedMessage(inputs.appId, "the SCM site", given, last));
        if (res.status === 404 && which !== "latest") {
            which = "latest";
            continue;
        }
        if (res.status === 200) {
            const d = JSON.parse(text) as { id?: string; status?: unknown; status_text?: string; log_url?: string };
            const outcome = deploymentOutcome(d.status);
            if (outcome === "succeeded") {
                deploymentId = deploymentId ?? d.id ?? "unknown";
                break;
            }
            if (outcome === "failed") {
                throw new Error(
                    `OneDeploy deployment ${d.id ?? which} of ${inputs.appId} failed (status ${String(d.status)}): ` +
                        `${d.status_text ?? ""} ${d.log_url ?? ""}`.trim(),
                );
            }
        } else if (res.status !== 202 && res.status !== 429 && res.status < 500) {
            throw new Error(`OneDeploy status of ${inputs.appId}: ${last}`);
        }
        await sleep(interval);
    }

    // 3. Wait until ARM lists every function (trigger sync), so Event Grid can validate the destination.
    const listUrl = `${arm}${inputs.appId}/functions?api-version=2024-11-01`;
    for (let last = ""; ;) {
        if (Date.now() > deadline) throw overdue(`waiting for functions ${inputs.functionNames.join(", ")}`, last);
        const res = await fetch(listUrl, { headers: await auth() });
        const text = await res.text();
        last = `${res.status} ${text.slice(0, 300)}`;
        if (res.status === 401) throw new Error(unauthorizedMessage(inputs.appId, "ARM", given, last));
        if (res.status === 200) {
            const functions = registeredFunctionNames(JSON.parse(text));
            if (inputs.functionNames.every((f) => functions.includes(f))) return { deploymentId, functions };
        } else if (res.status !== 404 && res.status !== 429 && res.status < 500) {
            throw new Error(`listing the functions of ${inputs.appId}: ${last}`);
        }
        await sleep(interval);
    }
}

interface PublishState extends PublishResult {
    readonly appId: string;
    readonly scmBaseUrl: string;
    readonly packageHash: string;
    readonly functionNames: string[];
}

function toPublishInputs(raw: Record<string, unknown>): PublishInputs {
    return {
        appId: String(raw.appId),
        scmBaseUrl: String(raw.scmBaseUrl),
        armBaseUrl: typeof raw.armBaseUrl === "string" ? raw.armBaseUrl : "https://management.azure.com",
        zipPath: String(raw.zipPath),
        packageHash: String(raw.packageHash),
        functionNames: Array.isArray(raw.functionNames) ? raw.functionNames.map(String) : [],
        ...(typeof raw.accessToken === "string" ? { accessToken: raw.accessToken } : {}),
        pollIntervalSeconds: typeof raw.pollIntervalSeconds === "number" ? raw.pollIntervalSeconds : 5,
        timeoutSeconds: typeof raw.timeoutSeconds === "number" ? raw.timeoutSeconds : 900,
    };
}

/** Publishes the package and returns the deployment's id and the provider's state of it. */
async function publishDeployment(raw: Record<string, unknown>): Promise<{ id: string; outs: PublishState }> {
    const inputs = toPublishInputs(raw);
    const result = await publishAndWait(inputs);
    const outs: PublishState = {
        ...result,
        appId: inputs.appId,
        scmBaseUrl: inputs.scmBaseUrl,
        packageHash: inputs.packageHash,
        functionNames: [...inputs.functionNames],
    };
    return { id: `${inputs.appId}/deployments/${result.deploymentId}`, outs };
}

/**
 * The publish as a dynamic provider. Only the package hash, the app and its SCM site decide
 * whether to publish again: the bearer token changes on every run and is never compared, and it
 * is not part of the outputs.
 */
export const handlerPublishProvider: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        const keys = ["packageHash", "appId", "scmBaseUrl", "functionNames"];
        const changed = keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false };
    },
    async create(raw: Record<string, unknown>) {
        return publishDeployment(raw);
    },
    async update(_id: string, _olds: Record<string, unknown>, news: Record<string, unknown>) {
        return { outs: (await publishDeployment(news)).outs };
    },
    // Removing this resource leaves the deployed code in place; deleting the app removes it.
    async delete() {},
};

export interface HandlerPublishArgs {
    /** ARM id of the function app. */
    readonly appId: pulumi.Input<string>;
    /** `https://<app>.scm.azurewebsites.net` (see `scmBaseUrlFor`). */
    readonly scmBaseUrl: pulumi.Input<string>;
    /** Defaults to public-cloud ARM. */
    readonly armBaseUrl?: pulumi.Input<string>;
    readonly zipPath: pulumi.Input<string>;
    /** SHA-256 of the zip: a new hash publishes again. */
    readonly packageHash: pulumi.Input<string>;
    readonly functionNames: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * An ARM-audience Microsoft Entra bearer token to use as given; kept secret. Omit it (the default)
     * to take a token from `DefaultAzureCredential` when publishing.
     */
    readonly accessToken?: pulumi.Input<string>;
    readonly pollIntervalSeconds?: pulumi.Input<number>;
    readonly timeoutSeconds?: pulumi.Input<number>;
}

/** Publishes the handler package with OneDeploy and completes when its functions are registered. */
export class HandlerPublish extends pulumi.dynamic.Resource {
    declare readonly deploymentId: pulumi.Output<string>;
    declare readonly functions: pulumi.Output<string[]>;
    declare readonly packageHash: pulumi.Output<string>;

    constructor(name: string, args: HandlerPublishArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            handlerPublishProvider,
            name,
            {
                ...args,
                armBaseUrl: args.armBaseUrl ?? ARM_BASE_URL,
                accessToken: args.accessToken === undefined ? undefined : pulumi.secret(args.accessToken),
                deploymentId: undefined,
                functions: undefined,
            },
            { ...opts, additionalSecretOutputs: ["accessToken"] },
            "fleet-gates",
            "HandlerPublish",
        );
    }
}
