/**
 * Event Grid event-subscription filters: one module for compiling approval rules into filters (the
 * program), checking them (the policy pack) and evaluating them exactly as Event Grid does (the
 * offline delivery emulator, the rehearsal). The semantics follow `shared/reference/event-grid.md`
 * §1–§3; where the reference marks a behaviour UNDOCUMENTED or INFERRED, the choice is commented.
 *
 * Evaluation is hot (events × subscriptions), so `prepareFilter` compiles a filter once: keys split,
 * filter strings lower-cased, operators turned into closures. `evaluateFilter` is the convenience form.
 */
import { createHash } from "node:crypto";
import { parseFleetId } from "./arm-id";
import type { ApprovalRule, GateTiming } from "./rules";

// ---------------------------------------------------------------------------------------------
// Types (mirror the azure-native `filter` input of SystemTopicEventSubscription)
// ---------------------------------------------------------------------------------------------

export type EventSchema = "EventGridSchema" | "CloudEventSchemaV1_0";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const NUMBER_COMPARE_OPERATORS = [
    "NumberGreaterThan",
    "NumberGreaterThanOrEquals",
    "NumberLessThan",
    "NumberLessThanOrEquals",
] as const;
export const NUMBER_LIST_OPERATORS = ["NumberIn", "NumberNotIn"] as const;
export const NUMBER_RANGE_OPERATORS = ["NumberInRange", "NumberNotInRange"] as const;
export const STRING_OPERATORS = [
    "StringIn",
    "StringNotIn",
    "StringBeginsWith",
    "StringNotBeginsWith",
    "StringEndsWith",
    "StringNotEndsWith",
    "StringContains",
    "StringNotContains",
] as const;
export const NULL_OPERATORS = ["IsNullOrUndefined", "IsNotNull"] as const;

export type NumberCompareOperator = (typeof NUMBER_COMPARE_OPERATORS)[number];
export type NumberListOperator = (typeof NUMBER_LIST_OPERATORS)[number];
export type NumberRangeOperator = (typeof NUMBER_RANGE_OPERATORS)[number];
export type StringOperator = (typeof STRING_OPERATORS)[number];
export type NullOperator = (typeof NULL_OPERATORS)[number];

/** All 19 operators of the API (2022-06-15 and later). */
export const ADVANCED_FILTER_OPERATORS = [
    "BoolEquals",
    ...NUMBER_COMPARE_OPERATORS,
    ...NUMBER_LIST_OPERATORS,
    ...NUMBER_RANGE_OPERATORS,
    ...STRING_OPERATORS,
    ...NULL_OPERATORS,
] as const;
export type AdvancedFilterOperator = (typeof ADVANCED_FILTER_OPERATORS)[number];

interface KeyedFilter<O extends AdvancedFilterOperator> {
    operatorType: O;
    /** `data.<path>` or an envelope name; `.` separates levels, no escaping exists. */
    key: string;
}
export interface BoolEqualsFilter extends KeyedFilter<"BoolEquals"> {
    value: boolean;
}
export interface NumberCompareFilter<O extends NumberCompareOperator = NumberCompareOperator> extends KeyedFilter<O> {
    value: number;
}
export interface NumberListFilter<O extends NumberListOperator = NumberListOperator> extends KeyedFilter<O> {
    values: number[];
}
/** Each range is `[low, high]`, both bounds inclusive. */
export interface NumberRangeFilter<O extends NumberRangeOperator = NumberRangeOperator> extends KeyedFilter<O> {
    values: number[][];
}
export interface StringFilter<O extends StringOperator = StringOperator> extends KeyedFilter<O> {
    values: string[];
}
export type NullFilter<O extends NullOperator = NullOperator> = KeyedFilter<O>;

/** One advanced filter, discriminated on `operatorType` (19 members). */
export type AdvancedFilter =
    | BoolEqualsFilter
    | { [O in NumberCompareOperator]: NumberCompareFilter<O> }[NumberCompareOperator]
    | { [O in NumberListOperator]: NumberListFilter<O> }[NumberListOperator]
    | { [O in NumberRangeOperator]: NumberRangeFilter<O> }[NumberRangeOperator]
    | { [O in StringOperator]: StringFilter<O> }[StringOperator]
    | { [O in NullOperator]: NullFilter<O> }[NullOperator];

export interface EventSubscriptionFilter {
    /** Absent (or `["All"]`) ⇒ every event type of the source. */
    includedEventTypes?: string[];
    subjectBeginsWith?: string;
    subjectEndsWith?: string;
    /** Applies to the subject filters only; default false. */
    isSubjectCaseSensitive?: boolean;
    enableAdvancedFilteringOnArrays?: boolean;
    /** AND of all entries. */
    advancedFilters?: AdvancedFilter[];
}

// ---------------------------------------------------------------------------------------------
// Fleet gate events
// ---------------------------------------------------------------------------------------------

/** Event types in the docs' spelling (`AKSResources`); payloads spell `AksResources` — compare ignoring case. */
export const FLEET_GATE_EVENT_TYPES = {
    created: "Microsoft.ResourceNotifications.AKSResources.FleetGateCreated",
    updated: "Microsoft.ResourceNotifications.AKSResources.FleetGateUpdated",
    deleted: "Microsoft.ResourceNotifications.AKSResources.FleetGateDeleted",
} as const;
export type GateEventKind = keyof typeof FLEET_GATE_EVENT_TYPES;

/** The two spellings of the type namespace seen in the wild: docs `AKSResources`, payloads `AksResources`. */
export const EVENT_TYPE_SPELLINGS = ["AKSResources", "AksResources"] as const;
export type EventTypeSpelling = (typeof EVENT_TYPE_SPELLINGS)[number];

/** The documented filter keys of gate events (azure-facts §5.1, event-grid.md §5.4). */
export const GATE_FILTER_KEYS = {
    resourceId: "data.resourceInfo.id",
    name: "data.resourceInfo.name",
    displayName: "data.resourceInfo.properties.displayName",
    gateType: "data.resourceInfo.properties.gateType",
    state: "data.resourceInfo.properties.state",
    targetId: "data.resourceInfo.properties.target.id",
    updateRunName: "data.resourceInfo.properties.target.updateRunProperties.name",
    stage: "data.resourceInfo.properties.target.updateRunProperties.stage",
    group: "data.resourceInfo.properties.target.updateRunProperties.group",
    timing: "data.resourceInfo.properties.target.updateRunProperties.timing",
} as const;

// ---------------------------------------------------------------------------------------------
// Limits (event-grid.md §3)
// ---------------------------------------------------------------------------------------------

export const EVENT_GRID_LIMITS = {
    advancedFilters: 25,
    /** Values summed over all advanced filters. */
    filterValues: 25,
    stringValueLength: 512,
} as const;

const OPERATOR_SET: ReadonlySet<string> = new Set(ADVANCED_FILTER_OPERATORS);
const isOneOf = <T extends string>(list: readonly T[], s: string): s is T => (list as readonly string[]).includes(s);

function describeFilter(i: number, f: { operatorType?: unknown; key?: unknown }): string {
    return `advancedFilters[${i}] (${String(f.operatorType)} ${JSON.stringify(f.key)})`;
}

/**
 * Shape errors: what ARM would reject as malformed, independent of the limits. `keySegments` adds the
 * empty-key/empty-segment checks (an evaluator can still resolve such keys: they just never match).
 */
function shapeErrors(f: AdvancedFilter, i: number, keySegments: boolean): string[] {
    const where = describeFilter(i, f);
    const out: string[] = [];
    const op: string = f.operatorType;
    if (!OPERATOR_SET.has(op)) return [`${where}: unknown operatorType`];
    const raw = f as unknown as Record<string, unknown>;
    if (typeof f.key !== "string") out.push(`${where}: key must be a string`);
    else if (keySegments && f.key.length === 0) out.push(`${where}: key is empty`);
    else if (keySegments && f.key.split(".").some((s) => s.length === 0))
        out.push(`${where}: key has an empty segment`);
    if (op === "BoolEquals") {
        if (typeof raw.value !== "boolean") out.push(`${where}: value must be a boolean`);
    } else if (isOneOf(NUMBER_COMPARE_OPERATORS, op)) {
        if (typeof raw.value !== "number" || !Number.isFinite(raw.value)) out.push(`${where}: value must be a number`);
    } else if (isOneOf(NUMBER_LIST_OPERATORS, op)) {
        if (!Array.isArray(raw.values) || raw.values.some((v) => typeof v !== "number" || !Number.isFinite(v)))
            out.push(`${where}: values must be numbers`);
    } else if (isOneOf(NUMBER_RANGE_OPERATORS, op)) {
        if (
            !Array.isArray(raw.values) ||
            raw.values.some(
                (r) =>
                    !Array.isArray(r) || r.length !== 2 || r.some((n) => typeof n !== "number" || !Number.isFinite(n)),
            )
        )
            out.push(`${where}: values must be [low, high] number pairs`);
    } else if (isOneOf(STRING_OPERATORS, op)) {
        if (!Array.isArray(raw.values) || raw.values.some((v) => typeof v !== "string"))
            out.push(`${where}: values must be strings`);
    }
    return out;
}

/** How many values a filter spends of the 25-value budget. UNDOCUMENTED for single values and ranges: 1 each. */
function valueCount(f: AdvancedFilter): number {
    if ("values" in f && Array.isArray(f.values)) return f.values.length;
    if ("value" in f) return 1;
    return 0;
}

/**
 * Everything Event Grid would reject about a filter: more than 25 advanced filters, more than 25
 * values summed, string values over 512 characters, empty keys or key segments, malformed values.
 * Empty list = acceptable.
 */
export function filterLimitViolations(filter: EventSubscriptionFilter): string[] {
    const out: string[] = [];
    const afs = filter.advancedFilters ?? [];
    if (afs.length > EVENT_GRID_LIMITS.advancedFilters)
        out.push(
            `advancedFilters: ${afs.length} filters, Event Grid allows at most ${EVENT_GRID_LIMITS.advancedFilters}`,
        );
    let values = 0;
    afs.forEach((f, i) => {
        out.push(...shapeErrors(f, i, true));
        values += valueCount(f);
        if (
            typeof f.operatorType === "string" &&
            f.operatorType.startsWith("String") &&
            "values" in f &&
            Array.isArray(f.values)
        ) {
            f.values.forEach((v, j) => {
                if (typeof v === "string" && v.length > EVENT_GRID_LIMITS.stringValueLength)
                    out.push(
                        `${describeFilter(i, f)}: values[${j}] is ${v.length} characters, Event Grid allows at most ${EVENT_GRID_LIMITS.stringValueLength}`,
                    );
            });
        }
    });
    if (values > EVENT_GRID_LIMITS.filterValues)
        out.push(
            `advancedFilters: ${values} values in total, Event Grid allows at most ${EVENT_GRID_LIMITS.filterValues}`,
        );
    return out;
}

function assertWithinLimits(filter: EventSubscriptionFilter, what: string): EventSubscriptionFilter {
    const violations = filterLimitViolations(filter);
    if (violations.length > 0)
        throw new Error(`${what} compiles to a filter Event Grid rejects: ${violations.join("; ")}`);
    return filter;
}

// ---------------------------------------------------------------------------------------------
// Compiling rules
// ---------------------------------------------------------------------------------------------

function checkedFleetId(fleetId: string, what: string): string {
    try {
        parseFleetId(fleetId);
    } catch (e) {
        throw new Error(`${what}: fleetId is not a fleet resource id: ${(e as Error).message}`);
    }
    return fleetId;
}

/**
 * The filter of a rule's event subscription: Created events of this fleet's Pending approval gates
 * whose coordinates equal the rule's `match` fields (StringIn: case-insensitive, a missing key never
 * matches — the semantics of `ruleMatchesGate`). Throws when Event Grid would reject the filter.
 */
export function compileRuleFilter(rule: ApprovalRule, fleetId: string): EventSubscriptionFilter {
    const what = `rule "${rule.name}"`;
    checkedFleetId(fleetId, what);
    const advancedFilters: AdvancedFilter[] = [
        { operatorType: "StringBeginsWith", key: GATE_FILTER_KEYS.targetId, values: [`${fleetId}/updateRuns/`] },
        { operatorType: "StringIn", key: GATE_FILTER_KEYS.gateType, values: ["Approval"] },
        { operatorType: "StringIn", key: GATE_FILTER_KEYS.state, values: ["Pending"] },
    ];
    const m = rule.match;
    if (m.displayName !== undefined)
        advancedFilters.push({ operatorType: "StringIn", key: GATE_FILTER_KEYS.displayName, values: [m.displayName] });
    if (m.stage !== undefined)
        advancedFilters.push({ operatorType: "StringIn", key: GATE_FILTER_KEYS.stage, values: [m.stage] });
    if (m.group !== undefined)
        advancedFilters.push({ operatorType: "StringIn", key: GATE_FILTER_KEYS.group, values: [m.group] });
    if (m.timing !== undefined)
        advancedFilters.push({ operatorType: "StringIn", key: GATE_FILTER_KEYS.timing, values: [m.timing] });
    return assertWithinLimits(
        {
            includedEventTypes: [FLEET_GATE_EVENT_TYPES.created],
            subjectBeginsWith: `${fleetId}/gates/`,
            advancedFilters,
        },
        what,
    );
}

/** The filter of the lifecycle subscription: Updated and Deleted events of every gate of this fleet. */
export function compileLifecycleFilter(fleetId: string): EventSubscriptionFilter {
    const what = "lifecycle subscription";
    checkedFleetId(fleetId, what);
    return assertWithinLimits(
        {
            includedEventTypes: [FLEET_GATE_EVENT_TYPES.updated, FLEET_GATE_EVENT_TYPES.deleted],
            subjectBeginsWith: `${fleetId}/gates/`,
            advancedFilters: [
                {
                    operatorType: "StringBeginsWith",
                    key: GATE_FILTER_KEYS.targetId,
                    values: [`${fleetId}/updateRuns/`],
                },
            ],
        },
        what,
    );
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/** Switches for behaviour the reference leaves undocumented (defaults = its recommended defaults). */
export interface EvaluateOptions {
    /** Compare `includedEventTypes` ignoring case (default true; event-grid.md §1.1). */
    readonly eventTypesCaseInsensitive?: boolean;
    /** Stringify number/boolean scalars for String* operators (default true; §2.4, UNDOCUMENTED). */
    readonly stringifyScalars?: boolean;
}

export interface FilterExplanation {
    readonly matched: boolean;
    /** The first failing clause, when not matched. */
    readonly reason?: string;
}

/** A compiled filter. `test` is the fast path; `explain` also names the first failing clause. */
export interface PreparedFilter {
    readonly filter: EventSubscriptionFilter;
    test(event: unknown, schema?: EventSchema): boolean;
    explain(event: unknown, schema?: EventSchema): FilterExplanation;
}

const MISSING: unique symbol = Symbol("missing");
type Resolved = unknown;
type Obj = Record<string, unknown>;
const hasOwn = Object.prototype.hasOwnProperty;

function isObject(v: unknown): v is Obj {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Property by exact name, else the first whose name equals it ignoring case; `undefined` counts as absent. */
function pick(obj: Obj, exact: string, lower: string): Resolved {
    if (hasOwn.call(obj, exact)) {
        const v = obj[exact];
        return v === undefined ? MISSING : v;
    }
    for (const k in obj) {
        if (hasOwn.call(obj, k) && k.toLowerCase() === lower) {
            const v = obj[k];
            return v === undefined ? MISSING : v;
        }
    }
    return MISSING;
}

/** `specversion` (any case) marks a CloudEvents 1.0 envelope; anything else is read as Event Grid schema. */
export function detectSchema(event: unknown): EventSchema {
    if (isObject(event)) {
        if (hasOwn.call(event, "specversion")) return "CloudEventSchemaV1_0";
        if (hasOwn.call(event, "eventType")) return "EventGridSchema";
        for (const k in event) if (k.toLowerCase() === "specversion") return "CloudEventSchemaV1_0";
    }
    return "EventGridSchema";
}

/**
 * Event Grid schema keys: `id`, `topic`, `subject`, `eventType`, `dataVersion`, `data.<path>` [S1].
 * `eventTime`/`metadataVersion` are not listed: UNDOCUMENTED whether they work; resolved as missing.
 */
const EG_ENVELOPE_KEYS: ReadonlyMap<string, string> = new Map([
    ["id", "id"],
    ["topic", "topic"],
    ["subject", "subject"],
    ["eventtype", "eventType"],
    ["dataversion", "dataVersion"],
    ["data", "data"],
]);

interface KeyResolver {
    (event: Obj, schema: EventSchema): Resolved;
}

/**
 * Key resolution: the envelope name ignoring case (UNDOCUMENTED; emulator default), then `data`
 * segments by exact name first, ignoring case as a fallback (UNDOCUMENTED; pm7y's behaviour).
 * CloudEvents: any top-level context attribute (`type`, `source`, `subject`, extensions...).
 * Arrays are never traversed (arrays of objects are not supported).
 */
function compileKey(key: string): KeyResolver {
    const segs = key.split(".");
    const head = segs[0] ?? "";
    const headLower = head.toLowerCase();
    const egHead = EG_ENVELOPE_KEYS.get(headLower);
    const rest = segs.slice(1);
    const restLower = rest.map((s) => s.toLowerCase());
    const n = rest.length;
    return (event, schema) => {
        let cur: Resolved;
        if (schema === "EventGridSchema") {
            if (egHead === undefined) return MISSING;
            cur = pick(event, egHead, headLower);
        } else {
            // CE attribute names are lower-case by spec; `specVersion`-style names are found by the fallback.
            cur = pick(event, headLower, headLower);
        }
        for (let i = 0; i < n; i++) {
            if (!isObject(cur)) return MISSING;
            cur = pick(cur, rest[i]!, restLower[i]!);
        }
        return cur;
    };
}

function show(v: unknown): string {
    if (v === MISSING) return "key is missing";
    if (v === null) return "value is null";
    const s = JSON.stringify(v) ?? String(v);
    return `value ${s.length > 200 ? `${s.slice(0, 200)}…` : s}`;
}

/** Operators whose result is `matched` when the key is missing (or null, or of another type) [S1]. */
const MISSING_MATCHES: ReadonlySet<string> = new Set([
    "NumberNotIn",
    "StringNotIn",
    // UNDOCUMENTED for NumberNotInRange: treated like NumberNotIn (what the pm7y simulator does).
    "NumberNotInRange",
]);

interface CompiledClause {
    test(event: Obj, schema: EventSchema): boolean;
    explain(event: Obj, schema: EventSchema): string;
}

const NOT_A_VALUE: unique symbol = Symbol("mismatch");
const NEGATED: ReadonlySet<string> = new Set([
    "NumberNotIn",
    "NumberNotInRange",
    "StringNotIn",
    "StringNotBeginsWith",
    "StringNotEndsWith",
    "StringNotContains",
]);

function compileAdvanced(
    f: AdvancedFilter,
    i: number,
    arrays: boolean,
    opts: Required<EvaluateOptions>,
): CompiledClause {
    const where = describeFilter(i, f);
    const resolve = compileKey(f.key);
    const op = f.operatorType;

    if (op === "IsNullOrUndefined" || op === "IsNotNull") {
        const wantNull = op === "IsNullOrUndefined";
        // INFERRED: an array (with or without the arrays flag) is a value: not null.
        const test = (e: Obj, s: EventSchema) => {
            const v = resolve(e, s);
            return (v === MISSING || v === null) === wantNull;
        };
        return { test, explain: (e, s) => `${where}: ${show(resolve(e, s))}` };
    }

    const negated = NEGATED.has(op);
    const missingResult = MISSING_MATCHES.has(op);
    // `accept` types a scalar (NOT_A_VALUE when it has another type); `hit` decides a typed scalar
    // against the OR of the filter's values.
    let accept: (v: unknown, element: boolean) => unknown;
    let hit: (x: unknown) => boolean;
    let expected: string;

    const acceptNumber = (v: unknown) => (typeof v === "number" ? v : NOT_A_VALUE);
    if (f.operatorType === "BoolEquals") {
        const want = f.value;
        accept = (v) => (typeof v === "boolean" ? v : NOT_A_VALUE);
        hit = (x) => x === want;
        expected = JSON.stringify(want);
    } else if (isOneOf(NUMBER_COMPARE_OPERATORS, op)) {
        const want = (f as NumberCompareFilter).value;
        const cmp: Record<NumberCompareOperator, (x: number) => boolean> = {
            NumberGreaterThan: (x) => x > want,
            NumberGreaterThanOrEquals: (x) => x >= want,
            NumberLessThan: (x) => x < want,
            NumberLessThanOrEquals: (x) => x <= want,
        };
        const c = cmp[op];
        accept = acceptNumber;
        hit = (x) => c(x as number);
        expected = String(want);
    } else if (isOneOf(NUMBER_LIST_OPERATORS, op)) {
        const set = new Set((f as NumberListFilter).values);
        accept = acceptNumber;
        hit = (x) => set.has(x as number);
        expected = JSON.stringify((f as NumberListFilter).values);
    } else if (isOneOf(NUMBER_RANGE_OPERATORS, op)) {
        // Bounds inclusive (doc pseudo-code).
        const ranges = (f as NumberRangeFilter).values.map((r) => [r[0]!, r[1]!] as const);
        accept = acceptNumber;
        hit = (x) => ranges.some(([lo, hi]) => lo <= (x as number) && (x as number) <= hi);
        expected = JSON.stringify((f as NumberRangeFilter).values);
    } else {
        // String operators ignore case, always [S1]; the filter's values are lower-cased once, here.
        const values = (f as StringFilter).values.map((v) => v.toLowerCase());
        const base = op.replace("Not", "") as "StringIn" | "StringBeginsWith" | "StringEndsWith" | "StringContains";
        const one: Record<typeof base, (x: string) => boolean> = {
            StringIn: (x) => values.includes(x),
            StringBeginsWith: (x) => values.some((v) => x.startsWith(v)),
            StringEndsWith: (x) => values.some((v) => x.endsWith(v)),
            StringContains: (x) => values.some((v) => x.includes(v)),
        };
        const h = one[base];
        accept = (v, element) => {
            if (typeof v === "string") return v.toLowerCase();
            // Array elements of another type are skipped [S1]. Scalars: UNDOCUMENTED; by default numbers
            // and booleans are compared in their string form (the doc's CloudEvents example does that).
            if (!element && opts.stringifyScalars && (typeof v === "number" || typeof v === "boolean"))
                return String(v).toLowerCase();
            return NOT_A_VALUE;
        };
        hit = (x) => h(x as string);
        expected = JSON.stringify((f as StringFilter).values);
    }

    const test = (e: Obj, s: EventSchema): boolean => {
        const v = resolve(e, s);
        // `null` for these operators: UNDOCUMENTED; treated like a missing key.
        if (v === MISSING || v === null) return missingResult;
        if (Array.isArray(v)) {
            // Without the flag an array never matches, also for negated operators (INFERRED) [S1][S2].
            if (!arrays) return false;
            let any = false;
            for (const el of v) {
                const x = accept(el, true);
                if (x !== NOT_A_VALUE && hit(x)) {
                    any = true;
                    break;
                }
            }
            return negated ? !any : any;
        }
        const x = accept(v, false);
        // A value of another type (or an object): positive ⇒ not matched; negated ⇒ the missing-key rule.
        if (x === NOT_A_VALUE) return negated ? missingResult : false;
        const h = hit(x);
        return negated ? !h : h;
    };
    const explain = (e: Obj, s: EventSchema): string => {
        const v = resolve(e, s);
        if (Array.isArray(v) && !arrays)
            return `${where}: ${show(v)} is an array and enableAdvancedFilteringOnArrays is off`;
        return `${where}: ${show(v)} does not satisfy ${op} ${expected}`;
    };
    return { test, explain };
}

function eventTypeOf(event: Obj, schema: EventSchema): unknown {
    return schema === "EventGridSchema" ? pick(event, "eventType", "eventtype") : pick(event, "type", "type");
}

/** Compiles a filter once for repeated evaluation. Throws on a malformed filter (unknown operator, bad values). */
export function prepareFilter(filter: EventSubscriptionFilter, options: EvaluateOptions = {}): PreparedFilter {
    const opts: Required<EvaluateOptions> = {
        eventTypesCaseInsensitive: options.eventTypesCaseInsensitive ?? true,
        stringifyScalars: options.stringifyScalars ?? true,
    };
    const malformed = (filter.advancedFilters ?? []).flatMap((f, i) => shapeErrors(f, i, false));
    if (malformed.length > 0) throw new Error(`malformed event subscription filter: ${malformed.join("; ")}`);

    const clauses: CompiledClause[] = [];

    // 1. includedEventTypes. Absent, `[]` (UNDOCUMENTED: read as absent) or the literal `All` ⇒ every type.
    const types = filter.includedEventTypes;
    if (types && types.length > 0 && !types.some((t) => t.toLowerCase() === "all")) {
        const ci = opts.eventTypesCaseInsensitive;
        const wanted = new Set(ci ? types.map((t) => t.toLowerCase()) : types);
        const test = (e: Obj, s: EventSchema) => {
            const t = eventTypeOf(e, s);
            return typeof t === "string" && wanted.has(ci ? t.toLowerCase() : t);
        };
        clauses.push({
            test,
            explain: (e, s) => {
                const t = eventTypeOf(e, s);
                return typeof t === "string"
                    ? `includedEventTypes: event type "${t}" is not in ${JSON.stringify(types)}`
                    : "includedEventTypes: the event has no type";
            },
        });
    }

    // 2. Subject prefix / suffix; an empty value matches everything [S9].
    const cs = filter.isSubjectCaseSensitive === true;
    const subjectOf = (e: Obj): unknown => pick(e, "subject", "subject");
    const subjectClause = (field: "subjectBeginsWith" | "subjectEndsWith"): void => {
        const raw = filter[field];
        if (!raw) return;
        const want = cs ? raw : raw.toLowerCase();
        const begins = field === "subjectBeginsWith";
        const test = (e: Obj) => {
            const s = subjectOf(e);
            if (typeof s !== "string") return false;
            const x = cs ? s : s.toLowerCase();
            return begins ? x.startsWith(want) : x.endsWith(want);
        };
        clauses.push({
            test,
            explain: (e) => {
                const s = subjectOf(e);
                const how = cs ? "case-sensitive" : "ignoring case";
                return typeof s === "string"
                    ? `${field}: subject "${s}" does not ${begins ? "begin" : "end"} with "${raw}" (${how})`
                    : `${field}: the event has no subject`;
            },
        });
    };
    subjectClause("subjectBeginsWith");
    subjectClause("subjectEndsWith");

    // 3. Advanced filters: each one an AND term.
    const arrays = filter.enableAdvancedFilteringOnArrays === true;
    (filter.advancedFilters ?? []).forEach((f, i) => clauses.push(compileAdvanced(f, i, arrays, opts)));

    const n = clauses.length;
    const schemaOf = (event: Obj, schema: EventSchema | undefined) => schema ?? detectSchema(event);
    return {
        filter,
        test(event, schema) {
            if (!isObject(event)) return false;
            const s = schemaOf(event, schema);
            for (let i = 0; i < n; i++) if (!clauses[i]!.test(event, s)) return false;
            return true;
        },
        explain(event, schema) {
            if (!isObject(event)) return { matched: false, reason: "event: not a JSON object" };
            const s = schemaOf(event, schema);
            for (const c of clauses) if (!c.test(event, s)) return { matched: false, reason: c.explain(event, s) };
            return { matched: true };
        },
    };
}

const preparedCache = new WeakMap<EventSubscriptionFilter, Map<string, PreparedFilter>>();

/**
 * `prepareFilter` memoised per filter object (and options): filters are treated as immutable once
 * evaluated. Code that edits a filter in place must call `prepareFilter` itself.
 */
function cachedPrepare(filter: EventSubscriptionFilter, options: EvaluateOptions = {}): PreparedFilter {
    let byOptions = preparedCache.get(filter);
    if (!byOptions) {
        byOptions = new Map();
        preparedCache.set(filter, byOptions);
    }
    const optionsKey = `${options.eventTypesCaseInsensitive ?? true}|${options.stringifyScalars ?? true}`;
    let p = byOptions.get(optionsKey);
    if (!p) {
        p = prepareFilter(filter, options);
        byOptions.set(optionsKey, p);
    }
    return p;
}

/**
 * True when Event Grid would deliver `event` to a subscription with `filter`. `schema` is the
 * envelope `event` is in (detected from `specversion` when omitted); keys resolve against it.
 * Compiled filters are cached per filter object: do not mutate a filter after evaluating it.
 */
export function evaluateFilter(
    filter: EventSubscriptionFilter,
    event: unknown,
    schema?: EventSchema,
    options?: EvaluateOptions,
): boolean {
    return cachedPrepare(filter, options).test(event, schema);
}

/** `evaluateFilter` plus the first failing clause, e.g. `advancedFilters[5] (StringIn "data...stage"): ...`. */
export function explainFilter(
    filter: EventSubscriptionFilter,
    event: unknown,
    schema?: EventSchema,
    options?: EvaluateOptions,
): FilterExplanation {
    return cachedPrepare(filter, options).explain(event, schema);
}

// ---------------------------------------------------------------------------------------------
// Synthesising gate events
// ---------------------------------------------------------------------------------------------

export interface GateEventSpec {
    /** `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/fleets/{fleet}`. */
    readonly fleetId: string;
    /** Lower-case GUID, as the service issues gate names. */
    readonly gateName: string;
    readonly updateRunName: string;
    readonly stage?: string;
    /** Group gates only. */
    readonly group?: string;
    readonly timing: GateTiming;
    readonly displayName?: string;
    /** Default `created`. */
    readonly kind?: GateEventKind;
    /** Default `Completed` for `updated`, else `Pending`. */
    readonly state?: "Pending" | "Completed";
    /** Default `Approval`. */
    readonly gateType?: string;
    /** Event id; default a GUID derived from the gate id and the kind (stable). */
    readonly id?: string;
    /** Envelope time, UTC ISO 8601 with `Z`; default `GATE_EVENT_DEFAULT_TIME` (pure: no clock). */
    readonly time?: string;
    /** `data.operationalInfo.resourceEventTime`; default `time` in `+00:00` form. */
    readonly resourceEventTime?: string;
    /** `data.apiVersion`; default `2026-06-01`. */
    readonly apiVersion?: string;
}

export interface GateEventOptions {
    /** Default `EventGridSchema`. */
    readonly schema?: EventSchema;
    /** Default `AksResources` (what payloads carry). */
    readonly spelling?: EventTypeSpelling;
}

export const GATE_EVENT_DEFAULT_TIME = "2026-01-01T00:00:00.0000000Z";
const GATE_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function stableEventId(...parts: string[]): string {
    const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The event type string in one spelling, e.g. `...AksResources.FleetGateCreated`. */
export function gateEventType(kind: GateEventKind, spelling: EventTypeSpelling = "AksResources"): string {
    return FLEET_GATE_EVENT_TYPES[kind].replace("AKSResources", spelling);
}

/**
 * The event Fleet publishes for a gate (FleetGateCreated unless `kind` says otherwise), shaped like
 * the published samples (`shared/fixtures/events/resolved/`), in either envelope and type spelling.
 */
export function gateEventFor(spec: GateEventSpec, options: GateEventOptions = {}): JsonObject {
    const fleet = parseFleetId(spec.fleetId);
    if (!GATE_NAME.test(spec.gateName))
        throw new Error(`gateEventFor: gateName "${spec.gateName}" is not a lower-case GUID`);
    const kind = spec.kind ?? "created";
    const schema = options.schema ?? "EventGridSchema";
    const gateId = `${spec.fleetId}/gates/${spec.gateName}`;
    const time = spec.time ?? GATE_EVENT_DEFAULT_TIME;
    const updateRunProperties: JsonObject = { name: spec.updateRunName };
    if (spec.group !== undefined) updateRunProperties.group = spec.group;
    if (spec.stage !== undefined) updateRunProperties.stage = spec.stage;
    updateRunProperties.timing = spec.timing;
    const properties: JsonObject = {};
    if (spec.displayName !== undefined) properties.displayName = spec.displayName;
    Object.assign(properties, {
        gateType: spec.gateType ?? "Approval",
        provisioningState: "Succeeded",
        state: spec.state ?? (kind === "updated" ? "Completed" : "Pending"),
        target: { id: `${spec.fleetId}/updateRuns/${spec.updateRunName}`, updateRunProperties },
    });
    const data: JsonObject = {
        resourceInfo: { id: gateId, name: spec.gateName, type: "Microsoft.ContainerService/fleets/gates", properties },
        operationalInfo: { resourceEventTime: spec.resourceEventTime ?? time.replace(/Z$/, "+00:00") },
        apiVersion: spec.apiVersion ?? "2026-06-01",
    };
    const id = spec.id ?? stableEventId(gateId.toLowerCase(), kind);
    const source = `/subscriptions/${fleet.subscriptionId}`;
    const type = gateEventType(kind, options.spelling);
    if (schema === "CloudEventSchemaV1_0") return { source, subject: gateId, type, time, id, data, specversion: "1.0" };
    return {
        id,
        topic: source,
        subject: gateId,
        data,
        eventType: type,
        dataVersion: "1",
        metadataVersion: "1",
        eventTime: time,
    };
}

export interface GateEventVariant {
    readonly schema: EventSchema;
    readonly spelling: EventTypeSpelling;
    readonly event: JsonObject;
}

/** The same gate event in both envelopes × both type spellings (four variants). */
export function gateEventVariants(spec: GateEventSpec): GateEventVariant[] {
    const schemas: EventSchema[] = ["EventGridSchema", "CloudEventSchemaV1_0"];
    return schemas.flatMap((schema) =>
        EVENT_TYPE_SPELLINGS.map((spelling) => ({ schema, spelling, event: gateEventFor(spec, { schema, spelling }) })),
    );
}
