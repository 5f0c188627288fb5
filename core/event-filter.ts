/**
 * Event Grid event-subscription filters: one module (with its parts `event-filter-types.ts`,
 * `event-filter-limits.ts` and `gate-event-shape.ts`, re-exported here) for compiling approval rules into filters (the
 * program), checking them (the policy pack) and evaluating them exactly as Event Grid does (the
 * offline delivery emulator, the rehearsal). The semantics follow `shared/reference/event-grid.md`
 * §1–§3; where the reference marks a behaviour UNDOCUMENTED or INFERRED, the choice is commented.
 *
 * Evaluation is hot (events × subscriptions), so `prepareFilter` compiles a filter once: keys split,
 * filter strings lower-cased, operators turned into closures. `evaluateFilter` is the convenience form.
 */
export * from "./event-filter-limits";
export * from "./event-filter-types";
export * from "./gate-event-shape";
import { parseFleetId } from "./arm-id";
import { assertWithinLimits, describeFilter, shapeErrors } from "./event-filter-limits";
import {
    type AdvancedFilter,
    type EventSchema,
    type EventSubscriptionFilter,
    NUMBER_COMPARE_OPERATORS,
    NUMBER_LIST_OPERATORS,
    NUMBER_RANGE_OPERATORS,
    type NumberCompareFilter,
    type NumberCompareOperator,
    type NumberListFilter,
    type NumberRangeFilter,
    type StringFilter,
    isOneOf,
} from "./event-filter-types";
import { FLEET_GATE_EVENT_TYPES, GATE_FILTER_KEYS } from "./gate-event-shape";
import type { ApprovalRule } from "./rules";

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
