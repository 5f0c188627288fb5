/**
 * The shapes of an Event Grid event-subscription filter, mirroring the azure-native `filter` input
 * of `SystemTopicEventSubscription`: delivery schemas, JSON values, the advanced-filter operators
 * by family, and the filter itself. `event-filter.ts` re-exports all of it.
 */
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

/** A type guard: `s` is one of `list`. */
export const isOneOf = <T extends string>(list: readonly T[], s: string): s is T =>
    (list as readonly string[]).includes(s);
