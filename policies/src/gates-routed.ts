/**
 * `gates-routed`: an approval gate blocks its update run until someone completes it, and gates never
 * time out. A gate a rule covers must therefore reach the handler through exactly one rule
 * subscription, and a rule subscription that matches no gate is a typo that leaves its gate to wait
 * forever. Decided with Event Grid's filter semantics (`core/event-filter.ts`) against the very
 * events Fleet publishes for each gate, in both type spellings.
 */
import { createHash } from "node:crypto";
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { eq } from "../../core/arm-id";
import {
    EVENT_TYPE_SPELLINGS,
    FLEET_GATE_EVENT_TYPES,
    GATE_FILTER_KEYS,
    explainFilter,
    gateEventFor,
    prepareFilter,
    type EventSchema,
    type EventSubscriptionFilter,
    type EventTypeSpelling,
    type JsonObject,
} from "../../core/event-filter";
import { ApprovalRulesSchema, rulesForGate, type ApprovalRule } from "../../core/rules";
import { describeGate, gatePositions, type GatePosition } from "../../core/strategy";
import {
    GUID_SCHEMA_PATTERN,
    TYPES,
    aksTopicSubscriptions,
    arr,
    isResourceType,
    obj,
    stackSubscriptionId,
    str,
    type Props,
} from "./common";
import { pinnedFleets } from "./gate-subscriptions-scoped-to-fleet";
import { strategyOf, type StrategyInfo } from "./strategy-model";

export interface GatesRoutedConfig {
    /** The stack's subscription (the fleet's); default: from the AKSResources topic's source, the provider, role ids. */
    readonly subscriptionId?: string;
}

export interface RoutedStrategy {
    readonly urn: string;
    readonly strategy: StrategyInfo;
    /** The fleet the strategy belongs to, when the stack tells; else each subscription's own fleet is assumed. */
    readonly fleetId?: string;
}

export interface RuleSubscription {
    readonly urn: string;
    readonly name: string;
    readonly filter: EventSubscriptionFilter;
    /** The delivery schema; CloudEvents subscriptions are also evaluated against the CloudEvents envelope. */
    readonly deliverySchema?: string;
}

export interface RoutingInput {
    readonly strategies: readonly RoutedStrategy[];
    readonly subscriptions: readonly RuleSubscription[];
    /** The approval rules (the handler's APPROVAL_RULES) when the stack has them; else a gate is "covered" when any subscription matches it. */
    readonly rules?: readonly ApprovalRule[];
}

export interface Finding {
    readonly urn: string;
    readonly message: string;
}

interface Form {
    readonly schema: EventSchema;
    readonly spelling: EventTypeSpelling;
}

const UPDATE_RUN_NAME = "policy-check";
const FALLBACK_FLEET_ID =
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/unknown/providers/Microsoft.ContainerService/fleets/unknown";

/** A lower-case GUID derived from its parts (gate names are GUIDs). */
function guidOf(...parts: string[]): string {
    const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function levenshtein(a: string, b: string): number {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const cur = [i];
        for (let j = 1; j <= b.length; j++)
            cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
    }
    return prev[b.length]!;
}

/** True when the filter asks for FleetGateCreated events (no type list counts as all types). */
export function receivesCreated(filter: EventSubscriptionFilter): boolean {
    const types = filter.includedEventTypes ?? [];
    return types.length === 0 || types.some((t) => eq(t, "All") || eq(t, FLEET_GATE_EVENT_TYPES.created));
}

function formsOf(sub: RuleSubscription): Form[] {
    const schemas: EventSchema[] = eq(sub.deliverySchema, "CloudEventSchemaV1_0")
        ? ["EventGridSchema", "CloudEventSchemaV1_0"]
        : ["EventGridSchema"];
    return schemas.flatMap((schema) => EVENT_TYPE_SPELLINGS.map((spelling) => ({ schema, spelling })));
}

function formLabel(f: Form): string {
    return `${f.spelling} in ${f.schema}`;
}

/** The filter split into its clauses, each a filter of its own (to count which clauses a gate fails). */
function clauses(filter: EventSubscriptionFilter): EventSubscriptionFilter[] {
    const out: EventSubscriptionFilter[] = [];
    if (filter.includedEventTypes) out.push({ includedEventTypes: filter.includedEventTypes });
    if (filter.subjectBeginsWith || filter.subjectEndsWith)
        out.push({
            subjectBeginsWith: filter.subjectBeginsWith,
            subjectEndsWith: filter.subjectEndsWith,
            isSubjectCaseSensitive: filter.isSubjectCaseSensitive,
        });
    for (const af of filter.advancedFilters ?? [])
        out.push({ advancedFilters: [af], enableAdvancedFilteringOnArrays: filter.enableAdvancedFilteringOnArrays });
    return out;
}

function wantedDisplayNames(filter: EventSubscriptionFilter): string[] {
    return (filter.advancedFilters ?? [])
        .filter((f) => f.operatorType === "StringIn" && eq(f.key, GATE_FILTER_KEYS.displayName))
        .flatMap((f) => ("values" in f ? (f.values as string[]) : []));
}

interface GateAt {
    readonly strategy: RoutedStrategy;
    readonly gate: GatePosition;
    readonly index: number;
}

function where(g: GateAt): string {
    return `gate ${describeGate(g.gate)} of update strategy "${g.strategy.strategy.name}"`;
}

/**
 * The routing findings: gates covered by a rule that no rule subscription receives, gates received by
 * more than one, subscriptions that receive a gate only in some event forms, and rule subscriptions that
 * match no gate (naming the closest gate and the clause that fails it).
 */
export function routingProblems(input: RoutingInput): Finding[] {
    const out: Finding[] = [];
    const gates: GateAt[] = input.strategies.flatMap((strategy) =>
        gatePositions(strategy.strategy.stages).map((gate, index) => ({ strategy, gate, index })),
    );

    const subs: { sub: RuleSubscription; prepared: ReturnType<typeof prepareFilter>; forms: Form[] }[] = [];
    for (const sub of input.subscriptions) {
        try {
            subs.push({ sub, prepared: prepareFilter(sub.filter), forms: formsOf(sub) });
        } catch (e) {
            out.push({
                urn: sub.urn,
                message: `rule subscription "${sub.name}" has a filter Event Grid rejects: ${(e as Error).message}`,
            });
        }
    }

    const eventFor = (g: GateAt, sub: RuleSubscription, form: Form): JsonObject => {
        const pinned = pinnedFleets(sub.filter as unknown as Props);
        const fleetId = g.strategy.fleetId ?? (pinned.length === 1 ? pinned[0]! : FALLBACK_FLEET_ID);
        return gateEventFor(
            {
                fleetId,
                gateName: guidOf(g.strategy.urn, String(g.index)),
                updateRunName: UPDATE_RUN_NAME,
                stage: g.gate.stage,
                group: g.gate.group,
                timing: g.gate.timing,
                displayName: g.gate.displayName,
            },
            form,
        );
    };

    // matches[g][s]: the forms in which subscription s receives gate g.
    const matches = gates.map((g) =>
        subs.map(({ sub, prepared, forms }) => forms.filter((f) => prepared.test(eventFor(g, sub, f), f.schema))),
    );

    const closestGate = (s: (typeof subs)[number]) => {
        const parts = clauses(s.sub.filter).map((c) => prepareFilter(c));
        const names = wantedDisplayNames(s.sub.filter).map((n) => n.toLowerCase());
        const first = s.forms[0]!;
        let best: { g: GateAt; failing: number; distance: number } | undefined;
        for (const g of gates) {
            const event = eventFor(g, s.sub, first);
            const failing = parts.filter((p) => !p.test(event, first.schema)).length;
            const distance =
                names.length === 0
                    ? 0
                    : Math.min(...names.map((n) => levenshtein(n, g.gate.displayName.toLowerCase())));
            if (!best || failing < best.failing || (failing === best.failing && distance < best.distance))
                best = { g, failing, distance };
        }
        if (!best) return undefined;
        const reason = explainFilter(s.sub.filter, eventFor(best.g, s.sub, first), first.schema).reason;
        return { g: best.g, reason };
    };

    gates.forEach((g, gi) => {
        const receivers = subs.filter((_, si) => matches[gi]![si]!.length > 0);
        subs.forEach((s, si) => {
            const got = matches[gi]![si]!;
            if (got.length > 0 && got.length < s.forms.length) {
                const missed = s.forms.filter((f) => !got.includes(f));
                out.push({
                    urn: s.sub.urn,
                    message:
                        `rule subscription "${s.sub.name}" receives ${where(g)} only as ${got.map(formLabel).join(", ")}, ` +
                        `not as ${missed.map(formLabel).join(", ")}; Fleet publishes both type spellings: match event types ignoring case`,
                });
            }
        });
        if (receivers.length > 1)
            out.push({
                urn: g.strategy.urn,
                message:
                    `${where(g)} is matched by ${receivers.length} rule subscriptions (${receivers.map((r) => `"${r.sub.name}"`).join(", ")}); ` +
                    "exactly one must route it, or the handler decides it more than once",
            });
        const covering = input.rules ? rulesForGate(input.rules, g.gate) : [];
        if (receivers.length === 0 && covering.length > 0) {
            const nearest = subs
                .map((s) => ({
                    s,
                    reason: explainFilter(s.sub.filter, eventFor(g, s.sub, s.forms[0]!), s.forms[0]!.schema).reason,
                }))
                .find((x) => x.s.sub.name.toLowerCase() === `gate-${covering[0]!.name}`.toLowerCase());
            out.push({
                urn: g.strategy.urn,
                message:
                    `${where(g)} is covered by rule "${covering[0]!.name}" but no rule subscription receives its FleetGateCreated event` +
                    (nearest ? `; "${nearest.s.sub.name}" rejects it: ${nearest.reason}` : ""),
            });
        }
    });

    subs.forEach((s, si) => {
        if (gates.some((_, gi) => matches[gi]![si]!.length > 0)) return;
        const closest = closestGate(s);
        out.push({
            urn: s.sub.urn,
            message: closest
                ? `rule subscription "${s.sub.name}" matches no gate; the closest is ${where(closest.g)}, which it rejects: ${closest.reason}`
                : `rule subscription "${s.sub.name}" matches no gate: the stack declares no update strategy with approval gates`,
        });
    });
    return out;
}

/** The approval rules handed to the handler (`APPROVAL_RULES` app setting), when the stack has valid ones. */
export function rulesOfStack(resources: readonly PolicyResource[]): ApprovalRule[] | undefined {
    const values: string[] = [];
    for (const r of resources) {
        const p = r.props as Props;
        if (isResourceType(r.type, TYPES.webAppSettings)) {
            const v = str(obj(p.properties)?.APPROVAL_RULES);
            if (v !== undefined) values.push(v);
        } else if (isResourceType(r.type, TYPES.webApp)) {
            for (const s of arr(obj(p.siteConfig)?.appSettings)) {
                const setting = obj(s);
                const v = str(setting?.value);
                if (str(setting?.name) === "APPROVAL_RULES" && v !== undefined) values.push(v);
            }
        }
    }
    const rules: ApprovalRule[] = [];
    for (const v of values) {
        let parsed: unknown;
        try {
            parsed = JSON.parse(v);
        } catch {
            continue; // e.g. a secret an offline plan cannot show
        }
        const result = ApprovalRulesSchema.safeParse(parsed);
        if (result.success) rules.push(...result.data.filter((r) => !rules.some((x) => x.name === r.name)));
    }
    return values.length > 0 && rules.length > 0 ? rules : undefined;
}

/** JSON copy of a property value (reading every field, so unknowns surface as the engine expects). */
function plain<T>(v: unknown): T {
    return JSON.parse(JSON.stringify(v ?? null)) as T;
}

/** Assembles the routing input from a stack's resources. */
export function routingInputOf(resources: readonly PolicyResource[], config: GatesRoutedConfig = {}): RoutingInput {
    const subscriptionId = stackSubscriptionId(resources, config.subscriptionId);
    const strategies: RoutedStrategy[] = [];
    for (const r of resources) {
        const strategy = strategyOf(r.type, r.props as Props, r.name);
        if (!strategy) continue;
        const fleetId =
            subscriptionId && strategy.resourceGroupName && strategy.fleetName
                ? `/subscriptions/${subscriptionId}/resourceGroups/${strategy.resourceGroupName}/providers/Microsoft.ContainerService/fleets/${strategy.fleetName}`
                : undefined;
        strategies.push({ urn: r.urn, strategy, fleetId });
    }
    const subscriptions: RuleSubscription[] = [];
    for (const s of aksTopicSubscriptions(resources)) {
        const p = s.resource.props as Props;
        const filter = plain<EventSubscriptionFilter | null>(p.filter) ?? {};
        if (!receivesCreated(filter)) continue;
        subscriptions.push({ urn: s.resource.urn, name: s.name, filter, deliverySchema: str(p.eventDeliverySchema) });
    }
    return { strategies, subscriptions, rules: rulesOfStack(resources) };
}

export const requireRoutedGates: StackValidationPolicy = {
    name: "gates-routed",
    description:
        "Every approval gate a rule covers is matched by exactly one rule subscription, and every rule subscription matches at least one gate.",
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema: {
        properties: { subscriptionId: { type: "string", pattern: GUID_SCHEMA_PATTERN } },
    },
    remediationSteps:
        "Make each rule's match (displayName, stage, group, timing) equal the gate's exactly; remove overlapping rules.",
    validateStack: (args, report) => {
        const input = routingInputOf(args.resources, args.getConfig<GatesRoutedConfig>());
        for (const d of routingProblems(input)) report(d.message, d.urn);
    },
};
