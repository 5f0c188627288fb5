/**
 * `gate-subscriptions-scoped-to-fleet`: the AKSResources topic carries every AKS event of the whole
 * subscription. Each subscription on it must narrow that to one fleet's gate events, with a filter
 * Event Grid accepts; otherwise the handler receives (and may act on) other fleets' gates.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { eq, parseFleetId } from "../../core/arm-id";
import {
    FLEET_GATE_EVENT_TYPES,
    GATE_FILTER_KEYS,
    filterLimitViolations,
    type AdvancedFilter,
    type EventSubscriptionFilter,
} from "../../core/event-filter";
import { aksTopicSubscriptions, arr, isObject, obj, str, strings, type Props } from "./common";

const GATE_TYPES = Object.values(FLEET_GATE_EVENT_TYPES);
const GATE_TYPE_NAMES = "FleetGateCreated, FleetGateUpdated, FleetGateDeleted";
const FLEET_PREFIX =
    /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ContainerService\/fleets\/[^/]+)\//i;
/** Keys whose value is a gate id or an update run id, i.e. begins with the fleet id. */
const FLEET_KEYS = [GATE_FILTER_KEYS.targetId, GATE_FILTER_KEYS.resourceId, "subject"];

/** The fleet id a prefix pins (`<fleet id>/...`, the fleet name segment complete), or undefined. */
export function fleetOfPrefix(prefix: string): string | undefined {
    const m = FLEET_PREFIX.exec(prefix);
    if (!m) return undefined;
    try {
        parseFleetId(m[1]!);
        return m[1];
    } catch {
        return undefined;
    }
}

/** Every fleet a filter pins, through `subjectBeginsWith` or a StringBeginsWith/StringIn filter on a gate or run id. */
export function pinnedFleets(filter: Props): string[] {
    const pins: string[] = [];
    const subject = str(filter.subjectBeginsWith);
    if (subject) {
        const f = fleetOfPrefix(subject);
        if (f) pins.push(f);
    }
    for (const af of arr(filter.advancedFilters)) {
        if (!isObject(af)) continue;
        const key = str(af.key);
        const op = str(af.operatorType);
        if (!key || !FLEET_KEYS.some((k) => eq(k, key)) || (op !== "StringBeginsWith" && op !== "StringIn")) continue;
        const values = strings(af.values);
        const fleets = values.map(fleetOfPrefix);
        if (values.length === 0 || fleets.some((f) => f === undefined)) continue;
        const distinct = new Set(fleets.map((f) => f!.toLowerCase()));
        // One filter whose values span two fleets pins neither (its values are ORed).
        if (distinct.size === 1) pins.push(fleets[0]!);
    }
    const seen = new Set<string>();
    return pins.filter((p) => !seen.has(p.toLowerCase()) && seen.add(p.toLowerCase()));
}

/** What is wrong with a subscription's filter on the AKSResources topic; empty when nothing is. */
export function fleetScopeProblems(name: string, filterValue: unknown): string[] {
    const filter = obj(filterValue) ?? {};
    const problems: string[] = [];
    const subject = `event subscription "${name}"`;

    const fleets = pinnedFleets(filter);
    if (fleets.length === 0)
        problems.push(
            `${subject} does not filter to one fleet: set subjectBeginsWith to "<fleet id>/gates/" or a ` +
                `StringBeginsWith filter on ${GATE_FILTER_KEYS.targetId} with "<fleet id>/updateRuns/"`,
        );
    else if (fleets.length > 1)
        problems.push(`${subject} filters to more than one fleet: ${fleets.map((f) => `"${f}"`).join(", ")}`);

    const types = strings(filter.includedEventTypes);
    if (types.length === 0)
        problems.push(
            `${subject} has no includedEventTypes, so it receives every AKSResources event of the subscription; ` +
                `list the FleetGate types it needs (${GATE_TYPE_NAMES})`,
        );
    for (const t of types)
        if (!GATE_TYPES.some((g) => eq(g, t)))
            problems.push(
                `${subject} includes event type "${t}", which is not a FleetGate event type (${GATE_TYPE_NAMES})`,
            );

    const advanced = arr(filter.advancedFilters);
    advanced.forEach((af, i) => {
        if (!isObject(af))
            problems.push(`${subject} has a filter Event Grid rejects: advancedFilters[${i}] is not an object`);
    });
    const checkable: EventSubscriptionFilter = {
        ...(filter as EventSubscriptionFilter),
        advancedFilters: advanced.filter(isObject) as unknown as AdvancedFilter[],
    };
    for (const v of filterLimitViolations(checkable)) problems.push(`${subject} has a filter Event Grid rejects: ${v}`);
    return problems;
}

export const requireFleetScopedGateSubscriptions: StackValidationPolicy = {
    name: "gate-subscriptions-scoped-to-fleet",
    description:
        "Every event subscription on the AKSResources topic filters to one fleet and to FleetGate event types, within Event Grid's filter limits.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        'Compile subscription filters with core/event-filter.ts: subjectBeginsWith "<fleet id>/gates/", includedEventTypes of FleetGate types only.',
    validateStack: (args, report) => {
        for (const s of aksTopicSubscriptions(args.resources))
            for (const problem of fleetScopeProblems(s.name, (s.resource.props as Props).filter))
                report(problem, s.resource.urn);
    },
};
