/**
 * The HTTP vocabulary the ARM emulator's routes share: ARM's error body and the `HttpError` that
 * carries it, the `Reply` a route returns for the server to send, request-body reading with ARM's
 * limits and messages, `api-version` checks, and ETag matching for `If-Match` / `If-None-Match`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { FLEET_API_VERSION } from "./types";

export const CONTAINER_SERVICE = "Microsoft.ContainerService";
export const MAX_URL_LENGTH = 4096;
const MAX_BODY_BYTES = 1024 * 1024;

/** What a route answers: the server adds the common headers and sends it. */
export interface Reply {
    readonly status: number;
    readonly body?: unknown;
    readonly headers?: Record<string, string>;
}

/** A route's request, already routed and authorized. */
export interface RouteRequest {
    /** Decoded path parameters of the route's template. */
    readonly params: Record<string, string>;
    readonly search: URLSearchParams;
    readonly headers: IncomingMessage["headers"];
    /** The parsed JSON body, for routes that take one. */
    readonly body?: unknown;
    /** The emulator's own URL, for links it hands out (nextLink, Location). */
    readonly baseUrl: string;
}

export class HttpError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
        readonly headers: Record<string, string> = {},
    ) {
        super(message);
    }
}

/** ARM's 404 for a resource of the container service in a resource group (`type`: `fleets/f/gates/g`). */
export function resourceNotFound(type: string, resourceGroup: string | undefined): HttpError {
    return new HttpError(
        404,
        "ResourceNotFound",
        `The Resource '${CONTAINER_SERVICE}/${type}' under resource group '${resourceGroup}' was not found.`,
    );
}

export function armError(code: string, message: string): { error: { code: string; message: string } } {
    return { error: { code, message } };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unquoteEtag(tag: string): string {
    let t = tag.trim();
    if (t.startsWith("W/")) t = t.slice(2);
    if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1);
    return t;
}

export function quoteEtag(tag: string): string {
    return tag.startsWith('"') && tag.endsWith('"') && tag.length >= 2 ? tag : `"${tag}"`;
}

/** RFC 7232 list match: `*` matches any existing entity, otherwise a comma-separated list of tags. */
export function etagListMatches(header: string, current: string): boolean {
    const want = unquoteEtag(current);
    return header.split(",").some((t) => t.trim() === "*" || unquoteEtag(t) === want);
}

export function checkFleetApiVersion(search: URLSearchParams): void {
    checkAnyApiVersion(search);
    const v = search.get("api-version");
    if (v !== FLEET_API_VERSION)
        throw new HttpError(
            400,
            "InvalidApiVersionParameter",
            `The api-version '${v}' is invalid. The supported versions are '${FLEET_API_VERSION}'.`,
        );
}

export function checkAnyApiVersion(search: URLSearchParams): void {
    const v = search.get("api-version");
    if (v === null || v === "")
        throw new HttpError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
}

/** The request's JSON body; an HttpError for an empty, oversized, aborted or malformed one. */
export function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let failed = false;
        req.on("data", (chunk: Buffer) => {
            if (failed) return;
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
                failed = true;
                res.setHeader("Connection", "close");
                reject(
                    new HttpError(
                        413,
                        "RequestEntityTooLarge",
                        `The request body is larger than ${MAX_BODY_BYTES} bytes.`,
                    ),
                );
                return;
            }
            chunks.push(chunk);
        });
        req.on("end", () => {
            if (failed) return;
            const text = Buffer.concat(chunks).toString("utf8");
            if (text.trim() === "") {
                reject(new HttpError(400, "InvalidRequestContent", "The request content is empty."));
                return;
            }
            try {
                resolve(JSON.parse(text));
            } catch (err) {
                reject(
                    new HttpError(
                        400,
                        "InvalidRequestContent",
                        `The request content is not valid JSON: ${(err as Error).message}`,
                    ),
                );
            }
        });
        req.on("close", () => {
            if (!req.complete) reject(new HttpError(400, "InvalidRequestContent", "The request was aborted."));
        });
    });
}
