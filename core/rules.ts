/**
 * Approval rules: which gates the handler decides, and the checks it runs before approving.
 *
 * Rules are declared once in stack config (`fleet-gates:approvals`), validated here, compiled into
 * Event Grid filters by `event-filter.ts`, and handed to the handler as an app setting. The schemas
 * live in `core/` because the program, the handler, the policy pack and the offline engine all parse
 * the same shape.
 */
import { z } from "zod";

/** Gate timing relative to its stage or group, in Azure's words. */
export const GATE_TIMINGS = ["Before", "After"] as const;
export type GateTiming = (typeof GATE_TIMINGS)[number];

/** Fleet's name pattern for stages, groups, fleets, members and strategies (2026-06-01 spec). */
export const FLEET_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Rule names become Event Grid subscription names, so they follow the stricter of both patterns. */
export const RULE_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const RULE_NAME_MAX = 40;

export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const HOURS_PATTERN = /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/;
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function isTimeZone(tz: string): boolean {
    try {
        new Intl.DateTimeFormat("en-US", { timeZone: tz });
        return true;
    } catch {
        return false;
    }
}

const timeoutSeconds = z.number().int().min(1).max(25).optional();

/** Members in the gate's scope are provisioned and running; for After gates, their update succeeded. */
export const ClusterHealthCheckSchema = z.strictObject({
    type: z.literal("clusterHealth"),
    timeoutSeconds,
});

/** Allowed days and hours in a time zone, minus freeze dates. */
export const WindowCheckSchema = z.strictObject({
    type: z.literal("window"),
    days: z.array(z.enum(WEEKDAYS)).min(1),
    hours: z.string().regex(HOURS_PATTERN, 'expected "HH:MM-HH:MM"'),
    timeZone: z.string().refine(isTimeZone, "not an IANA time zone"),
    freezeDates: z.array(z.string().regex(DATE_PATTERN, "expected YYYY-MM-DD")).optional(),
    timeoutSeconds,
});

/** GET a URL; pass on the expected status and, optionally, a JSON field's value. */
export const HttpCheckSchema = z.strictObject({
    type: z.literal("http"),
    url: z.url({ protocol: /^https?$/ }),
    expectStatus: z.number().int().min(100).max(599).default(200),
    jsonPath: z.string().min(1).optional(),
    equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    timeoutSeconds,
});

export const METRIC_AGGREGATIONS = ["Average", "Maximum", "Minimum", "Total", "Count"] as const;
export const METRIC_OPERATORS = ["lt", "le", "gt", "ge"] as const;

/** An Azure Monitor metric of each member cluster compared against a threshold. */
export const MetricCheckSchema = z.strictObject({
    type: z.literal("metric"),
    metric: z.string().min(1),
    namespace: z.string().min(1).default("Microsoft.ContainerService/managedClusters"),
    aggregation: z.enum(METRIC_AGGREGATIONS).default("Average"),
    operator: z.enum(METRIC_OPERATORS),
    threshold: z.number(),
    lookbackMinutes: z.number().int().min(1).max(1440).default(15),
    timeoutSeconds,
});

/** The placement's resources are `Available` on every member of the approval request's stage (placement rules only). */
export const PlacementAvailableCheckSchema = z.strictObject({
    type: z.literal("placementAvailable"),
    timeoutSeconds,
});

export const CheckSchema = z.discriminatedUnion("type", [
    ClusterHealthCheckSchema,
    WindowCheckSchema,
    HttpCheckSchema,
    MetricCheckSchema,
    PlacementAvailableCheckSchema,
]);
export type Check = z.infer<typeof CheckSchema>;
export type CheckType = Check["type"];
export const CHECK_TYPES: readonly CheckType[] = ["clusterHealth", "window", "http", "metric", "placementAvailable"];

/**
 * Which gates a rule covers. Every field given must equal the gate's (strings compared
 * case-insensitively, as Event Grid's string operators do); an omitted field matches any value.
 * `group` omitted matches stage gates and group gates alike.
 */
export const RuleMatchSchema = z
    .strictObject({
        displayName: z.string().min(1).max(100).optional(),
        stage: z.string().min(1).optional(),
        group: z.string().min(1).optional(),
        timing: z.enum(GATE_TIMINGS).optional(),
        /** Decide a hub placement's approval requests instead of Fleet gates (`core/placement.ts`). */
        placement: z.string().min(1).optional(),
    })
    .refine((m) => Object.values(m).some((v) => v !== undefined), {
        message: "must name at least one of displayName, stage, group, timing, placement",
    });
export type RuleMatch = z.infer<typeof RuleMatchSchema>;

export const ApprovalRuleSchema = z.strictObject({
    name: z.string().max(RULE_NAME_MAX).regex(RULE_NAME_PATTERN, "expected lower-case letters, digits and '-'"),
    match: RuleMatchSchema,
    checks: z.array(CheckSchema).min(1),
});
export type ApprovalRule = z.infer<typeof ApprovalRuleSchema>;

export const ApprovalRulesSchema = z.array(ApprovalRuleSchema);

/** What the handler knows of a gate when matching it to a rule (the event's `updateRunProperties`). */
export interface GateCoordinates {
    readonly displayName?: string;
    readonly stage?: string;
    readonly group?: string;
    readonly timing: GateTiming;
}

function sameText(a: string | undefined, b: string | undefined): boolean {
    return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/**
 * True when every field the rule names equals the gate's. This is the semantics the compiled
 * Event Grid filter has (StringIn is case-insensitive; a missing key never satisfies StringIn);
 * `event-filter.test.ts` checks the two agree on generated gates.
 */
export function ruleMatchesGate(match: RuleMatch, gate: GateCoordinates): boolean {
    // A rule naming a placement decides that placement's approval requests, never Fleet gates.
    if (match.placement !== undefined) return false;
    if (match.displayName !== undefined && !sameText(match.displayName, gate.displayName)) return false;
    if (match.stage !== undefined && !sameText(match.stage, gate.stage)) return false;
    if (match.group !== undefined && !sameText(match.group, gate.group)) return false;
    if (match.timing !== undefined && !sameText(match.timing, gate.timing)) return false;
    return true;
}

/** The rules that cover a gate, in declaration order. More than one is a config error. */
export function rulesForGate(rules: readonly ApprovalRule[], gate: GateCoordinates): ApprovalRule[] {
    return rules.filter((r) => ruleMatchesGate(r.match, gate));
}
