/**
 * A loopback HTTPS emulation of ARM for the fleet's own child resources as `ArmResource` creates them:
 * PUT, GET and DELETE of `fleets/{fleet}/members|updateStrategies|autoUpgradeProfiles/{name}` at
 * 2026-06-01, with the long-running-operation protocol of the OpenAPI document
 * (`shared/specs/containerservice-fleet/2026-06-01/fleets.json`): PUT answers 201/200 with
 * `provisioningState` Creating/Updating and an `Azure-AsyncOperation` status URL (final-state-via
 * azure-async-operation); DELETE answers 202 with `Location` (members, auto-upgrade profiles) or
 * `Azure-AsyncOperation` (update strategies). Operations finish after `pollsToFinish` status reads.
 *
 * Like ARM, it answers 400 `NoRegisteredProviderFound` for any other api-version (what azure-native's
 * existence check at its own version meets), 401 without a bearer token, 404 for a child of a fleet
 * it does not know. Every request is logged with its body, so tests can see exactly what was sent.
 */
import { randomUUID } from "node:crypto";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { loopbackCertificate } from "../tls";

export const FLEET_CHILD_API_VERSION = "2026-06-01";
const CHILD_TYPES = new Map([
    ["members", "members"],
    ["updatestrategies", "updateStrategies"],
    ["autoupgradeprofiles", "autoUpgradeProfiles"],
]);
/** DELETE of these answers `Azure-AsyncOperation`; the others answer `Location` (per the spec). */
const DELETE_VIA_ASYNC_OPERATION = new Set(["updateStrategies"]);

export interface FleetResourceRequest {
    readonly method: string;
    readonly path: string;
    readonly apiVersion: string | null;
    readonly status: number;
    readonly body?: unknown;
}

export interface FleetChild {
    readonly id: string;
    readonly type: string;
    properties: Record<string, unknown>;
    eTag: string;
}

interface Operation {
    readonly id: string;
    readonly resourceId: string;
    readonly kind: "put" | "delete";
    polls: number;
    readonly fail?: { code: string; message: string };
}

export interface FleetResourcesOptions {
    /** Status reads an operation takes before it finishes (default 1). */
    readonly pollsToFinish?: number;
    readonly region?: string;
}

/** Matches `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ContainerService/fleets/{f}/{type}/{name}`. */
const CHILD_PATH =
    /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.containerservice\/fleets\/([^/]+)\/([^/]+)\/([^/]+)$/i;
const OPERATION_PATH =
    /^\/subscriptions\/([^/]+)\/providers\/microsoft\.containerservice\/locations\/([^/]+)\/(operationstatuses|operationresults)\/([^/]+)$/i;

export class FleetResourcesEmulator {
    readonly requests: FleetResourceRequest[] = [];
    private readonly children = new Map<string, FleetChild>();
    private readonly fleets = new Set<string>();
    private readonly operations = new Map<string, Operation>();
    private readonly failures: { code: string; message: string }[] = [];
    private server?: https.Server;
    private origin = "";
    private readonly pollsToFinish: number;
    private readonly region: string;

    constructor(options: FleetResourcesOptions = {}) {
        this.pollsToFinish = options.pollsToFinish ?? 1;
        this.region = options.region ?? "westeurope";
    }

    /** `https://127.0.0.1:<port>`. */
    get url(): string {
        return this.origin;
    }

    /** Serves on an ephemeral loopback port; returns the certificate to trust (PEM). */
    async start(): Promise<string> {
        const { key, cert } = await loopbackCertificate();
        this.server = https.createServer({ key, cert }, (req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () =>
                this.handle(req.method ?? "GET", req.url ?? "/", req.headers, Buffer.concat(chunks), res),
            );
        });
        await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
        this.origin = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
        return cert;
    }

    async stop(): Promise<void> {
        const s = this.server;
        this.server = undefined;
        if (!s) return;
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
    }

    /** Makes `fleetId` exist, so children may be created under it. */
    addFleet(fleetId: string): void {
        this.fleets.add(fleetId.toLowerCase());
    }

    /** The child resource at `id`, if any. */
    child(id: string): FleetChild | undefined {
        return this.children.get(id.toLowerCase());
    }

    /** The next PUT's operation ends Failed with this error. */
    failNextPut(code: string, message: string): void {
        this.failures.push({ code, message });
    }

    private handle(
        method: string,
        rawUrl: string,
        headers: Record<string, string | string[] | undefined>,
        raw: Buffer,
        res: import("node:http").ServerResponse,
    ): void {
        const url = new URL(rawUrl, this.origin);
        const path = url.pathname;
        const apiVersion = url.searchParams.get("api-version");
        let body: unknown;
        try {
            body = raw.length > 0 ? JSON.parse(raw.toString("utf8")) : undefined;
        } catch {
            body = raw.toString("utf8");
        }
        const answer = (status: number, payload?: unknown, extra: Record<string, string> = {}) => {
            this.requests.push({ method, path, apiVersion, status, ...(body === undefined ? {} : { body }) });
            res.writeHead(status, { "Content-Type": "application/json", ...extra });
            res.end(payload === undefined ? undefined : JSON.stringify(payload));
        };
        const error = (status: number, code: string, message: string) => answer(status, { error: { code, message } });

        if (!/^Bearer\s+\S/i.test(String(headers.authorization ?? "")))
            return error(
                401,
                "AuthenticationFailed",
                "The 'Authorization' header is missing or is not a Bearer token.",
            );
        if (apiVersion !== FLEET_CHILD_API_VERSION)
            return error(
                400,
                "NoRegisteredProviderFound",
                `No registered resource provider found for location '${this.region}' and API version '${apiVersion ?? ""}' ` +
                    `for type 'fleets'. The supported api-versions are '${FLEET_CHILD_API_VERSION}'.`,
            );

        const op = OPERATION_PATH.exec(path);
        if (op && method === "GET") return this.answerOperation(op[3]!.toLowerCase(), op[4]!, answer, error);

        const m = CHILD_PATH.exec(path);
        const type = m ? CHILD_TYPES.get(m[4]!.toLowerCase()) : undefined;
        if (!m || !type) return error(404, "NotFound", "No route matches the request path.");
        const fleetId = `/subscriptions/${m[1]}/resourceGroups/${m[2]}/providers/Microsoft.ContainerService/fleets/${m[3]}`;
        const id = `${fleetId}/${type}/${m[5]}`;
        const key = id.toLowerCase();
        if (!this.fleets.has(fleetId.toLowerCase()))
            return error(
                404,
                "ParentResourceNotFound",
                `Can not perform requested operation on nested resource. Parent resource '${m[3]}' not found.`,
            );
        const existing = this.children.get(key);
        const view = (c: FleetChild) => ({
            id: c.id,
            name: m[5],
            type: `Microsoft.ContainerService/fleets/${type}`,
            eTag: c.eTag,
            properties: c.properties,
        });

        switch (method) {
            case "GET":
                return existing
                    ? answer(200, view(existing))
                    : error(404, "NotFound", `The resource '${id}' was not found.`);
            case "PUT": {
                const props = (body as { properties?: unknown } | undefined)?.properties;
                if (body === null || typeof body !== "object" || props === null || typeof props !== "object")
                    return error(
                        400,
                        "InvalidRequestContent",
                        "The request content must be a JSON object with 'properties'.",
                    );
                const c: FleetChild = {
                    id,
                    type,
                    properties: {
                        ...(props as Record<string, unknown>),
                        provisioningState: existing ? "Updating" : "Creating",
                    },
                    eTag: randomUUID(),
                };
                this.children.set(key, c);
                const operation = this.startOperation(m[1]!, id, "put", this.failures.shift());
                return answer(existing ? 200 : 201, view(c), {
                    "Azure-AsyncOperation": operation.status,
                    "Retry-After": "0",
                });
            }
            case "DELETE": {
                if (!existing) return answer(204);
                existing.properties.provisioningState = "Deleting";
                const operation = this.startOperation(m[1]!, id, "delete");
                return DELETE_VIA_ASYNC_OPERATION.has(type)
                    ? answer(202, undefined, { "Azure-AsyncOperation": operation.status, "Retry-After": "0" })
                    : answer(202, undefined, { Location: operation.result, "Retry-After": "0" });
            }
            default:
                return error(405, "MethodNotAllowed", `The method '${method}' is not allowed on this resource.`);
        }
    }

    private startOperation(
        subscriptionId: string,
        resourceId: string,
        kind: "put" | "delete",
        fail?: { code: string; message: string },
    ): { status: string; result: string } {
        const id = randomUUID();
        this.operations.set(id, { id, resourceId, kind, polls: 0, ...(fail ? { fail } : {}) });
        const base = `${this.origin}/subscriptions/${subscriptionId}/providers/Microsoft.ContainerService/locations/${this.region}`;
        const q = `?api-version=${FLEET_CHILD_API_VERSION}`;
        return { status: `${base}/operationStatuses/${id}${q}`, result: `${base}/operationResults/${id}${q}` };
    }

    private answerOperation(
        kind: string,
        id: string,
        answer: (status: number, payload?: unknown, extra?: Record<string, string>) => void,
        error: (status: number, code: string, message: string) => void,
    ): void {
        const op = this.operations.get(id);
        if (!op) return error(404, "NotFound", `Operation '${id}' was not found.`);
        op.polls++;
        const done = op.polls >= this.pollsToFinish;
        const key = op.resourceId.toLowerCase();
        if (done) {
            const c = this.children.get(key);
            if (op.kind === "delete") this.children.delete(key);
            else if (c) c.properties.provisioningState = op.fail ? "Failed" : "Succeeded";
        }
        if (kind === "operationresults") return done ? answer(204) : answer(202, undefined, { "Retry-After": "0" });
        const status = !done ? "InProgress" : op.fail ? "Failed" : "Succeeded";
        return answer(200, {
            id,
            name: id,
            status,
            ...(done && op.fail ? { error: op.fail } : {}),
        });
    }
}
