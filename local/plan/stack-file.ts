/**
 * Reads `Pulumi.<stack>.yaml` into the config map Pulumi hands a program (namespaced keys, values
 * as strings, objects as JSON) plus the keys Pulumi would mark secret. Secure values cannot be
 * decrypted offline: they become a labelled placeholder and stay secret.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { OFFLINE_DEFAULTS, type MockEnvironment } from "./mocks";

/** What an offline run uses in place of a value it cannot decrypt; a valid https URL so config still validates. */
export const OFFLINE_SECRET_VALUE = "https://offline.invalid/secret-placeholder";

export interface StackFile {
    readonly stack: string;
    readonly path: string;
    readonly config: Record<string, string>;
    readonly secretKeys: string[];
}

export class StackFileError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "StackFileError";
    }
}

function replaceSecure(v: unknown): { value: unknown; secret: boolean } {
    if (Array.isArray(v)) {
        const items = v.map(replaceSecure);
        return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
    }
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (Object.keys(o).length === 1 && typeof o.secure === "string")
            return { value: OFFLINE_SECRET_VALUE, secret: true };
        let secret = false;
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(o)) {
            const r = replaceSecure(x);
            out[k] = r.value;
            secret ||= r.secret;
        }
        return { value: out, secret };
    }
    return { value: v, secret: false };
}

/** Parses stack YAML text into Pulumi's config map. */
export function parseStackYaml(text: string, stack: string, file = `Pulumi.${stack}.yaml`): StackFile {
    let doc: unknown;
    try {
        doc = parse(text);
    } catch (e) {
        throw new StackFileError(`${file}: not valid YAML: ${(e as Error).message}`);
    }
    const cfg = (doc as { config?: unknown } | null)?.config ?? {};
    if (typeof cfg !== "object" || Array.isArray(cfg)) throw new StackFileError(`${file}: "config" must be a map`);
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, raw] of Object.entries(cfg as Record<string, unknown>)) {
        if (!key.includes(":"))
            throw new StackFileError(`${file}: config key "${key}" needs a namespace, e.g. "fleet-gates:${key}"`);
        const { value, secret } = replaceSecure(raw);
        config[key] = typeof value === "string" ? value : JSON.stringify(value);
        if (secret) secretKeys.push(key);
    }
    return { stack, path: file, config, secretKeys };
}

/** Loads `Pulumi.<stack>.yaml` from `dir`, naming the stacks that exist when it is missing. */
export function loadStackFile(stack: string, dir = process.cwd()): StackFile {
    if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new StackFileError(`--stack "${stack}" is not a valid stack name`);
    const file = path.join(dir, `Pulumi.${stack}.yaml`);
    if (!existsSync(file))
        throw new StackFileError(`no stack file Pulumi.${stack}.yaml in ${path.basename(dir) || dir}`);
    return parseStackYaml(readFileSync(file, "utf8"), stack, `Pulumi.${stack}.yaml`);
}

/** The mock environment for a stack: its config plus made-up (or stack-given) Azure identities. */
export function mockEnvironment(file: StackFile, project = "fleet-gates"): MockEnvironment {
    return {
        ...OFFLINE_DEFAULTS,
        subscriptionId: file.config["azure-native:subscriptionId"] ?? OFFLINE_DEFAULTS.subscriptionId,
        tenantId: file.config["azure-native:tenantId"] ?? OFFLINE_DEFAULTS.tenantId,
        project,
        stack: file.stack,
        config: file.config,
        secretKeys: file.secretKeys,
    };
}
