/**
 * Validates payloads against the official Fleet OpenAPI document (2026-06-01), so the untyped
 * `properties` we hand to `azure-native.resources.Resource` are checked by the same schema ARM uses.
 *
 * The swagger is dereferenced with @apidevtools/json-schema-ref-parser, converted from OpenAPI 2.0 to
 * JSON Schema (draft-07) and checked with ajv. Conversion rules, after Azure's own model validator (oav):
 * - `x-ms-*` keywords and descriptions are dropped; `x-nullable: true` admits `null`. In responses an
 *   optional property may also be `null` unless `x-nullable: false` (AutoRest semantics; the spec's own
 *   list examples return `"nextLink": null`). Requests we build must omit a field instead.
 * - `allOf` is flattened into the object (ARM uses it only for inheritance, e.g. ProxyResource).
 * - Objects that declare `properties` but no `additionalProperties` reject unknown properties: a
 *   misspelt field (`maxConcurency`) is an error, not silently ignored.
 * - `readOnly` properties are allowed in responses only: in a request they are errors, and a
 *   `required` read-only property is not required.
 * - Formats: ajv-formats (date-time, uri, uuid, byte, int32) plus ARM's `arm-id`.
 *
 * The document is loaded asynchronously: call `await loadFleetSpec()` once (e.g. in `beforeAll`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import $RefParser from "@apidevtools/json-schema-ref-parser";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";

export const FLEET_SPEC_DIR = path.resolve(__dirname, "../../shared/specs/containerservice-fleet/2026-06-01");
export const FLEET_SPEC_PATH = path.join(FLEET_SPEC_DIR, "fleets.json");

export type Direction = "request" | "response";

export interface ValidateOptions {
    /** `request` (default): read-only properties are errors. `response`: they are allowed. */
    readonly direction?: Direction;
}

type Schema = Record<string, unknown>;

/**
 * The swagger's external `$ref`s point into `specification/common-types/resource-management/`, which
 * is not copied into `shared/specs`. These are minimal faithful copies of exactly the definitions and
 * parameters fleets.json references (from Azure/azure-rest-api-specs common-types v5 `types.json` and
 * v4 `managedidentity.json`), descriptions and x-ms-* dropped. One deliberate deviation:
 * `ErrorDetail.details` items are permissive `{}` instead of recursing into `ErrorDetail`, so the
 * dereferenced document stays acyclic (it only appears in read-only error fields).
 */
const COMMON_TYPES: Record<string, Schema> = {
    "resource-management/v5/types.json": {
        swagger: "2.0",
        info: { title: "Common types", version: "v5" },
        paths: {},
        definitions: {
            Resource: {
                type: "object",
                properties: {
                    id: { type: "string", format: "arm-id", readOnly: true },
                    name: { type: "string", readOnly: true },
                    type: { type: "string", readOnly: true },
                    systemData: { $ref: "#/definitions/SystemData", readOnly: true },
                },
            },
            ProxyResource: { type: "object", allOf: [{ $ref: "#/definitions/Resource" }] },
            TrackedResource: {
                type: "object",
                properties: {
                    tags: { type: "object", additionalProperties: { type: "string" } },
                    location: { type: "string" },
                },
                required: ["location"],
                allOf: [{ $ref: "#/definitions/Resource" }],
            },
            SystemData: {
                type: "object",
                properties: {
                    createdBy: { type: "string" },
                    createdByType: { $ref: "#/definitions/createdByType" },
                    createdAt: { type: "string", format: "date-time" },
                    lastModifiedBy: { type: "string" },
                    lastModifiedByType: { $ref: "#/definitions/createdByType" },
                    lastModifiedAt: { type: "string", format: "date-time" },
                },
            },
            createdByType: { type: "string", enum: ["User", "Application", "ManagedIdentity", "Key"] },
            ErrorAdditionalInfo: {
                type: "object",
                properties: {
                    type: { type: "string", readOnly: true },
                    info: { type: "object", readOnly: true },
                },
            },
            ErrorDetail: {
                type: "object",
                properties: {
                    code: { type: "string", readOnly: true },
                    message: { type: "string", readOnly: true },
                    target: { type: "string", readOnly: true },
                    details: { type: "array", items: {}, readOnly: true },
                    additionalInfo: {
                        type: "array",
                        items: { $ref: "#/definitions/ErrorAdditionalInfo" },
                        readOnly: true,
                    },
                },
            },
            ErrorResponse: { type: "object", properties: { error: { $ref: "#/definitions/ErrorDetail" } } },
            Operation: {
                type: "object",
                properties: {
                    name: { type: "string", readOnly: true },
                    isDataAction: { type: "boolean", readOnly: true },
                    display: { $ref: "#/definitions/OperationDisplay" },
                    origin: { $ref: "#/definitions/Origin", readOnly: true },
                    actionType: { $ref: "#/definitions/ActionType", readOnly: true },
                },
            },
            OperationDisplay: {
                type: "object",
                properties: {
                    provider: { type: "string", readOnly: true },
                    resource: { type: "string", readOnly: true },
                    operation: { type: "string", readOnly: true },
                    description: { type: "string", readOnly: true },
                },
            },
            Origin: { type: "string", enum: ["user", "system", "user,system"] },
            ActionType: { type: "string", enum: ["Internal"] },
            OperationListResult: {
                type: "object",
                properties: {
                    value: { type: "array", items: { $ref: "#/definitions/Operation" } },
                    nextLink: { type: "string", format: "uri" },
                },
                required: ["value"],
            },
        },
        parameters: {
            ApiVersionParameter: { name: "api-version", in: "query", required: true, type: "string", minLength: 1 },
            SubscriptionIdParameter: {
                name: "subscriptionId",
                in: "path",
                required: true,
                type: "string",
                format: "uuid",
            },
            ResourceGroupNameParameter: {
                name: "resourceGroupName",
                in: "path",
                required: true,
                type: "string",
                minLength: 1,
                maxLength: 90,
                pattern: "^[-\\w\\._\\(\\)]+$",
            },
        },
    },
    "resource-management/v4/managedidentity.json": {
        swagger: "2.0",
        info: { title: "Common types", version: "v4" },
        paths: {},
        definitions: {
            ManagedServiceIdentity: {
                type: "object",
                properties: {
                    principalId: { type: "string", format: "uuid", readOnly: true },
                    tenantId: { type: "string", format: "uuid", readOnly: true },
                    type: { $ref: "#/definitions/ManagedServiceIdentityType" },
                    userAssignedIdentities: {
                        type: "object",
                        additionalProperties: { $ref: "#/definitions/UserAssignedIdentity" },
                    },
                },
                required: ["type"],
            },
            ManagedServiceIdentityType: {
                type: "string",
                enum: ["None", "SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned"],
            },
            UserAssignedIdentity: {
                type: "object",
                properties: {
                    principalId: { type: "string", format: "uuid", readOnly: true },
                    clientId: { type: "string", format: "uuid", readOnly: true },
                },
            },
        },
    },
};

const COMMON_TYPES_URL = /\/common-types\/(resource-management\/v\d+\/[\w-]+\.json)$/;

/** ARM ids as the spec's examples write them (placeholder subscriptions such as `subid1` included). */
const ARM_ID_PATTERN =
    /^(\/subscriptions\/[^/]+(\/resourceGroups\/[^/]+)?)?(\/providers\/[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+(\/[^/]+\/[^/]+)+)?$/i;

function isArmId(value: string): boolean {
    return value.startsWith("/") && value.length > 1 && ARM_ID_PATTERN.test(value);
}

/** Marks a read-only property inside a request schema; it fails whenever the property is present. */
const READ_ONLY_KEYWORD = "readOnlyInRequest";

/** OpenAPI 2.0 schema keywords that carry over to JSON Schema unchanged. */
const KEPT_KEYWORDS = [
    "type",
    "format",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
] as const;

/** `schema` or null, without touching the (shared) input. */
function nullable(schema: Schema): Schema {
    if (schema.type === undefined) return schema;
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (types.includes("null")) return schema;
    const out: Schema = { ...schema, type: [...types, "null"] };
    if (Array.isArray(schema.enum)) out.enum = [...schema.enum, null];
    return out;
}

function isObject(v: unknown): v is Schema {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Converts one dereferenced OpenAPI 2.0 schema to JSON Schema for `direction`. */
function convert(node: unknown, direction: Direction, memo: WeakMap<object, Schema>): Schema {
    if (!isObject(node)) return {};
    const cached = memo.get(node);
    if (cached) return cached;
    const out: Schema = {};
    for (const k of KEPT_KEYWORDS) if (node[k] !== undefined) out[k] = node[k];
    // OpenAPI 2.0 spells exclusive bounds as booleans next to minimum/maximum.
    if (node.exclusiveMinimum === true && typeof node.minimum === "number") {
        out.exclusiveMinimum = node.minimum;
        delete out.minimum;
    }
    if (node.exclusiveMaximum === true && typeof node.maximum === "number") {
        out.exclusiveMaximum = node.maximum;
        delete out.maximum;
    }
    if (node.items !== undefined) out.items = convert(node.items, direction, memo);

    // allOf is inheritance in ARM specs: merge the bases' properties and required into this object.
    const bases = Array.isArray(node.allOf) ? node.allOf.map((b) => convert(b, direction, memo)) : [];
    const properties: Record<string, Schema> = {};
    const required = new Set<string>();
    let additional: unknown = undefined;
    for (const base of bases) {
        Object.assign(properties, (base.properties as Record<string, Schema> | undefined) ?? {});
        for (const r of (base.required as string[] | undefined) ?? []) required.add(r);
        if (base.additionalProperties !== undefined && base.additionalProperties !== false)
            additional = base.additionalProperties;
        if (out.type === undefined && base.type !== undefined) out.type = base.type;
    }
    if (isObject(node.properties)) {
        for (const [name, prop] of Object.entries(node.properties)) {
            if (direction === "request" && isObject(prop) && prop.readOnly === true) {
                properties[name] = { [READ_ONLY_KEYWORD]: true };
            } else {
                properties[name] = convert(prop, direction, memo);
            }
        }
    }
    for (const r of Array.isArray(node.required) ? (node.required as string[]) : []) required.add(r);
    if (direction === "response" && isObject(node.properties)) {
        for (const [name, prop] of Object.entries(node.properties)) {
            if (!required.has(name) && !(isObject(prop) && prop["x-nullable"] === false))
                properties[name] = nullable(properties[name]!);
        }
    }
    // A required read-only property (own or inherited) is only required in responses.
    for (const [name, prop] of Object.entries(properties)) {
        if (prop[READ_ONLY_KEYWORD] === true) required.delete(name);
    }
    if (node.additionalProperties !== undefined) {
        additional =
            typeof node.additionalProperties === "boolean"
                ? node.additionalProperties
                : convert(node.additionalProperties, direction, memo);
    }
    if (Object.keys(properties).length > 0) {
        out.properties = properties;
        out.additionalProperties = additional ?? false;
    } else if (additional !== undefined) {
        out.additionalProperties = additional;
    }
    if (required.size > 0) out.required = [...required];

    const result = node["x-nullable"] === true ? nullable(out) : out;
    memo.set(node, result);
    return result;
}

interface SwaggerParameter {
    readonly name: string;
    readonly in: "path" | "query" | "header" | "body" | "formData";
    readonly required?: boolean;
    readonly schema?: unknown;
    readonly [keyword: string]: unknown;
}

interface SwaggerOperation {
    readonly operationId: string;
    readonly parameters?: SwaggerParameter[];
    readonly responses: Record<string, { schema?: unknown }>;
}

interface LoadedSpec {
    readonly version: string;
    readonly definitions: Record<string, unknown>;
    readonly operations: Map<string, SwaggerOperation>;
    /** Path template → the operationId of its PUT. */
    readonly puts: Map<string, string>;
    readonly ajv: Ajv;
    readonly compiled: Map<string, ValidateFunction>;
    readonly memo: Record<Direction, WeakMap<object, Schema>>;
}

let loaded: LoadedSpec | undefined;
let loading: { readonly path: string; readonly done: Promise<void> } | undefined;

/** Loads and dereferences the spec once; later calls return the same promise. */
export function loadFleetSpec(specPath: string = FLEET_SPEC_PATH): Promise<void> {
    loading ??= { path: specPath, done: load(specPath) };
    if (loading.path !== specPath)
        return Promise.reject(new Error(`spec-validator: already loaded ${loading.path}, not ${specPath}`));
    return loading.done;
}

async function load(specPath: string): Promise<void> {
    const raw = JSON.parse(fs.readFileSync(specPath, "utf8")) as Schema;
    // `x-ms-examples` reference example files, most of which are not copied; they are not schemas.
    const paths = JSON.parse(JSON.stringify(raw.paths ?? {}), (k, v: unknown) =>
        k === "x-ms-examples" ? undefined : v,
    ) as Schema;
    const doc = { ...raw, paths };
    const deref = (await $RefParser.dereference(specPath, doc, {
        resolve: {
            external: true,
            commonTypes: {
                order: 1,
                canRead: COMMON_TYPES_URL,
                read: (file: { url: string }) => {
                    const key = COMMON_TYPES_URL.exec(file.url)?.[1];
                    const stub = key ? COMMON_TYPES[key] : undefined;
                    if (!stub) throw new Error(`spec-validator: no stub for common-types file ${file.url}`);
                    return JSON.stringify(stub);
                },
            },
        },
        dereference: { circular: false },
    })) as Schema;

    const operations = new Map<string, SwaggerOperation>();
    const puts = new Map<string, string>();
    for (const [template, item] of Object.entries(deref.paths as Record<string, Record<string, unknown>>)) {
        const shared = (item.parameters as SwaggerParameter[] | undefined) ?? [];
        for (const [method, op] of Object.entries(item)) {
            if (method === "parameters" || !isObject(op) || typeof op.operationId !== "string") continue;
            const o = op as unknown as SwaggerOperation;
            operations.set(o.operationId, { ...o, parameters: [...shared, ...(o.parameters ?? [])] });
            if (method === "put") puts.set(template, o.operationId);
        }
    }

    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addFormat("arm-id", { type: "string", validate: isArmId });
    ajv.addKeyword({ keyword: READ_ONLY_KEYWORD, schemaType: "boolean", errors: false, validate: (s: boolean) => !s });
    loaded = {
        version: String((raw.info as { version?: unknown } | undefined)?.version),
        definitions: deref.definitions as Record<string, unknown>,
        operations,
        puts,
        ajv,
        compiled: new Map(),
        memo: { request: new WeakMap(), response: new WeakMap() },
    };
}

function spec(): LoadedSpec {
    if (!loaded) throw new Error("spec-validator: call `await loadFleetSpec()` first (e.g. in beforeAll)");
    return loaded;
}

/** Names of the spec's definitions (for error messages and tests). */
export function definitionNames(): string[] {
    return Object.keys(spec().definitions).sort();
}

function validatorFor(key: string, schema: unknown, direction: Direction): ValidateFunction {
    const s = spec();
    const cacheKey = `${direction}:${key}`;
    let fn = s.compiled.get(cacheKey);
    if (!fn) {
        fn = s.ajv.compile(convert(schema, direction, s.memo[direction]));
        s.compiled.set(cacheKey, fn);
    }
    return fn;
}

function show(value: unknown): string {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** One readable line per ajv error: `<where>: <what> (got <value>)`. */
function formatErrors(errors: readonly ErrorObject[] | null | undefined, root: unknown, prefix = ""): string[] {
    const lines = (errors ?? []).map((e) => {
        const where = `${prefix}${e.instancePath}` || "(root)";
        const value = e.instancePath
            .split("/")
            .slice(1)
            .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
            .reduce<unknown>(
                (v, p) => (isObject(v) || Array.isArray(v) ? (v as Record<string, unknown>)[p] : undefined),
                root,
            );
        switch (e.keyword) {
            case READ_ONLY_KEYWORD:
                return `${where}: is read-only (allowed in responses only)`;
            case "required":
                return `${where}: must have required property "${(e.params as { missingProperty: string }).missingProperty}"`;
            case "additionalProperties":
                return `${where}: must NOT have additional property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
            case "enum":
                return `${where}: must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(show).join(", ")} (got ${show(value)})`;
            default:
                return `${where}: ${e.message ?? e.keyword} (got ${show(value)})`;
        }
    });
    return [...new Set(lines)];
}

/**
 * Validates `value` against the definition `definitionName` (e.g. `FleetUpdateStrategyProperties`,
 * `FleetMemberProperties`, `AutoUpgradeProfileProperties`). Returns readable errors; empty when valid.
 */
export function validateDefinition(definitionName: string, value: unknown, options: ValidateOptions = {}): string[] {
    const s = spec();
    const schema = s.definitions[definitionName];
    if (schema === undefined) {
        const near = Object.keys(s.definitions).filter((d) => d.toLowerCase().endsWith(definitionName.toLowerCase()));
        const hint = near.length > 0 ? `; did you mean ${near.join(" or ")}?` : "";
        throw new Error(
            `spec-validator: no definition "${definitionName}" in ${path.basename(FLEET_SPEC_PATH)}${hint}`,
        );
    }
    const direction = options.direction ?? "request";
    const fn = validatorFor(`#/definitions/${definitionName}`, schema, direction);
    return fn(value) ? [] : formatErrors(fn.errors, value);
}

/** An `x-ms-examples` file: operation, request parameters and responses by status code. */
export interface SpecExample {
    readonly operationId: string;
    readonly parameters: Record<string, unknown>;
    readonly responses: Record<string, { readonly body?: unknown; readonly headers?: Record<string, unknown> }>;
}

/** Reads an example file from the spec's `examples/` folder. */
export function readExample(fileName: string): SpecExample {
    return JSON.parse(fs.readFileSync(path.join(FLEET_SPEC_DIR, "examples", fileName), "utf8")) as SpecExample;
}

/** The example files shipped next to the spec. */
export function exampleFiles(): string[] {
    return fs
        .readdirSync(path.join(FLEET_SPEC_DIR, "examples"))
        .filter((f) => f.endsWith(".json"))
        .sort();
}

/**
 * Validates an example against its operation: every declared parameter (body as a request, path and
 * query values against their constraints) and every response body against the declared schema.
 */
export function validateExample(example: SpecExample): string[] {
    const op = spec().operations.get(example.operationId);
    if (!op) return [`operation "${example.operationId}" is not in the spec`];
    const errors: string[] = [];
    for (const p of op.parameters ?? []) {
        const value = example.parameters[p.name];
        if (value === undefined) {
            if (p.required && p.in !== "header") errors.push(`parameters.${p.name}: required parameter is missing`);
            continue;
        }
        const schema = p.in === "body" ? p.schema : p;
        const fn = validatorFor(`${op.operationId}:${p.in}:${p.name}`, schema, "request");
        if (!fn(value)) errors.push(...formatErrors(fn.errors, value, `parameters.${p.name}`));
    }
    for (const [status, response] of Object.entries(example.responses)) {
        const declared = op.responses[status];
        if (!declared) {
            errors.push(`responses.${status}: status not declared by ${op.operationId}`);
            continue;
        }
        if (declared.schema === undefined) {
            if (response.body !== undefined) errors.push(`responses.${status}: body given but none declared`);
            continue;
        }
        const fn = validatorFor(`${op.operationId}:response:${status}`, declared.schema, "response");
        if (!fn(response.body)) errors.push(...formatErrors(fn.errors, response.body, `responses.${status}.body`));
    }
    return errors;
}

/** The inputs of `azure-native:resources:Resource` that address the resource; the others form its body. */
const ADDRESS_INPUTS = new Set([
    "resourceGroupName",
    "resourceProviderNamespace",
    "parentResourcePath",
    "resourceType",
    "resourceName",
    "apiVersion",
]);

/**
 * Validates the inputs of a generic `azure-native:resources:Resource` as the ARM PUT the provider
 * sends: its path (built from the addressing inputs) must be a PUT of the spec, `apiVersion` the
 * spec's version, every path segment within its parameter's constraints, and the body (every other
 * input: `properties`, `location`, `tags`, ...) valid against the operation's body schema. Errors
 * name the input field, e.g. `inputs.properties/strategy/stages/0/name: must match pattern ...`.
 */
export function validateGenericResource(inputs: Record<string, unknown>, subscriptionId: string): string[] {
    const s = spec();
    const parent = typeof inputs.parentResourcePath === "string" ? inputs.parentResourcePath : "";
    const concrete = [
        "subscriptions",
        subscriptionId,
        "resourceGroups",
        String(inputs.resourceGroupName),
        "providers",
        String(inputs.resourceProviderNamespace),
        ...parent.split("/").filter((x) => x !== ""),
        String(inputs.resourceType),
        String(inputs.resourceName),
    ];
    // The input each path segment comes from, by position.
    const fieldAt = (i: number) =>
        i === 1
            ? "the subscription"
            : i === 3
              ? "inputs.resourceGroupName"
              : i === concrete.length - 1
                ? "inputs.resourceName"
                : "inputs.parentResourcePath";
    let match: { operationId: string; values: Record<string, string>; fields: Record<string, string> } | undefined;
    for (const [template, operationId] of s.puts) {
        const parts = template.split("/").slice(1);
        if (parts.length !== concrete.length) continue;
        const values: Record<string, string> = {};
        const fields: Record<string, string> = {};
        const fits = parts.every((p, i) => {
            const param = /^\{(.+)\}$/.exec(p)?.[1];
            if (!param) return p.toLowerCase() === concrete[i]!.toLowerCase();
            values[param] = concrete[i]!;
            fields[param] = fieldAt(i);
            return concrete[i] !== "";
        });
        if (fits) match = { operationId, values, fields };
    }
    if (!match) {
        return [
            `inputs.resourceType: no PUT in ${path.basename(FLEET_SPEC_PATH)} for /${concrete.join("/")} (resourceProviderNamespace "${String(inputs.resourceProviderNamespace)}", parentResourcePath "${parent}", resourceType "${String(inputs.resourceType)}")`,
        ];
    }
    const errors: string[] = [];
    if (inputs.apiVersion !== s.version)
        errors.push(`inputs.apiVersion: ${show(inputs.apiVersion)} is not the spec's version "${s.version}"`);
    const body = Object.fromEntries(Object.entries(inputs).filter(([k]) => !ADDRESS_INPUTS.has(k)));
    const op = s.operations.get(match.operationId)!;
    const bodyName = (op.parameters ?? []).find((p) => p.in === "body")?.name ?? "resource";
    const example: SpecExample = {
        operationId: match.operationId,
        parameters: { ...match.values, "api-version": inputs.apiVersion, [bodyName]: body },
        responses: {},
    };
    // Errors are named by the input they come from (path parameters: also the spec's parameter name).
    const inputOf: Record<string, string> = { ...match.fields, "api-version": "inputs.apiVersion" };
    for (const e of validateExample(example)) {
        const m = /^parameters\.([^/:]+)(.*)$/.exec(e);
        if (m?.[1] === bodyName) errors.push(`inputs${m[2]!.startsWith(":") ? m[2] : `.${m[2]!.slice(1)}`}`);
        else if (m) errors.push(`${inputOf[m[1]!] ?? "inputs"} (${m[1]!})${m[2]}`);
        else errors.push(e);
    }
    return errors;
}
