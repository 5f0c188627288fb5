/**
 * Staged placement rollouts: stages planned from member labels as KubeFleet orders them, label
 * selectors, timed waits, approval requests parsed as the run controller creates them, rules matched to
 * them, and the `fleet-gates:placements` config.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig, type RawStackConfig } from "../config";
import {
    APPROVAL_LABELS,
    approvalRequestName,
    approvalTasks,
    isApproved,
    parseApprovalRequest,
    planStages,
    ruleMatchesApprovalTask,
    selectorMatches,
    waitTimeMs,
    type ApprovalRequestObject,
    type LabelSelector,
} from "../core/placement";
import { ruleMatchesGate } from "../core/rules";

/** Microsoft's staged-update tutorial: member2 staging; member3 (order 1) then member1 (order 2) canary. */
const tutorialMembers: { name: string; labels: Record<string, string> }[] = [
    { name: "member1", labels: { environment: "canary", order: "2" } },
    { name: "member2", labels: { environment: "staging" } },
    { name: "member3", labels: { environment: "canary", order: "1" } },
];
const tutorialStages = [
    {
        name: "staging",
        labelSelector: { matchLabels: { environment: "staging" } },
        afterStageTasks: [{ type: "TimedWait" as const, waitTime: "1m" }],
    },
    {
        name: "canary",
        labelSelector: { matchLabels: { environment: "canary" } },
        sortingLabelKey: "order",
        afterStageTasks: [{ type: "Approval" as const }],
    },
];

describe("planStages", () => {
    it("orders the tutorial's members as KubeFleet does", () => {
        expect(planStages({ stages: tutorialStages }, tutorialMembers)).toEqual([
            {
                name: "staging",
                clusters: ["member2"],
                maxConcurrency: 1,
                tasks: [{ type: "TimedWait", timing: "After", waitMs: 60_000 }],
            },
            {
                name: "canary",
                clusters: ["member3", "member1"],
                maxConcurrency: 1,
                tasks: [{ type: "Approval", timing: "After" }],
            },
        ]);
    });

    it("sorts sorting-label values as integers, then by name", () => {
        const members = [
            { name: "b", labels: { env: "x", order: "10" } },
            { name: "a", labels: { env: "x", order: "9" } },
            { name: "c", labels: { env: "x", order: "9" } },
        ];
        const [stage] = planStages(
            { stages: [{ name: "s", labelSelector: { matchLabels: { env: "x" } }, sortingLabelKey: "order" }] },
            members,
        );
        expect(stage?.clusters).toEqual(["a", "c", "b"]);
    });

    it.each<[string | number, number, number]>([
        ["50%", 4, 2],
        ["10%", 4, 1],
        [3, 4, 3],
    ])("maxConcurrency %s of %i clusters is %i", (max, n, want) => {
        const members = Array.from({ length: n }, (_, i) => ({ name: `m${i}`, labels: { env: "x" } }));
        const [stage] = planStages(
            { stages: [{ name: "s", labelSelector: { matchLabels: { env: "x" } }, maxConcurrency: max }] },
            members,
        );
        expect(stage?.maxConcurrency).toBe(want);
    });
});

describe("selectorMatches", () => {
    const labels = { env: "prod", region: "eu" };
    it.each<[LabelSelector, boolean]>([
        [{ matchLabels: { env: "prod" } }, true],
        [{ matchLabels: { env: "prod", region: "us" } }, false],
        [{ matchExpressions: [{ key: "region", operator: "In", values: ["eu", "us"] }] }, true],
        [{ matchExpressions: [{ key: "region", operator: "NotIn", values: ["eu"] }] }, false],
        [{ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["x"] }] }, true],
        [{ matchExpressions: [{ key: "tier", operator: "Exists" }] }, false],
        [{ matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }, true],
        [{ matchLabels: { env: "prod" }, matchExpressions: [{ key: "region", operator: "DoesNotExist" }] }, false],
    ])("%j → %s", (selector, want) => expect(selectorMatches(selector, labels)).toBe(want));
});

describe("waitTimeMs", () => {
    it.each<[string, number]>([
        ["1m", 60_000],
        ["90s", 90_000],
        ["1h30m", 5_400_000],
        ["1.5h", 5_400_000],
    ])("%s = %i ms", (w, ms) => expect(waitTimeMs(w)).toBe(ms));
});

function request(
    over: { name?: string; labels?: Record<string, string>; spec?: Record<string, string> } = {},
): ApprovalRequestObject {
    return {
        metadata: {
            name: over.name ?? "web-run-1-after-canary",
            generation: 1,
            resourceVersion: "7",
            labels: over.labels ?? {
                [APPROVAL_LABELS.run]: "web-run-1",
                [APPROVAL_LABELS.stage]: "canary",
                [APPROVAL_LABELS.taskType]: "afterStage",
                [APPROVAL_LABELS.latest]: "true",
            },
        },
        spec: over.spec ?? { parentStageRollout: "web-run-1", targetStage: "canary" },
    };
}

describe("parseApprovalRequest", () => {
    it("accepts what the run controller creates", () => {
        expect(parseApprovalRequest(request())).toEqual({
            ok: true,
            name: "web-run-1-after-canary",
            run: "web-run-1",
            stage: "canary",
            timing: "After",
        });
        expect(approvalRequestName("r", "s", "Before")).toBe("r-before-s");
    });

    it.each<[string, ApprovalRequestObject, string]>([
        [
            "spec names another run",
            request({ spec: { parentStageRollout: "other", targetStage: "canary" } }),
            'does not name run "other"',
        ],
        [
            "label names another stage",
            request({
                labels: {
                    [APPROVAL_LABELS.run]: "web-run-1",
                    [APPROVAL_LABELS.stage]: "staging",
                    [APPROVAL_LABELS.taskType]: "afterStage",
                },
            }),
            'does not name stage "canary"',
        ],
        [
            "unknown task type",
            request({
                labels: {
                    [APPROVAL_LABELS.run]: "web-run-1",
                    [APPROVAL_LABELS.stage]: "canary",
                    [APPROVAL_LABELS.taskType]: "during",
                },
            }),
            '"during" is not beforeStage or afterStage',
        ],
        ["name of another task", request({ name: "web-run-1-before-canary" }), "is not named web-run-1-after-canary"],
        ["no spec", { metadata: { name: "x" } }, "has no spec"],
    ])("rejects a request whose %s", (_, obj, reason) => {
        const r = parseApprovalRequest(obj);
        expect(r.ok).toBe(false);
        expect(r.ok ? "" : r.reason).toContain(reason);
    });

    it("counts Approved only for the current generation", () => {
        const approved = (observedGeneration: number, generation: number) =>
            isApproved({
                metadata: { generation },
                status: { conditions: [{ type: "Approved", status: "True", observedGeneration }] },
            });
        expect(approved(2, 2)).toBe(true);
        expect(approved(1, 2)).toBe(false);
        expect(
            isApproved({
                metadata: { generation: 1 },
                status: { conditions: [{ type: "Approved", status: "False", observedGeneration: 1 }] },
            }),
        ).toBe(false);
    });
});

describe("rules and approval requests", () => {
    const task = { placement: "web", stage: "canary", timing: "After" as const };
    it.each<[Record<string, string>, boolean]>([
        [{ placement: "web" }, true],
        [{ placement: "WEB", stage: "Canary" }, true],
        [{ placement: "web", timing: "Before" }, false],
        [{ placement: "api" }, false],
        [{ stage: "canary" }, false],
        [{ placement: "web", displayName: "x" }, false],
    ])("%j matches: %s", (match, want) => expect(ruleMatchesApprovalTask(match, task)).toBe(want));

    it("a placement rule never matches a Fleet gate", () => {
        expect(
            ruleMatchesGate(
                { placement: "web", stage: "canary" },
                { stage: "canary", timing: "After", displayName: "x" },
            ),
        ).toBe(false);
    });

    it("lists a placement's Approval tasks in run order", () => {
        expect(
            approvalTasks({
                name: "web",
                stages: [{ ...tutorialStages[1]!, beforeStageTasks: [{ type: "Approval" }] }, tutorialStages[0]!],
            }),
        ).toEqual([
            { placement: "web", stage: "canary", timing: "Before" },
            { placement: "web", stage: "canary", timing: "After" },
        ]);
    });
});

/** The tutorial as a stack: compliant; each config test changes one thing. */
function stack(): Record<string, any> {
    return {
        location: "westeurope",
        environment: "tut",
        fleet: { name: "flt-tut", hubCluster: true },
        members: structuredClone(tutorialMembers).map((m) => ({ ...m, group: "all" })),
        updateStrategy: { name: "upgrades", stages: [{ name: "all", groups: [{ name: "all" }] }] },
        placements: [
            {
                name: "web",
                resourceSelectors: [{ group: "", version: "v1", kind: "Namespace", name: "web" }],
                stages: structuredClone(tutorialStages),
            },
        ],
        approvals: [
            {
                name: "canary-ok",
                match: { placement: "web", stage: "canary", timing: "After" },
                checks: [{ type: "clusterHealth" }],
            },
        ],
    };
}

function problems(mutate: (c: Record<string, any>) => void): string[] {
    const c = stack();
    mutate(c);
    try {
        parseStackConfig(c as RawStackConfig);
    } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return [...(e as ConfigError).problems];
    }
    return [];
}

describe("fleet-gates:placements config", () => {
    it("accepts the tutorial topology with defaults", () => {
        const m = parseStackConfig(stack() as RawStackConfig);
        expect(m.placements[0]?.scope).toBe("Cluster");
        expect(m.placements[0]?.stages.map((s) => s.name)).toEqual(["staging", "canary"]);
    });

    it("defaults to no placements", () => {
        const c = stack();
        delete c.placements;
        c.approvals = [];
        expect(parseStackConfig(c as RawStackConfig).placements).toEqual([]);
    });

    it.each<[string, (c: Record<string, any>) => void, string[]]>([
        [
            "a placement without a hub",
            (c) => (c.fleet.hubCluster = false),
            ['fleet-gates:placements[0] "web" needs a hub cluster: set fleet-gates:fleet.hubCluster to true'],
        ],
        [
            "a stage that selects no member",
            (c) => (c.placements[0].stages[0].labelSelector = { matchLabels: { environment: "stagng" } }),
            [
                'fleet-gates:placements[0].stages[0].labelSelector {"matchLabels":{"environment":"stagng"}} selects no member (stage "staging")',
            ],
        ],
        [
            "a sorting key no selected member has",
            (c) => (c.placements[0].stages[1].sortingLabelKey = "rank"),
            [
                'fleet-gates:placements[0].stages[1].sortingLabelKey "rank" is a label of no member of stage "canary" (members: member1, member3)',
            ],
        ],
        [
            "a sorting key with a non-integer value",
            (c) => (c.members[0].labels.order = "two"),
            [
                'fleet-gates:placements[0].stages[1].sortingLabelKey "order": member "member1" has value "two"; Fleet needs an integer on every member of the stage',
            ],
        ],
        [
            "more after-stage tasks than the API allows",
            (c) =>
                c.placements[0].stages[1].afterStageTasks.push(
                    { type: "TimedWait", waitTime: "1m" },
                    { type: "TimedWait", waitTime: "2m" },
                ),
            [
                'fleet-gates:placements[0].stages[1].afterStageTasks [{"type":"Approval"},{"type":"TimedWait","waitTime":"1m"},{"type":"TimedWait"... must have at most 2 items',
            ],
        ],
        [
            "two after-stage tasks of one type",
            (c) => c.placements[0].stages[0].afterStageTasks.push({ type: "TimedWait", waitTime: "2m" }),
            [
                "fleet-gates:placements[0].stages[0].afterStageTasks has two TimedWait tasks; Fleet allows one of each type",
            ],
        ],
        [
            "a TimedWait before a stage",
            (c) => (c.placements[0].stages[0].beforeStageTasks = [{ type: "TimedWait", waitTime: "1m" }]),
            [
                'fleet-gates:placements[0].stages[0].beforeStageTasks[0].type "TimedWait" is not allowed before a stage (only Approval)',
            ],
        ],
        [
            "a bad waitTime",
            (c) => (c.placements[0].stages[0].afterStageTasks[0].waitTime = "1 minute"),
            [
                'fleet-gates:placements[0].stages[0].afterStageTasks[0].waitTime "1 minute" must be a duration like "1m", "90s" or "1h30m"',
            ],
        ],
        [
            "a member in two stages",
            (c) =>
                (c.placements[0].stages[1].labelSelector = {
                    matchExpressions: [{ key: "environment", operator: "Exists" }],
                }),
            [
                'fleet-gates:placements[0].stages[1].labelSelector selects member "member2", already in stage "staging" (a member runs in one stage)',
                'fleet-gates:placements[0].stages[1].sortingLabelKey "order": member "member2" has no such label; Fleet needs an integer on every member of the stage',
            ],
        ],
        [
            "a stage name Fleet rejects",
            (c) => (c.placements[0].stages[0].name = "stag-ing"),
            ['fleet-gates:placements[0].stages[0].name "stag-ing" must be lower-case letters and digits'],
        ],
        [
            "a namespaced placement without namespace",
            (c) => (c.placements[0].scope = "Namespaced"),
            ['fleet-gates:placements[0].namespace is required when scope is "Namespaced" (placement "web")'],
        ],
        [
            "a rule naming an unknown placement",
            (c) => (c.approvals[0].match.placement = "wbe"),
            ['fleet-gates:approvals[0].match.placement "wbe" is not a placement of the stack (placements: web)'],
        ],
        [
            "a rule naming a stage of no placement",
            (c) => (c.approvals[0].match.stage = "prod"),
            ['fleet-gates:approvals[0].match.stage "prod" is not a stage of placement "web" (stages: staging, canary)'],
        ],
        [
            "a rule matching no Approval task",
            (c) => (c.approvals[0].match.stage = "staging"),
            ['fleet-gates:approvals[0] "canary-ok" matches no Approval task of placement "web"'],
        ],
        [
            "two rules for one request",
            (c) =>
                c.approvals.push({ name: "web-any", match: { placement: "web" }, checks: [{ type: "clusterHealth" }] }),
            [
                'approval task of placement "web", stage "canary", After is matched by 2 rules: approvals[0] "canary-ok", approvals[1] "web-any"; make them disjoint',
            ],
        ],
        [
            "a rule with a placement and a display name",
            (c) => (c.approvals[0].match.displayName = "x"),
            [
                "fleet-gates:approvals[0].match names a placement and displayName; approval requests have neither (match placement, stage, timing)",
            ],
        ],
    ])("rejects %s", (_, mutate, want) => expect(problems(mutate)).toEqual(want));
});
