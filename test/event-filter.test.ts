/**
 * Event Grid filtering as the service evaluates it (`shared/reference/event-grid.md`): the advanced
 * operators, key resolution, subject filters and limits, the rule and lifecycle filters compiled for a fleet,
 * and the published gate event samples, checked against `ruleMatchesGate` and a reference evaluator.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
    type AdvancedFilter,
    type EvaluateOptions,
    type EventSchema,
    type EventSubscriptionFilter,
    ADVANCED_FILTER_OPERATORS,
    EVENT_TYPE_SPELLINGS,
    FLEET_GATE_EVENT_TYPES,
    GATE_FILTER_KEYS,
    compileLifecycleFilter,
    compileRuleFilter,
    detectSchema,
    evaluateFilter,
    explainFilter,
    filterLimitViolations,
    gateEventFor,
    gateEventType,
    gateEventVariants,
    prepareFilter,
} from "../core/event-filter";
import { type ApprovalRule, type GateCoordinates, type RuleMatch, ruleMatchesGate } from "../core/rules";

const FIXTURES = join(__dirname, "../../shared/fixtures/events");
const fixture = (p: string): unknown => JSON.parse(readFileSync(join(FIXTURES, p), "utf8"));

const SUB = "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e";
const FLT_DEV = `/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`;
const FLT_DEMO = `/subscriptions/${SUB}/resourceGroups/sw-ms-demo-01/providers/Microsoft.ContainerService/fleets/flt-mgr-approvals-01`;

const CE_CREATED = fixture("resolved/cloudevents-schema-gate-created.json") as Record<string, unknown>;
const CE_UPDATED = fixture("resolved/cloudevents-schema-gate-updated.json") as Record<string, unknown>;
const CE_DELETED = fixture("resolved/cloudevents-schema-gate-deleted.json") as Record<string, unknown>;
const EG_CREATED = (fixture("resolved/eventgrid-schema-gate-created.json") as Record<string, unknown>[])[0]!;
const RAW_CE_CREATED = fixture("raw/cloudevents-schema-gate-created.json") as Record<string, unknown>;

function rule(name: string, match: RuleMatch): ApprovalRule {
    return { name, match, checks: [{ type: "clusterHealth" }] };
}

// ---------------------------------------------------------------------------------------------
// Operator table
// ---------------------------------------------------------------------------------------------

/** An Event Grid-schema event with data of every shape the operators care about. */
const EG_EVENT = {
    id: "evt-1",
    topic: "/subscriptions/s1",
    subject: "/blobServices/default/containers/Images/blobs/photo.JPG",
    eventType: "Contoso.Items.ItemReceived",
    eventTime: "2025-01-01T00:00:00Z",
    dataVersion: "1.0",
    metadataVersion: "1",
    data: {
        n: 5,
        zero: 0,
        s: "Hello World",
        s5: "5",
        empty: "",
        b: true,
        f: false,
        bs: "true",
        nul: null,
        obj: { inner: "v" },
        nums: [1, 2, 3],
        strs: ["Red", "green"],
        bools: [false, true],
        mixed: [1, "Two", true, null, { x: 1 }],
        none: [],
        objs: [{ a: 1 }],
        Key: "upper",
        key: "lower",
        "a.b": "dotted",
        $x: "dollar",
        l1: { l2: { l3: { l4: { l5: "deep" } } } },
    },
};

/** The same kind of event in CloudEvents 1.0, with extension attributes. */
const CE_EVENT = {
    specversion: "1.0",
    type: "Contoso.Items.ItemReceived",
    source: "/contoso/items",
    subject: "items/42",
    id: "ce-1",
    time: "2025-01-01T00:00:00Z",
    myext: 5,
    tenant: "Fabrikam",
    data: { s: "Hello World" },
};

type Row = [label: string, filter: AdvancedFilter, expected: boolean, arrays?: boolean];

const OPERATOR_ROWS: Row[] = [
    // NumberIn
    ["NumberIn hit", { operatorType: "NumberIn", key: "data.n", values: [4, 5] }, true],
    ["NumberIn miss", { operatorType: "NumberIn", key: "data.n", values: [4, 6] }, false],
    ["NumberIn zero", { operatorType: "NumberIn", key: "data.zero", values: [0] }, true],
    ["NumberIn missing key", { operatorType: "NumberIn", key: "data.absent", values: [5] }, false],
    ["NumberIn null value", { operatorType: "NumberIn", key: "data.nul", values: [5] }, false],
    ["NumberIn numeric string is not a number", { operatorType: "NumberIn", key: "data.s5", values: [5] }, false],
    ["NumberIn array, flag off", { operatorType: "NumberIn", key: "data.nums", values: [2] }, false],
    ["NumberIn array, flag on, hit", { operatorType: "NumberIn", key: "data.nums", values: [2] }, true, true],
    ["NumberIn array, flag on, miss", { operatorType: "NumberIn", key: "data.nums", values: [9] }, false, true],
    [
        "NumberIn mixed array skips other types",
        { operatorType: "NumberIn", key: "data.mixed", values: [1] },
        true,
        true,
    ],
    ["NumberIn empty array", { operatorType: "NumberIn", key: "data.none", values: [1] }, false, true],
    // NumberNotIn
    ["NumberNotIn hit", { operatorType: "NumberNotIn", key: "data.n", values: [4, 6] }, true],
    ["NumberNotIn miss", { operatorType: "NumberNotIn", key: "data.n", values: [4, 5] }, false],
    ["NumberNotIn missing key matches", { operatorType: "NumberNotIn", key: "data.absent", values: [5] }, true],
    ["NumberNotIn null matches", { operatorType: "NumberNotIn", key: "data.nul", values: [5] }, true],
    ["NumberNotIn string value: missing-key rule", { operatorType: "NumberNotIn", key: "data.s5", values: [5] }, true],
    ["NumberNotIn array, flag off", { operatorType: "NumberNotIn", key: "data.nums", values: [9] }, false],
    [
        "NumberNotIn array, flag on, none equal",
        { operatorType: "NumberNotIn", key: "data.nums", values: [9] },
        true,
        true,
    ],
    [
        "NumberNotIn array, flag on, one equal",
        { operatorType: "NumberNotIn", key: "data.nums", values: [3] },
        false,
        true,
    ],
    ["NumberNotIn empty array, flag on", { operatorType: "NumberNotIn", key: "data.none", values: [3] }, true, true],
    ["NumberNotIn mixed array", { operatorType: "NumberNotIn", key: "data.mixed", values: [1] }, false, true],
    // Single-value number comparisons
    ["NumberLessThan hit", { operatorType: "NumberLessThan", key: "data.n", value: 6 }, true],
    ["NumberLessThan equal", { operatorType: "NumberLessThan", key: "data.n", value: 5 }, false],
    ["NumberLessThan missing", { operatorType: "NumberLessThan", key: "data.absent", value: 6 }, false],
    ["NumberLessThan array any element", { operatorType: "NumberLessThan", key: "data.nums", value: 2 }, true, true],
    ["NumberLessThan array no element", { operatorType: "NumberLessThan", key: "data.nums", value: 1 }, false, true],
    ["NumberGreaterThan hit", { operatorType: "NumberGreaterThan", key: "data.n", value: 4 }, true],
    ["NumberGreaterThan equal", { operatorType: "NumberGreaterThan", key: "data.n", value: 5 }, false],
    [
        "NumberGreaterThan array any element",
        { operatorType: "NumberGreaterThan", key: "data.nums", value: 2 },
        true,
        true,
    ],
    ["NumberGreaterThan array, flag off", { operatorType: "NumberGreaterThan", key: "data.nums", value: 0 }, false],
    ["NumberLessThanOrEquals equal", { operatorType: "NumberLessThanOrEquals", key: "data.n", value: 5 }, true],
    ["NumberLessThanOrEquals miss", { operatorType: "NumberLessThanOrEquals", key: "data.n", value: 4 }, false],
    ["NumberGreaterThanOrEquals equal", { operatorType: "NumberGreaterThanOrEquals", key: "data.n", value: 5 }, true],
    ["NumberGreaterThanOrEquals miss", { operatorType: "NumberGreaterThanOrEquals", key: "data.n", value: 6 }, false],
    [
        "NumberGreaterThanOrEquals boolean value",
        { operatorType: "NumberGreaterThanOrEquals", key: "data.b", value: 0 },
        false,
    ],
    ["NumberGreaterThan string value", { operatorType: "NumberGreaterThan", key: "data.s5", value: 1 }, false],
    // Ranges (inclusive bounds)
    ["NumberInRange upper bound inclusive", { operatorType: "NumberInRange", key: "data.n", values: [[1, 5]] }, true],
    ["NumberInRange lower bound inclusive", { operatorType: "NumberInRange", key: "data.n", values: [[5, 9]] }, true],
    [
        "NumberInRange outside every range",
        {
            operatorType: "NumberInRange",
            key: "data.n",
            values: [
                [6, 9],
                [0, 4],
            ],
        },
        false,
    ],
    [
        "NumberInRange second range",
        {
            operatorType: "NumberInRange",
            key: "data.n",
            values: [
                [6, 9],
                [4, 5],
            ],
        },
        true,
    ],
    ["NumberInRange missing key", { operatorType: "NumberInRange", key: "data.absent", values: [[0, 9]] }, false],
    ["NumberInRange array, flag on", { operatorType: "NumberInRange", key: "data.nums", values: [[3, 4]] }, true, true],
    ["NumberInRange array, flag off", { operatorType: "NumberInRange", key: "data.nums", values: [[3, 4]] }, false],
    ["NumberNotInRange hit", { operatorType: "NumberNotInRange", key: "data.n", values: [[6, 9]] }, true],
    ["NumberNotInRange miss", { operatorType: "NumberNotInRange", key: "data.n", values: [[0, 5]] }, false],
    [
        "NumberNotInRange missing key (like NumberNotIn)",
        { operatorType: "NumberNotInRange", key: "data.absent", values: [[0, 5]] },
        true,
    ],
    [
        "NumberNotInRange array, one element in range",
        { operatorType: "NumberNotInRange", key: "data.nums", values: [[3, 4]] },
        false,
        true,
    ],
    [
        "NumberNotInRange array, none in range",
        { operatorType: "NumberNotInRange", key: "data.nums", values: [[7, 9]] },
        true,
        true,
    ],
    // BoolEquals
    ["BoolEquals true", { operatorType: "BoolEquals", key: "data.b", value: true }, true],
    ["BoolEquals false vs true", { operatorType: "BoolEquals", key: "data.b", value: false }, false],
    ["BoolEquals false value", { operatorType: "BoolEquals", key: "data.f", value: false }, true],
    ["BoolEquals missing", { operatorType: "BoolEquals", key: "data.absent", value: false }, false],
    ["BoolEquals string 'true' is not a boolean", { operatorType: "BoolEquals", key: "data.bs", value: true }, false],
    ["BoolEquals array, flag on", { operatorType: "BoolEquals", key: "data.bools", value: true }, true, true],
    ["BoolEquals array, flag off", { operatorType: "BoolEquals", key: "data.bools", value: true }, false],
    // StringIn
    ["StringIn ignores case", { operatorType: "StringIn", key: "data.s", values: ["hello world"] }, true],
    ["StringIn is whole-value", { operatorType: "StringIn", key: "data.s", values: ["Hello"] }, false],
    ["StringIn OR over values", { operatorType: "StringIn", key: "data.s", values: ["x", "HELLO WORLD"] }, true],
    ["StringIn missing key", { operatorType: "StringIn", key: "data.absent", values: ["x"] }, false],
    ["StringIn null value", { operatorType: "StringIn", key: "data.nul", values: ["null"] }, false],
    ["StringIn number stringified", { operatorType: "StringIn", key: "data.n", values: ["5"] }, true],
    ["StringIn boolean stringified", { operatorType: "StringIn", key: "data.b", values: ["TRUE"] }, true],
    ["StringIn object value", { operatorType: "StringIn", key: "data.obj", values: ["[object Object]"] }, false],
    ["StringIn empty string value", { operatorType: "StringIn", key: "data.empty", values: [""] }, true],
    ["StringIn array, flag on", { operatorType: "StringIn", key: "data.strs", values: ["RED"] }, true, true],
    ["StringIn array, flag off", { operatorType: "StringIn", key: "data.strs", values: ["red"] }, false],
    [
        "StringIn mixed array: string element",
        { operatorType: "StringIn", key: "data.mixed", values: ["two"] },
        true,
        true,
    ],
    [
        "StringIn mixed array: number element skipped",
        { operatorType: "StringIn", key: "data.mixed", values: ["1"] },
        false,
        true,
    ],
    // StringNotIn
    ["StringNotIn hit", { operatorType: "StringNotIn", key: "data.s", values: ["x"] }, true],
    [
        "StringNotIn miss ignoring case",
        { operatorType: "StringNotIn", key: "data.s", values: ["y", "HELLO WORLD"] },
        false,
    ],
    ["StringNotIn missing key matches", { operatorType: "StringNotIn", key: "data.absent", values: ["x"] }, true],
    ["StringNotIn null matches", { operatorType: "StringNotIn", key: "data.nul", values: ["x"] }, true],
    [
        "StringNotIn object value: missing-key rule",
        { operatorType: "StringNotIn", key: "data.obj", values: ["x"] },
        true,
    ],
    [
        "StringNotIn array, flag on, one equal",
        { operatorType: "StringNotIn", key: "data.strs", values: ["red"] },
        false,
        true,
    ],
    [
        "StringNotIn array, flag on, none equal",
        { operatorType: "StringNotIn", key: "data.strs", values: ["blue"] },
        true,
        true,
    ],
    ["StringNotIn array, flag off", { operatorType: "StringNotIn", key: "data.strs", values: ["blue"] }, false],
    [
        "StringNotIn empty array, flag on",
        { operatorType: "StringNotIn", key: "data.none", values: ["blue"] },
        true,
        true,
    ],
    // StringBeginsWith / StringNotBeginsWith
    ["StringBeginsWith hit", { operatorType: "StringBeginsWith", key: "data.s", values: ["hel"] }, true],
    ["StringBeginsWith miss", { operatorType: "StringBeginsWith", key: "data.s", values: ["world"] }, false],
    ["StringBeginsWith OR", { operatorType: "StringBeginsWith", key: "data.s", values: ["x", "HELLO "] }, true],
    ["StringBeginsWith missing", { operatorType: "StringBeginsWith", key: "data.absent", values: [""] }, false],
    ["StringBeginsWith number stringified", { operatorType: "StringBeginsWith", key: "data.n", values: ["5"] }, true],
    [
        "StringBeginsWith array, flag on",
        { operatorType: "StringBeginsWith", key: "data.strs", values: ["GR"] },
        true,
        true,
    ],
    ["StringNotBeginsWith hit", { operatorType: "StringNotBeginsWith", key: "data.s", values: ["world"] }, true],
    ["StringNotBeginsWith miss", { operatorType: "StringNotBeginsWith", key: "data.s", values: ["x", "HEL"] }, false],
    [
        "StringNotBeginsWith missing key does not match",
        { operatorType: "StringNotBeginsWith", key: "data.absent", values: ["x"] },
        false,
    ],
    [
        "StringNotBeginsWith null does not match",
        { operatorType: "StringNotBeginsWith", key: "data.nul", values: ["x"] },
        false,
    ],
    [
        "StringNotBeginsWith array, one element begins",
        { operatorType: "StringNotBeginsWith", key: "data.strs", values: ["gr"] },
        false,
        true,
    ],
    [
        "StringNotBeginsWith array, none begins",
        { operatorType: "StringNotBeginsWith", key: "data.strs", values: ["bl"] },
        true,
        true,
    ],
    // StringEndsWith / StringNotEndsWith
    ["StringEndsWith hit", { operatorType: "StringEndsWith", key: "data.s", values: ["WORLD"] }, true],
    ["StringEndsWith miss", { operatorType: "StringEndsWith", key: "data.s", values: ["hello"] }, false],
    [
        "StringEndsWith array, flag on",
        { operatorType: "StringEndsWith", key: "data.strs", values: ["EEN"] },
        true,
        true,
    ],
    ["StringNotEndsWith hit", { operatorType: "StringNotEndsWith", key: "data.s", values: ["hello"] }, true],
    ["StringNotEndsWith miss", { operatorType: "StringNotEndsWith", key: "data.s", values: ["rld"] }, false],
    [
        "StringNotEndsWith missing key does not match",
        { operatorType: "StringNotEndsWith", key: "data.absent", values: ["x"] },
        false,
    ],
    [
        "StringNotEndsWith array, one element ends",
        { operatorType: "StringNotEndsWith", key: "data.strs", values: ["ed"] },
        false,
        true,
    ],
    // StringContains / StringNotContains
    ["StringContains hit", { operatorType: "StringContains", key: "data.s", values: ["O W"] }, true],
    ["StringContains miss", { operatorType: "StringContains", key: "data.s", values: ["xyz"] }, false],
    ["StringContains missing", { operatorType: "StringContains", key: "data.absent", values: ["x"] }, false],
    ["StringContains array, flag on", { operatorType: "StringContains", key: "data.strs", values: ["RE"] }, true, true],
    ["StringNotContains hit", { operatorType: "StringNotContains", key: "data.s", values: ["xyz"] }, true],
    ["StringNotContains miss", { operatorType: "StringNotContains", key: "data.s", values: ["xyz", "lo w"] }, false],
    [
        "StringNotContains missing key does not match",
        { operatorType: "StringNotContains", key: "data.absent", values: ["x"] },
        false,
    ],
    [
        "StringNotContains object value: missing-key rule",
        { operatorType: "StringNotContains", key: "data.obj", values: ["x"] },
        false,
    ],
    [
        "StringNotContains array, none contains",
        { operatorType: "StringNotContains", key: "data.strs", values: ["blue"] },
        true,
        true,
    ],
    [
        "StringNotContains array, flag off",
        { operatorType: "StringNotContains", key: "data.strs", values: ["blue"] },
        false,
    ],
    // IsNullOrUndefined / IsNotNull
    ["IsNullOrUndefined missing", { operatorType: "IsNullOrUndefined", key: "data.absent" }, true],
    ["IsNullOrUndefined null", { operatorType: "IsNullOrUndefined", key: "data.nul" }, true],
    ["IsNullOrUndefined value", { operatorType: "IsNullOrUndefined", key: "data.s" }, false],
    ["IsNullOrUndefined empty string is a value", { operatorType: "IsNullOrUndefined", key: "data.empty" }, false],
    ["IsNullOrUndefined array", { operatorType: "IsNullOrUndefined", key: "data.nums" }, false],
    ["IsNullOrUndefined object", { operatorType: "IsNullOrUndefined", key: "data.obj" }, false],
    ["IsNotNull missing", { operatorType: "IsNotNull", key: "data.absent" }, false],
    ["IsNotNull null", { operatorType: "IsNotNull", key: "data.nul" }, false],
    ["IsNotNull zero", { operatorType: "IsNotNull", key: "data.zero" }, true],
    ["IsNotNull false", { operatorType: "IsNotNull", key: "data.f" }, true],
    ["IsNotNull array, flag off", { operatorType: "IsNotNull", key: "data.nums" }, true],
    ["IsNotNull empty array, flag on", { operatorType: "IsNotNull", key: "data.none" }, true, true],
];

describe("advanced filter operators (event-grid.md §2.4)", () => {
    it("covers all 19 operators", () => {
        expect(new Set(OPERATOR_ROWS.map(([, f]) => f.operatorType))).toEqual(new Set(ADVANCED_FILTER_OPERATORS));
        expect(ADVANCED_FILTER_OPERATORS).toHaveLength(19);
    });

    it.each(OPERATOR_ROWS)("%s", (_label, f, expected, arrays) => {
        const filter: EventSubscriptionFilter = { advancedFilters: [f], enableAdvancedFilteringOnArrays: arrays };
        expect(evaluateFilter(filter, EG_EVENT, "EventGridSchema")).toBe(expected);
        expect(prepareFilter(filter).test(EG_EVENT)).toBe(expected);
        expect(explainFilter(filter, EG_EVENT).matched).toBe(expected);
    });
});

describe("combining filters and values", () => {
    const rows: [string, AdvancedFilter[], boolean][] = [
        [
            "two filters on one key, both hold",
            [
                { operatorType: "StringBeginsWith", key: "data.s", values: ["hel"] },
                { operatorType: "StringEndsWith", key: "data.s", values: ["rld"] },
            ],
            true,
        ],
        [
            "two filters on one key, one fails",
            [
                { operatorType: "StringBeginsWith", key: "data.s", values: ["hel"] },
                { operatorType: "StringEndsWith", key: "data.s", values: ["xyz"] },
            ],
            false,
        ],
        [
            "filters on different keys",
            [
                { operatorType: "NumberIn", key: "data.n", values: [5] },
                { operatorType: "BoolEquals", key: "data.b", value: true },
                { operatorType: "IsNullOrUndefined", key: "data.absent" },
            ],
            true,
        ],
        [
            "negated operator with several values is AND over values",
            [{ operatorType: "StringNotContains", key: "data.s", values: ["xyz", "abc", "world"] }],
            false,
        ],
        ["no advanced filters", [], true],
    ];
    it.each(rows)("%s", (_l, advancedFilters, expected) => {
        expect(evaluateFilter({ advancedFilters }, EG_EVENT)).toBe(expected);
    });
});

describe("scalar type-mismatch flag", () => {
    const noStringify: EvaluateOptions = { stringifyScalars: false };
    it.each<[string, AdvancedFilter, boolean, boolean]>([
        ["StringIn on a number", { operatorType: "StringIn", key: "data.n", values: ["5"] }, true, false],
        [
            "StringBeginsWith on a boolean",
            { operatorType: "StringBeginsWith", key: "data.b", values: ["tr"] },
            true,
            false,
        ],
        [
            "StringNotIn on a number (missing-key rule when not stringified)",
            { operatorType: "StringNotIn", key: "data.n", values: ["5"] },
            false,
            true,
        ],
        [
            "StringNotContains on a number (missing-key rule when not stringified)",
            { operatorType: "StringNotContains", key: "data.n", values: ["x"] },
            true,
            false,
        ],
    ])("%s", (_l, f, withDefault, withoutStringify) => {
        expect(evaluateFilter({ advancedFilters: [f] }, EG_EVENT)).toBe(withDefault);
        expect(evaluateFilter({ advancedFilters: [f] }, EG_EVENT, undefined, noStringify)).toBe(withoutStringify);
    });
});

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

describe("key resolution (event-grid.md §2.3)", () => {
    const eg: [string, AdvancedFilter, boolean][] = [
        ["data head ignores case", { operatorType: "StringIn", key: "Data.s", values: ["hello world"] }, true],
        [
            "data segment falls back to case-insensitive",
            { operatorType: "StringIn", key: "data.S", values: ["hello world"] },
            true,
        ],
        [
            "exact segment wins over case-insensitive",
            { operatorType: "StringIn", key: "data.key", values: ["lower"] },
            true,
        ],
        ["exact segment wins (other case)", { operatorType: "StringIn", key: "data.Key", values: ["upper"] }, true],
        [
            "fallback picks the first case-insensitive match",
            { operatorType: "StringIn", key: "data.KEY", values: ["upper"] },
            true,
        ],
        ["no depth limit", { operatorType: "StringIn", key: "data.l1.l2.l3.l4.l5", values: ["DEEP"] }, true],
        ["arrays are not traversed", { operatorType: "IsNullOrUndefined", key: "data.objs.a" }, true],
        ["arrays of objects never match", { operatorType: "NumberIn", key: "data.objs.a", values: [1] }, false],
        ["scalars are not traversed", { operatorType: "IsNullOrUndefined", key: "data.s.length" }, true],
        ["dotted property names cannot be addressed", { operatorType: "IsNullOrUndefined", key: "data.a.b" }, true],
        ["$ has no special meaning", { operatorType: "StringIn", key: "data.$x", values: ["dollar"] }, true],
        ["$ prefix is not JSONPath", { operatorType: "IsNullOrUndefined", key: "$.data.s" }, true],
        ["data alone is a value", { operatorType: "IsNotNull", key: "data" }, true],
        ["data alone is not a string", { operatorType: "StringContains", key: "data", values: ["hello"] }, false],
        ["subject", { operatorType: "StringEndsWith", key: "subject", values: [".jpg"] }, true],
        [
            "Subject (envelope names ignore case)",
            { operatorType: "StringEndsWith", key: "Subject", values: [".jpg"] },
            true,
        ],
        ["eventType", { operatorType: "StringIn", key: "eventType", values: ["contoso.items.itemreceived"] }, true],
        ["EVENTTYPE", { operatorType: "StringIn", key: "EVENTTYPE", values: ["contoso.items.itemreceived"] }, true],
        ["id", { operatorType: "StringIn", key: "id", values: ["EVT-1"] }, true],
        ["topic", { operatorType: "StringBeginsWith", key: "topic", values: ["/subscriptions/"] }, true],
        ["dataVersion", { operatorType: "StringIn", key: "dataVersion", values: ["1.0"] }, true],
        ["eventTime is not a filter key", { operatorType: "IsNullOrUndefined", key: "eventTime" }, true],
        [
            "metadataVersion is not a filter key",
            { operatorType: "StringNotIn", key: "metadataVersion", values: ["1"] },
            true,
        ],
        ["CloudEvents 'type' is not an EG key", { operatorType: "IsNullOrUndefined", key: "type" }, true],
    ];
    it.each(eg)("Event Grid schema: %s", (_l, f, expected) => {
        expect(evaluateFilter({ advancedFilters: [f] }, EG_EVENT, "EventGridSchema")).toBe(expected);
    });

    const ce: [string, AdvancedFilter, boolean][] = [
        ["type", { operatorType: "StringIn", key: "type", values: ["CONTOSO.ITEMS.ITEMRECEIVED"] }, true],
        ["eventType is not a CloudEvents key", { operatorType: "IsNullOrUndefined", key: "eventType" }, true],
        ["source", { operatorType: "StringBeginsWith", key: "source", values: ["/contoso"] }, true],
        ["subject", { operatorType: "StringIn", key: "subject", values: ["items/42"] }, true],
        ["id", { operatorType: "StringIn", key: "id", values: ["ce-1"] }, true],
        ["specversion", { operatorType: "StringIn", key: "specversion", values: ["1.0"] }, true],
        ["time", { operatorType: "IsNotNull", key: "time" }, true],
        [
            "numeric extension attribute with StringBeginsWith (doc example)",
            { operatorType: "StringBeginsWith", key: "myext", values: ["5", "1"] },
            true,
        ],
        ["numeric extension attribute with NumberIn", { operatorType: "NumberIn", key: "myext", values: [5] }, true],
        [
            "extension attribute name ignores case",
            { operatorType: "StringIn", key: "Tenant", values: ["fabrikam"] },
            true,
        ],
        ["absent extension attribute", { operatorType: "IsNullOrUndefined", key: "other" }, true],
        ["data path", { operatorType: "StringContains", key: "data.s", values: ["world"] }, true],
    ];
    it.each(ce)("CloudEvents schema: %s", (_l, f, expected) => {
        expect(evaluateFilter({ advancedFilters: [f] }, CE_EVENT, "CloudEventSchemaV1_0")).toBe(expected);
        expect(evaluateFilter({ advancedFilters: [f] }, CE_EVENT)).toBe(expected); // schema detected
    });

    it("the schema argument decides which envelope names resolve", () => {
        const byType: EventSubscriptionFilter = { advancedFilters: [{ operatorType: "IsNotNull", key: "type" }] };
        expect(evaluateFilter(byType, CE_EVENT, "CloudEventSchemaV1_0")).toBe(true);
        expect(evaluateFilter(byType, CE_EVENT, "EventGridSchema")).toBe(false);
    });

    it.each<[string, unknown, EventSchema]>([
        ["specversion", CE_EVENT, "CloudEventSchemaV1_0"],
        ["specVersion as in the published samples", RAW_CE_CREATED, "CloudEventSchemaV1_0"],
        ["eventType", EG_EVENT, "EventGridSchema"],
        ["neither", { id: "x" }, "EventGridSchema"],
    ])("detectSchema: %s", (_l, event, schema) => {
        expect(detectSchema(event)).toBe(schema);
    });

    it("resolves specversion in the raw sample's specVersion spelling", () => {
        const f: EventSubscriptionFilter = {
            includedEventTypes: [FLEET_GATE_EVENT_TYPES.created],
            subjectEndsWith: "/gates/9i567df1-jh3a-281j-8eb8-123ac2el0t60",
            advancedFilters: [{ operatorType: "StringIn", key: "specversion", values: ["1.0"] }],
        };
        expect(explainFilter(f, RAW_CE_CREATED)).toEqual({ matched: true });
    });
});

// ---------------------------------------------------------------------------------------------
// Event types and subjects
// ---------------------------------------------------------------------------------------------

describe("includedEventTypes (event-grid.md §1.1)", () => {
    const created = FLEET_GATE_EVENT_TYPES.created;
    const rows: [string, string[] | undefined, unknown, boolean][] = [
        ["absent: every type", undefined, EG_EVENT, true],
        ["empty list: every type", [], EG_EVENT, true],
        ["literal All", ["All"], EG_EVENT, true],
        ["exact", ["Contoso.Items.ItemReceived"], EG_EVENT, true],
        ["ignores case", ["contoso.items.ITEMRECEIVED"], EG_EVENT, true],
        ["not in the list", ["Contoso.Items.ItemDeleted"], EG_EVENT, false],
        ["one of several", ["a.b", "Contoso.Items.ItemReceived"], EG_EVENT, true],
        ["CloudEvents type", ["Contoso.Items.ItemReceived"], CE_EVENT, true],
        ["docs spelling matches payload spelling (EG)", [created], EG_CREATED, true],
        ["docs spelling matches payload spelling (CE)", [created], CE_CREATED, true],
        ["event without a type", ["Contoso.Items.ItemReceived"], { subject: "x", data: {} }, false],
        ["EG event carrying only a CloudEvents 'type'", ["t"], { type: "t", subject: "s", id: "1" }, false],
    ];
    it.each(rows)("%s", (_l, includedEventTypes, event, expected) => {
        expect(evaluateFilter({ includedEventTypes }, event)).toBe(expected);
    });

    it("compares case-sensitively when the flag is off", () => {
        const f = { includedEventTypes: [FLEET_GATE_EVENT_TYPES.created] };
        expect(evaluateFilter(f, CE_CREATED, undefined, { eventTypesCaseInsensitive: false })).toBe(false);
        const payloadSpelling = { includedEventTypes: [gateEventType("created", "AksResources")] };
        expect(evaluateFilter(payloadSpelling, CE_CREATED, undefined, { eventTypesCaseInsensitive: false })).toBe(true);
    });
});

describe("subject filters (event-grid.md §1.2)", () => {
    type F = Pick<EventSubscriptionFilter, "subjectBeginsWith" | "subjectEndsWith" | "isSubjectCaseSensitive">;
    const rows: [string, F, unknown, boolean][] = [
        ["prefix ignoring case", { subjectBeginsWith: "/BLOBSERVICES/default" }, EG_EVENT, true],
        [
            "prefix, case-sensitive, other case",
            { subjectBeginsWith: "/BLOBSERVICES/", isSubjectCaseSensitive: true },
            EG_EVENT,
            false,
        ],
        [
            "prefix, case-sensitive, same case",
            { subjectBeginsWith: "/blobServices/", isSubjectCaseSensitive: true },
            EG_EVENT,
            true,
        ],
        ["prefix miss", { subjectBeginsWith: "/queues/" }, EG_EVENT, false],
        ["suffix ignoring case", { subjectEndsWith: ".jpg" }, EG_EVENT, true],
        ["suffix, case-sensitive", { subjectEndsWith: ".jpg", isSubjectCaseSensitive: true }, EG_EVENT, false],
        ["both must hold", { subjectBeginsWith: "/blobServices/", subjectEndsWith: ".png" }, EG_EVENT, false],
        ["both hold", { subjectBeginsWith: "/blobServices/", subjectEndsWith: ".JPG" }, EG_EVENT, true],
        ["empty values match everything", { subjectBeginsWith: "", subjectEndsWith: "" }, EG_EVENT, true],
        ["no wildcards", { subjectBeginsWith: "/blobServices/*" }, EG_EVENT, false],
        ["event without subject, prefix set", { subjectBeginsWith: "/" }, { id: "1", eventType: "t" }, false],
        ["event without subject, no subject filter", {}, { id: "1", eventType: "t" }, true],
        ["CloudEvents subject", { subjectBeginsWith: "ITEMS/" }, CE_EVENT, true],
    ];
    it.each(rows)("%s", (_l, f, event, expected) => {
        expect(evaluateFilter(f, event)).toBe(expected);
    });
});

describe("explainFilter", () => {
    const f: EventSubscriptionFilter = {
        includedEventTypes: ["Contoso.Items.ItemReceived"],
        subjectBeginsWith: "/blobServices/",
        advancedFilters: [
            { operatorType: "NumberIn", key: "data.n", values: [5] },
            { operatorType: "StringIn", key: "data.s", values: ["bye"] },
            { operatorType: "StringIn", key: "data.absent", values: ["x"] },
        ],
    };
    it("names the first failing clause", () => {
        expect(explainFilter(f, EG_EVENT)).toEqual({
            matched: false,
            reason: 'advancedFilters[1] (StringIn "data.s"): value "Hello World" does not satisfy StringIn ["bye"]',
        });
    });
    it.each<[string, EventSubscriptionFilter, unknown, string]>([
        [
            "event type",
            f,
            { ...EG_EVENT, eventType: "Other" },
            'includedEventTypes: event type "Other" is not in ["Contoso.Items.ItemReceived"]',
        ],
        [
            "subject",
            { subjectBeginsWith: "/q/" },
            EG_EVENT,
            'subjectBeginsWith: subject "/blobServices/default/containers/Images/blobs/photo.JPG" does not begin with "/q/" (ignoring case)',
        ],
        [
            "missing key",
            { advancedFilters: [{ operatorType: "StringIn", key: "data.absent", values: ["x"] }] },
            EG_EVENT,
            'advancedFilters[0] (StringIn "data.absent"): key is missing does not satisfy StringIn ["x"]',
        ],
        [
            "array without the flag",
            { advancedFilters: [{ operatorType: "NumberIn", key: "data.nums", values: [1] }] },
            EG_EVENT,
            'advancedFilters[0] (NumberIn "data.nums"): value [1,2,3] is an array and enableAdvancedFilteringOnArrays is off',
        ],
        ["not an object", {}, [EG_EVENT], "event: not a JSON object"],
    ])("reason: %s", (_l, filter, event, reason) => {
        expect(explainFilter(filter, event)).toEqual({ matched: false, reason });
    });
    it("reports a match without a reason", () => {
        expect(
            explainFilter({ advancedFilters: [{ operatorType: "NumberIn", key: "data.n", values: [5] }] }, EG_EVENT),
        ).toEqual({ matched: true });
    });
    it.each([null, "text", 42, [EG_EVENT]])("a non-object event (%j) never matches, even an empty filter", (event) => {
        expect(evaluateFilter({}, event)).toBe(false);
    });
});

describe("prepareFilter", () => {
    it.each<[string, unknown, string]>([
        ["unknown operator", { operatorType: "StringLike", key: "data.s", values: ["x"] }, "unknown operatorType"],
        [
            "malformed range",
            { operatorType: "NumberInRange", key: "data.n", values: [[1]] },
            "[low, high] number pairs",
        ],
        ["non-string values", { operatorType: "StringIn", key: "data.s", values: [1] }, "values must be strings"],
        ["missing single value", { operatorType: "NumberLessThan", key: "data.n" }, "value must be a number"],
        [
            "non-boolean BoolEquals",
            { operatorType: "BoolEquals", key: "data.b", value: "true" },
            "value must be a boolean",
        ],
        ["key not a string", { operatorType: "IsNotNull" }, "key must be a string"],
    ])("rejects a malformed filter: %s", (_l, f, message) => {
        expect(() => prepareFilter({ advancedFilters: [f as AdvancedFilter] })).toThrow(message);
    });

    it("returns a predicate equal to evaluateFilter on the fixtures", () => {
        const filters = [compileRuleFilter(rule("r", { stage: "stage-1" }), FLT_DEV), compileLifecycleFilter(FLT_DEV)];
        const events = [CE_CREATED, CE_UPDATED, CE_DELETED, EG_CREATED];
        const got = filters.map((f) => events.map((e) => prepareFilter(f).test(e)));
        expect(got).toEqual([
            [true, false, false, false],
            [false, true, true, false],
        ]);
        expect(filters.map((f) => events.map((e) => evaluateFilter(f, e)))).toEqual(got);
    });
});

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

describe("filterLimitViolations (event-grid.md §3)", () => {
    const notNull = (i: number): AdvancedFilter => ({ operatorType: "IsNotNull", key: `data.k${i}` });
    const stringIn = (i: number, n = 1): AdvancedFilter => ({
        operatorType: "StringIn",
        key: `data.k${i}`,
        values: Array.from({ length: n }, (_, j) => `v${j}`),
    });
    const rows: [string, AdvancedFilter[], string[]][] = [
        ["none", [], []],
        ["25 filters with 25 values", Array.from({ length: 25 }, (_, i) => stringIn(i)), []],
        [
            "26 filters",
            Array.from({ length: 26 }, (_, i) => notNull(i)),
            ["advancedFilters: 26 filters, Event Grid allows at most 25"],
        ],
        [
            "26 values summed",
            [
                stringIn(0, 13),
                { operatorType: "NumberIn", key: "data.n", values: Array.from({ length: 13 }, (_, i) => i) },
            ],
            ["advancedFilters: 26 values in total, Event Grid allows at most 25"],
        ],
        [
            "single values count 1 each",
            [
                ...Array.from({ length: 24 }, (_, i): AdvancedFilter => ({
                    operatorType: "NumberGreaterThan",
                    key: `data.k${i}`,
                    value: i,
                })),
                stringIn(99, 2),
            ],
            ["advancedFilters: 26 values in total, Event Grid allows at most 25"],
        ],
        [
            "ranges count 1 each",
            [
                {
                    operatorType: "NumberInRange",
                    key: "data.n",
                    values: Array.from({ length: 26 }, (_, i) => [i, i + 1]),
                },
            ],
            ["advancedFilters: 26 values in total, Event Grid allows at most 25"],
        ],
        ["IsNotNull spends no value", [...Array.from({ length: 24 }, (_, i) => notNull(i)), stringIn(99, 25)], []],
        ["512-character value", [{ operatorType: "StringIn", key: "data.s", values: ["x".repeat(512)] }], []],
        [
            "513-character value",
            [{ operatorType: "StringContains", key: "data.s", values: ["ok", "x".repeat(513)] }],
            [
                'advancedFilters[0] (StringContains "data.s"): values[1] is 513 characters, Event Grid allows at most 512',
            ],
        ],
        ["empty key", [{ operatorType: "IsNotNull", key: "" }], ['advancedFilters[0] (IsNotNull ""): key is empty']],
        [
            "empty middle segment",
            [{ operatorType: "IsNotNull", key: "data..x" }],
            ['advancedFilters[0] (IsNotNull "data..x"): key has an empty segment'],
        ],
        [
            "trailing dot",
            [{ operatorType: "IsNotNull", key: "data.x." }],
            ['advancedFilters[0] (IsNotNull "data.x."): key has an empty segment'],
        ],
        [
            "malformed range",
            [{ operatorType: "NumberNotInRange", key: "data.n", values: [[1, 2, 3]] }],
            ['advancedFilters[0] (NumberNotInRange "data.n"): values must be [low, high] number pairs'],
        ],
    ];
    it.each(rows)("%s", (_l, advancedFilters, expected) => {
        expect(filterLimitViolations({ advancedFilters })).toEqual(expected);
    });
});

// ---------------------------------------------------------------------------------------------
// Compiling rules
// ---------------------------------------------------------------------------------------------

describe("compileRuleFilter", () => {
    const base = (fleet: string): AdvancedFilter[] => [
        {
            operatorType: "StringBeginsWith",
            key: "data.resourceInfo.properties.target.id",
            values: [`${fleet}/updateRuns/`],
        },
        { operatorType: "StringIn", key: "data.resourceInfo.properties.gateType", values: ["Approval"] },
        { operatorType: "StringIn", key: "data.resourceInfo.properties.state", values: ["Pending"] },
    ];
    const rows: [string, RuleMatch, AdvancedFilter[]][] = [
        [
            "display name, stage and timing",
            { displayName: "Check with sales team", stage: "dev", timing: "Before" },
            [
                {
                    operatorType: "StringIn",
                    key: "data.resourceInfo.properties.displayName",
                    values: ["Check with sales team"],
                },
                {
                    operatorType: "StringIn",
                    key: "data.resourceInfo.properties.target.updateRunProperties.stage",
                    values: ["dev"],
                },
                {
                    operatorType: "StringIn",
                    key: "data.resourceInfo.properties.target.updateRunProperties.timing",
                    values: ["Before"],
                },
            ],
        ],
        [
            "group only",
            { group: "blue" },
            [
                {
                    operatorType: "StringIn",
                    key: "data.resourceInfo.properties.target.updateRunProperties.group",
                    values: ["blue"],
                },
            ],
        ],
        [
            "all four, in a fixed order",
            { timing: "After", group: "green", stage: "prod", displayName: "prod go" },
            [
                { operatorType: "StringIn", key: "data.resourceInfo.properties.displayName", values: ["prod go"] },
                {
                    operatorType: "StringIn",
                    key: "data.resourceInfo.properties.target.updateRunProperties.stage",
                    values: ["prod"],
                },
                {
                    operatorType: "StringIn",
                    key: "data.resourceInfo.properties.target.updateRunProperties.group",
                    values: ["green"],
                },
                {
                    operatorType: "StringIn",
                    key: "data.resourceInfo.properties.target.updateRunProperties.timing",
                    values: ["After"],
                },
            ],
        ],
    ];
    it.each(rows)("%s", (_l, match, extra) => {
        expect(compileRuleFilter(rule("r", match), FLT_DEV)).toStrictEqual({
            includedEventTypes: ["Microsoft.ResourceNotifications.AKSResources.FleetGateCreated"],
            subjectBeginsWith: `${FLT_DEV}/gates/`,
            advancedFilters: [...base(FLT_DEV), ...extra],
        });
    });

    it("uses the documented filter keys", () => {
        const keys = compileRuleFilter(
            rule("r", { displayName: "a", stage: "b", group: "c", timing: "After" }),
            FLT_DEV,
        ).advancedFilters!.map((f) => f.key);
        expect(keys).toEqual([
            GATE_FILTER_KEYS.targetId,
            GATE_FILTER_KEYS.gateType,
            GATE_FILTER_KEYS.state,
            GATE_FILTER_KEYS.displayName,
            GATE_FILTER_KEYS.stage,
            GATE_FILTER_KEYS.group,
            GATE_FILTER_KEYS.timing,
        ]);
    });

    it("throws naming the rule when a value exceeds Event Grid's limits", () => {
        expect(() => compileRuleFilter(rule("long-stage", { stage: "s".repeat(600) }), FLT_DEV)).toThrow(
            /rule "long-stage" compiles to a filter Event Grid rejects: .*values\[0\] is 600 characters, Event Grid allows at most 512/,
        );
    });

    it("throws when fleetId is not a fleet id", () => {
        const cluster = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks`;
        expect(() => compileRuleFilter(rule("r", { stage: "dev" }), cluster)).toThrow(
            /rule "r": fleetId is not a fleet resource id/,
        );
    });
});

describe("compileLifecycleFilter", () => {
    it("selects Updated and Deleted events of the fleet's gates", () => {
        expect(compileLifecycleFilter(FLT_DEV)).toStrictEqual({
            includedEventTypes: [
                "Microsoft.ResourceNotifications.AKSResources.FleetGateUpdated",
                "Microsoft.ResourceNotifications.AKSResources.FleetGateDeleted",
            ],
            subjectBeginsWith: `${FLT_DEV}/gates/`,
            advancedFilters: [
                {
                    operatorType: "StringBeginsWith",
                    key: "data.resourceInfo.properties.target.id",
                    values: [`${FLT_DEV}/updateRuns/`],
                },
            ],
        });
    });
});

// ---------------------------------------------------------------------------------------------
// Published fixtures
// ---------------------------------------------------------------------------------------------

describe("resolved fixtures", () => {
    const salesCheck = rule("sales-check", { displayName: "Check with sales team", timing: "Before" });

    it("the CloudEvents created event of flt-dev matches a rule for its gate", () => {
        const f = compileRuleFilter(
            rule("before-stage", { displayName: "Before-Stage", stage: "stage-1", timing: "Before" }),
            FLT_DEV,
        );
        expect(explainFilter(f, CE_CREATED, "CloudEventSchemaV1_0")).toEqual({ matched: true });
    });

    it("the CloudEvents created event of flt-dev does not match the sales-check rule (its gate is 'before-stage')", () => {
        expect(explainFilter(compileRuleFilter(salesCheck, FLT_DEV), CE_CREATED)).toEqual({
            matched: false,
            reason: 'advancedFilters[3] (StringIn "data.resourceInfo.properties.displayName"): value "before-stage" does not satisfy StringIn ["Check with sales team"]',
        });
    });

    it("the Event Grid-schema event is another fleet's: the flt-dev rule does not match it", () => {
        const r = explainFilter(compileRuleFilter(salesCheck, FLT_DEV), EG_CREATED, "EventGridSchema");
        expect(r.matched).toBe(false);
        expect(r.reason).toMatch(
            /^subjectBeginsWith: subject ".*\/fleets\/flt-mgr-approvals-01\/gates\/.*" does not begin with/,
        );
    });

    it("the same rule compiled for that other fleet matches the Event Grid-schema event", () => {
        expect(evaluateFilter(compileRuleFilter(salesCheck, FLT_DEMO), EG_CREATED)).toBe(true);
    });

    it("stage rules do not match group gates of another stage and vice versa", () => {
        expect(evaluateFilter(compileRuleFilter(rule("g", { group: "group-1" }), FLT_DEV), CE_CREATED)).toBe(false);
    });

    it.each<[string, Record<string, unknown>, boolean, boolean]>([
        ["created", CE_CREATED, true, false],
        ["updated (Completed)", CE_UPDATED, false, true],
        ["deleted (still Pending)", CE_DELETED, false, true],
        ["created, other fleet", EG_CREATED, false, false],
    ])("%s: rule filter %s, lifecycle filter %s", (_l, event, ruleMatch, lifecycleMatch) => {
        const anyGate = compileRuleFilter(rule("any", { timing: "Before" }), FLT_DEV);
        const anyAfter = compileRuleFilter(rule("after", { timing: "After" }), FLT_DEV);
        expect(evaluateFilter(anyGate, event) || evaluateFilter(anyAfter, event)).toBe(ruleMatch);
        expect(evaluateFilter(compileLifecycleFilter(FLT_DEV), event)).toBe(lifecycleMatch);
    });
});

// ---------------------------------------------------------------------------------------------
// Synthesised gate events
// ---------------------------------------------------------------------------------------------

describe("gateEventFor", () => {
    it("reproduces the resolved Event Grid-schema fixture", () => {
        const e = gateEventFor(
            {
                fleetId: FLT_DEMO,
                gateName: "1eb18051-fff5-4c09-a15f-9eebd2e3b906",
                updateRunName: "test-01",
                stage: "chinanorth-development",
                timing: "Before",
                displayName: "Check with sales team",
                id: "1b6e818e-5ec3-4c22-9e9c-03c1fd05ac21",
                time: "2025-09-23T02:50:21.2604165Z",
                apiVersion: "2025-04-01-preview",
            },
            { schema: "EventGridSchema", spelling: "AksResources" },
        );
        expect(e).toStrictEqual(EG_CREATED);
    });

    it("reproduces the resolved CloudEvents created fixture", () => {
        const e = gateEventFor(
            {
                fleetId: FLT_DEV,
                gateName: "cc0ec874-911f-5828-843f-e902faa93d85",
                updateRunName: "run-1",
                stage: "stage-1",
                timing: "Before",
                displayName: "before-stage",
                id: "fc23ccda-34fc-586c-9d9d-449b9fd62204",
                time: "2025-09-09T01:10:58.4955907Z",
                resourceEventTime: "2025-09-08T18:10:58.4955907-07:00",
                apiVersion: "2025-04-01-preview",
            },
            { schema: "CloudEventSchemaV1_0" },
        );
        expect(e).toStrictEqual(CE_CREATED);
    });

    it("reproduces the resolved CloudEvents updated fixture (group gate, Completed)", () => {
        const e = gateEventFor(
            {
                fleetId: FLT_DEV,
                gateName: "3efba756-84dc-54c5-af0e-c6dd7e300322",
                updateRunName: "run-1",
                stage: "stage-1",
                group: "group-1",
                timing: "Before",
                displayName: "before group",
                kind: "updated",
                id: "8ed7dc50-923c-50a8-821c-8e7beb86365d",
                time: "2025-09-09T01:12:25.8924289Z",
                resourceEventTime: "2025-09-08T18:12:25.8924289-07:00",
                apiVersion: "2025-04-01-preview",
            },
            { schema: "CloudEventSchemaV1_0" },
        );
        expect(e).toStrictEqual(CE_UPDATED);
    });

    const spec = {
        fleetId: FLT_DEV,
        gateName: "0f6c1f0e-2a4b-4c3d-9e8f-1a2b3c4d5e6f",
        updateRunName: "run-7",
        stage: "dev",
        timing: "After" as const,
    };

    it("defaults: Created, Pending, Approval, payload spelling, stable id, fixed time", () => {
        const e = gateEventFor(spec);
        expect(e.eventType).toBe("Microsoft.ResourceNotifications.AksResources.FleetGateCreated");
        expect(e.eventTime).toBe("2026-01-01T00:00:00.0000000Z");
        expect(e.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(gateEventFor(spec).id).toBe(e.id);
        expect(gateEventFor({ ...spec, kind: "deleted" }).id).not.toBe(e.id);
        const props = (e.data as { resourceInfo: { properties: Record<string, unknown> } }).resourceInfo.properties;
        expect(props).toStrictEqual({
            gateType: "Approval",
            provisioningState: "Succeeded",
            state: "Pending",
            target: {
                id: `${FLT_DEV}/updateRuns/run-7`,
                updateRunProperties: { name: "run-7", stage: "dev", timing: "After" },
            },
        });
    });

    it.each<[string, "AKSResources" | "AksResources", EventSchema, string, string]>([
        [
            "docs spelling, EG",
            "AKSResources",
            "EventGridSchema",
            "eventType",
            "Microsoft.ResourceNotifications.AKSResources.FleetGateCreated",
        ],
        [
            "payload spelling, CE",
            "AksResources",
            "CloudEventSchemaV1_0",
            "type",
            "Microsoft.ResourceNotifications.AksResources.FleetGateCreated",
        ],
    ])("%s", (_l, spelling, schema, field, type) => {
        expect(gateEventFor(spec, { schema, spelling })[field]).toBe(type);
    });

    it("gateEventVariants gives both envelopes in both spellings", () => {
        const v = gateEventVariants(spec);
        expect(v.map((x) => [x.schema, x.spelling, detectSchema(x.event)])).toEqual([
            ["EventGridSchema", "AKSResources", "EventGridSchema"],
            ["EventGridSchema", "AksResources", "EventGridSchema"],
            ["CloudEventSchemaV1_0", "AKSResources", "CloudEventSchemaV1_0"],
            ["CloudEventSchemaV1_0", "AksResources", "CloudEventSchemaV1_0"],
        ]);
    });

    it.each([
        [
            "upper-case GUID",
            { ...spec, gateName: "0F6C1F0E-2A4B-4C3D-9E8F-1A2B3C4D5E6F" },
            /gateName .* is not a lower-case GUID/,
        ],
        ["not a GUID", { ...spec, gateName: "9i567df1-jh3a-281j-8eb8-123ac2el0t60" }, /is not a lower-case GUID/],
        ["not a fleet id", { ...spec, fleetId: "/subscriptions/x" }, /invalid ARM id/],
    ])("rejects %s", (_l, s, message) => {
        expect(() => gateEventFor(s)).toThrow(message);
    });
});

// ---------------------------------------------------------------------------------------------
// Property: the compiled filter and ruleMatchesGate agree
// ---------------------------------------------------------------------------------------------

describe("compiled rule filters agree with ruleMatchesGate", () => {
    const FLEETS = [FLT_DEV, FLT_DEMO, `${FLT_DEV}2`];
    const pool = (...words: string[]) =>
        fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom(...words) },
            { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
        );
    const recase = (arb: fc.Arbitrary<string>) =>
        fc
            .tuple(arb, fc.constantFrom<"same" | "upper" | "lower">("same", "upper", "lower"))
            .map(([s, how]) => (how === "upper" ? s.toUpperCase() : how === "lower" ? s.toLowerCase() : s));
    const displayName = recase(pool("Check with sales team", "blue healthy", "prod go"));
    const stage = recase(pool("dev", "prod", "Stage-1"));
    const group = recase(pool("blue", "green"));
    const timing = fc.constantFrom<"Before" | "After">("Before", "After");
    const gate: fc.Arbitrary<GateCoordinates> = fc.record(
        { displayName, stage, group, timing },
        { requiredKeys: ["timing"] },
    );
    const match: fc.Arbitrary<RuleMatch> = fc
        .record({ displayName, stage, group, timing }, { requiredKeys: [] })
        .filter((m) => Object.keys(m).length > 0);
    const gateName = fc.uuid().map((u) => u.toLowerCase());

    it("in both envelopes and both type spellings", () => {
        fc.assert(
            fc.property(
                gate,
                match,
                gateName,
                fc.constantFrom(...FLEETS),
                fc.constantFrom(...FLEETS),
                (g, m, name, gateFleet, ruleFleet) => {
                    const filter = prepareFilter(compileRuleFilter(rule("r", m), ruleFleet));
                    const expected = gateFleet === ruleFleet && ruleMatchesGate(m, g);
                    for (const v of gateEventVariants({
                        fleetId: gateFleet,
                        gateName: name,
                        updateRunName: "run-1",
                        ...g,
                    })) {
                        expect(filter.test(v.event, v.schema)).toBe(expected);
                        expect(evaluateFilter(compileRuleFilter(rule("r", m), ruleFleet), v.event)).toBe(expected);
                    }
                },
            ),
            { numRuns: 500 },
        );
    });

    it("never for Completed gates, non-approval gates or lifecycle events; lifecycle filter takes exactly those", () => {
        fc.assert(
            fc.property(
                gate,
                match,
                gateName,
                fc.constantFrom<"created" | "updated" | "deleted">("created", "updated", "deleted"),
                fc.constantFrom<"Pending" | "Completed">("Pending", "Completed"),
                fc.constantFrom(...EVENT_TYPE_SPELLINGS),
                (g, m, name, kind, state, spelling) => {
                    const spec = { fleetId: FLT_DEV, gateName: name, updateRunName: "r", kind, state, ...g };
                    const ruleFilter = compileRuleFilter(rule("r", m), FLT_DEV);
                    for (const schema of ["EventGridSchema", "CloudEventSchemaV1_0"] as const) {
                        const e = gateEventFor(spec, { schema, spelling });
                        const expected = kind === "created" && state === "Pending" && ruleMatchesGate(m, g);
                        expect(evaluateFilter(ruleFilter, e)).toBe(expected);
                        expect(
                            evaluateFilter(
                                ruleFilter,
                                gateEventFor({ ...spec, gateType: "Other" }, { schema, spelling }),
                            ),
                        ).toBe(false);
                        expect(evaluateFilter(compileLifecycleFilter(FLT_DEV), e)).toBe(kind !== "created");
                    }
                },
            ),
            { numRuns: 300 },
        );
    });
});

// ---------------------------------------------------------------------------------------------
// Every operator × every edge the reference's table names (§2.4)
// ---------------------------------------------------------------------------------------------

describe("edge matrix: each operator on a missing key, null, arrays and objects (event-grid.md §2.4)", () => {
    /** One filter per operator, with values any real key here would never satisfy by accident. */
    const filterFor = (operatorType: (typeof ADVANCED_FILTER_OPERATORS)[number], key: string): AdvancedFilter => {
        switch (operatorType) {
            case "BoolEquals":
                return { operatorType, key, value: true };
            case "NumberGreaterThan":
            case "NumberGreaterThanOrEquals":
            case "NumberLessThan":
            case "NumberLessThanOrEquals":
                return { operatorType, key, value: 1 };
            case "NumberIn":
            case "NumberNotIn":
                return { operatorType, key, values: [1] };
            case "NumberInRange":
            case "NumberNotInRange":
                return { operatorType, key, values: [[0, 10]] };
            case "IsNullOrUndefined":
            case "IsNotNull":
                return { operatorType, key };
            default:
                return { operatorType, key, values: ["a"] };
        }
    };
    // Columns: key missing [S1 "Key missing"]; JSON null (UNDOCUMENTED: like missing); an array with
    // the flag off (never matches, INFERRED for negated); an empty array and an array of objects with
    // the flag on (no element of the operator's type: positive false, negated true); an object value
    // (another type: positive false, negated → the missing-key rule).
    type Cells = [
        missing: boolean,
        nul: boolean,
        arrayOff: boolean,
        emptyOn: boolean,
        objectsOn: boolean,
        object: boolean,
    ];
    const T = true;
    const F = false;
    const MATRIX: Record<(typeof ADVANCED_FILTER_OPERATORS)[number], Cells> = {
        NumberIn: [F, F, F, F, F, F],
        NumberNotIn: [T, T, F, T, T, T],
        NumberLessThan: [F, F, F, F, F, F],
        NumberGreaterThan: [F, F, F, F, F, F],
        NumberLessThanOrEquals: [F, F, F, F, F, F],
        NumberGreaterThanOrEquals: [F, F, F, F, F, F],
        NumberInRange: [F, F, F, F, F, F],
        NumberNotInRange: [T, T, F, T, T, T],
        BoolEquals: [F, F, F, F, F, F],
        StringIn: [F, F, F, F, F, F],
        StringNotIn: [T, T, F, T, T, T],
        StringBeginsWith: [F, F, F, F, F, F],
        StringNotBeginsWith: [F, F, F, T, T, F],
        StringEndsWith: [F, F, F, F, F, F],
        StringNotEndsWith: [F, F, F, T, T, F],
        StringContains: [F, F, F, F, F, F],
        StringNotContains: [F, F, F, T, T, F],
        IsNullOrUndefined: [T, T, F, F, F, F],
        IsNotNull: [F, F, T, T, T, T],
    };
    const columns: [string, string, boolean][] = [
        ["key missing", "data.absent", false],
        ["null", "data.nul", false],
        ["array, flag off", "data.nums", false],
        ["empty array, flag on", "data.none", true],
        ["array of objects, flag on", "data.objs", true],
        ["object value", "data.obj", false],
    ];

    it("has a row for each of the 19 operators", () => {
        expect(Object.keys(MATRIX).sort()).toEqual([...ADVANCED_FILTER_OPERATORS].sort());
    });

    it.each(
        ADVANCED_FILTER_OPERATORS.flatMap((op) =>
            columns.map((c, i) => [op, c[0], c[1], c[2], MATRIX[op][i]!] as const),
        ),
    )("%s on %s", (op, _label, key, arrays, expected) => {
        const filter: EventSubscriptionFilter = {
            advancedFilters: [filterFor(op, key)],
            enableAdvancedFilteringOnArrays: arrays,
        };
        expect(evaluateFilter(filter, EG_EVENT, "EventGridSchema")).toBe(expected);
        expect(explainFilter(filter, EG_EVENT, "EventGridSchema").matched).toBe(expected);
        // The same data in a CloudEvents envelope resolves the same way.
        expect(evaluateFilter(filter, { ...CE_EVENT, data: EG_EVENT.data }, "CloudEventSchemaV1_0")).toBe(expected);
    });
});

// ---------------------------------------------------------------------------------------------
// Differential: the evaluator against the reference's own sketch (§2.5), on generated input
// ---------------------------------------------------------------------------------------------

describe("the evaluator agrees with the reference's evaluator sketch (event-grid.md §2.5)", () => {
    type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
    const NEG = new Set([
        "NumberNotIn",
        "NumberNotInRange",
        "StringNotIn",
        "StringNotBeginsWith",
        "StringNotEndsWith",
        "StringNotContains",
    ]);
    const MISSING_MATCHES = new Set(["NumberNotIn", "StringNotIn", "NumberNotInRange"]);

    /** The sketch's `resolve`: envelope name ignoring case, data segments exact then ignoring case. */
    function resolve(event: Record<string, Json>, key: string): { found: boolean; v?: Json } {
        const [head, ...rest] = key.split(".");
        const pick = (o: Record<string, Json>, k: string): Json | undefined =>
            k in o ? o[k] : Object.entries(o).find(([x]) => x.toLowerCase() === k.toLowerCase())?.[1];
        let cur: Json | undefined = head!.toLowerCase() === "data" ? event.data : undefined;
        for (const seg of rest) {
            if (cur === null || cur === undefined || typeof cur !== "object" || Array.isArray(cur))
                return { found: false };
            cur = pick(cur, seg);
        }
        return cur === undefined ? { found: false } : { found: true, v: cur };
    }

    /** One typed value against the OR of the filter's values (table notes: strings ignore case, scalars stringified). */
    function positiveHit(f: AdvancedFilter, x: Json, element: boolean): boolean | undefined {
        const op = f.operatorType;
        const raw = f as unknown as { value?: unknown; values?: unknown[] };
        if (op === "BoolEquals") return typeof x === "boolean" ? x === raw.value : undefined;
        if (op.startsWith("Number")) {
            if (typeof x !== "number") return undefined;
            if (typeof raw.value === "number") {
                if (op === "NumberLessThan") return x < raw.value;
                if (op === "NumberGreaterThan") return x > raw.value;
                if (op === "NumberLessThanOrEquals") return x <= raw.value;
                return x >= raw.value;
            }
            if (op.endsWith("Range")) return (raw.values as number[][]).some(([lo, hi]) => lo! <= x && x <= hi!);
            return (raw.values as number[]).includes(x);
        }
        let s: string;
        if (typeof x === "string") s = x.toLowerCase();
        else if (!element && (typeof x === "number" || typeof x === "boolean")) s = String(x).toLowerCase();
        else return undefined;
        const vs = (raw.values as string[]).map((v) => v.toLowerCase());
        const base = op.replace("Not", "");
        if (base === "StringIn") return vs.includes(s);
        if (base === "StringBeginsWith") return vs.some((v) => s.startsWith(v));
        if (base === "StringEndsWith") return vs.some((v) => s.endsWith(v));
        return vs.some((v) => s.includes(v));
    }

    function sketch(f: AdvancedFilter, event: Record<string, Json>, arrays: boolean): boolean {
        const { found, v } = resolve(event, f.key);
        if (f.operatorType === "IsNullOrUndefined") return !found || v === null;
        if (f.operatorType === "IsNotNull") return found && v !== null;
        if (!found || v === null || v === undefined) return MISSING_MATCHES.has(f.operatorType);
        const neg = NEG.has(f.operatorType);
        if (Array.isArray(v)) {
            if (!arrays) return false;
            const hits = v.some((el) => positiveHit(f, el, true) === true);
            return neg ? !hits : hits;
        }
        const hit = positiveHit(f, v, false);
        if (hit === undefined) return neg ? MISSING_MATCHES.has(f.operatorType) : false;
        return neg ? !hit : hit;
    }

    const word = fc.constantFrom("a", "ab", "B", "abc", "", "Red", "red", "5", "true");
    const scalar = fc.oneof(word, fc.integer({ min: -3, max: 12 }), fc.boolean(), fc.constant(null));
    const value: fc.Arbitrary<Json> = fc.oneof(
        { weight: 4, arbitrary: scalar },
        { weight: 2, arbitrary: fc.array(fc.oneof(scalar, fc.constant({ x: 1 } as Json)), { maxLength: 4 }) },
        { weight: 1, arbitrary: fc.record({ k: scalar, K: scalar }, { requiredKeys: [] }) },
    );
    const key = fc.constantFrom("data.k", "data.K", "data.m", "data.o.k", "Data.k", "data.absent");
    const filter: fc.Arbitrary<AdvancedFilter> = fc.oneof(
        fc.record({ operatorType: fc.constant("BoolEquals" as const), key, value: fc.boolean() }),
        fc.record({
            operatorType: fc.constantFrom(
                "NumberGreaterThan" as const,
                "NumberGreaterThanOrEquals" as const,
                "NumberLessThan" as const,
                "NumberLessThanOrEquals" as const,
            ),
            key,
            value: fc.integer({ min: -2, max: 10 }),
        }),
        fc.record({
            operatorType: fc.constantFrom("NumberIn" as const, "NumberNotIn" as const),
            key,
            values: fc.array(fc.integer({ min: -2, max: 10 }), { minLength: 1, maxLength: 3 }),
        }),
        fc.record({
            operatorType: fc.constantFrom("NumberInRange" as const, "NumberNotInRange" as const),
            key,
            values: fc.array(
                fc
                    .tuple(fc.integer({ min: -2, max: 10 }), fc.integer({ min: 0, max: 5 }))
                    .map(([lo, w]) => [lo, lo + w]),
                { minLength: 1, maxLength: 3 },
            ),
        }),
        fc.record({
            operatorType: fc.constantFrom(
                "StringIn" as const,
                "StringNotIn" as const,
                "StringBeginsWith" as const,
                "StringNotBeginsWith" as const,
                "StringEndsWith" as const,
                "StringNotEndsWith" as const,
                "StringContains" as const,
                "StringNotContains" as const,
            ),
            key,
            values: fc.array(word, { minLength: 1, maxLength: 3 }),
        }),
        fc.record({ operatorType: fc.constantFrom("IsNullOrUndefined" as const, "IsNotNull" as const), key }),
    ) as fc.Arbitrary<AdvancedFilter>;

    it("on generated data, filters and the arrays flag", () => {
        fc.assert(
            fc.property(
                fc.record({ k: value, K: value, m: value, o: value }, { requiredKeys: [] }),
                fc.array(filter, { minLength: 1, maxLength: 3 }),
                fc.boolean(),
                (data, filters, arrays) => {
                    const event = { ...EG_EVENT, data } as unknown as Record<string, Json>;
                    const expected = filters.every((f) => sketch(f, event, arrays));
                    const sub: EventSubscriptionFilter = {
                        advancedFilters: filters,
                        enableAdvancedFilteringOnArrays: arrays,
                    };
                    expect(evaluateFilter(sub, event, "EventGridSchema")).toBe(expected);
                    expect(prepareFilter(sub).test(event, "EventGridSchema")).toBe(expected);
                },
            ),
            { numRuns: 2000 },
        );
    });
});

// ---------------------------------------------------------------------------------------------
// The Fleet docs' own subscription filter over every published sample
// ---------------------------------------------------------------------------------------------

describe("the Fleet how-to's filter against every published sample, raw and resolved", () => {
    // includedEventTypes in the docs' spelling plus the documented advanced filters (StringIn/StringContains) [S12][S13].
    const docsFilter: EventSubscriptionFilter = {
        includedEventTypes: [FLEET_GATE_EVENT_TYPES.created],
        advancedFilters: [
            { operatorType: "StringIn", key: GATE_FILTER_KEYS.state, values: ["Pending"] },
            { operatorType: "StringIn", key: GATE_FILTER_KEYS.gateType, values: ["Approval"] },
            { operatorType: "StringContains", key: GATE_FILTER_KEYS.targetId, values: ["/fleets/"] },
            { operatorType: "StringIn", key: GATE_FILTER_KEYS.timing, values: ["Before", "After"] },
        ],
    };
    const files = [
        ["raw/cloudevents-schema-gate-created.json", true],
        ["raw/cloudevents-schema-gate-updated.json", false],
        ["raw/cloudevents-schema-gate-deleted.json", false],
        ["raw/eventgrid-schema-gate-created.json", true],
        ["resolved/cloudevents-schema-gate-created.json", true],
        ["resolved/cloudevents-schema-gate-updated.json", false],
        ["resolved/cloudevents-schema-gate-deleted.json", false],
        ["resolved/eventgrid-schema-gate-created.json", true],
    ] as const;

    it.each(files)("%s: delivered %s", (file, expected) => {
        const body = fixture(file);
        // The Event Grid-schema sample is a batch; each of its events is filtered on its own.
        for (const event of Array.isArray(body) ? body : [body]) {
            expect(evaluateFilter(docsFilter, event)).toBe(expected);
            if (!expected)
                expect(explainFilter(docsFilter, event).reason).toMatch(
                    /^includedEventTypes: event type ".*AksResources/,
                );
        }
    });

    it("the lifecycle filter takes the Updated and Deleted samples, in either spelling of the type", () => {
        const lifecycle: EventSubscriptionFilter = {
            includedEventTypes: [FLEET_GATE_EVENT_TYPES.updated, FLEET_GATE_EVENT_TYPES.deleted],
        };
        const got = files.map(([file]) => {
            const body = fixture(file);
            return (Array.isArray(body) ? body : [body]).every((e) => evaluateFilter(lifecycle, e));
        });
        expect(got).toEqual(files.map(([, created]) => !created));
    });
});
