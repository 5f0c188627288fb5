/**
 * Checks of an event subscription's filter before Azure sees it: each advanced filter's shape
 * (operator, key, values) and Event Grid's limits (`shared/reference/event-grid.md` §3: how many
 * filters and values, key depth, string lengths). Used when the program compiles filters, by the
 * policy pack, and when the evaluator prepares a filter. `event-filter.ts` re-exports all of it.
 */
import {
    ADVANCED_FILTER_OPERATORS,
    type AdvancedFilter,
    type EventSubscriptionFilter,
    NUMBER_COMPARE_OPERATORS,
    NUMBER_LIST_OPERATORS,
    NUMBER_RANGE_OPERATORS,
    STRING_OPERATORS,
    isOneOf,
} from "./event-filter-types";

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

export function describeFilter(i: number, f: { operatorType?: unknown; key?: unknown }): string {
    return `advancedFilters[${i}] (${String(f.operatorType)} ${JSON.stringify(f.key)})`;
}

/**
 * Shape errors: what ARM would reject as malformed, independent of the limits. `keySegments` adds the
 * empty-key/empty-segment checks (an evaluator can still resolve such keys: they just never match).
 */
export function shapeErrors(f: AdvancedFilter, i: number, keySegments: boolean): string[] {
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

export function assertWithinLimits(filter: EventSubscriptionFilter, what: string): EventSubscriptionFilter {
    const violations = filterLimitViolations(filter);
    if (violations.length > 0)
        throw new Error(`${what} compiles to a filter Event Grid rejects: ${violations.join("; ")}`);
    return filter;
}
