/**
 * Stack config parsing: the compliant stack with its defaults, every problem reported at once, rules
 * matched to gates as Event Grid compares strings, and the repository's dev and prod stacks.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, closest, keyPath, parseStackConfig, type RawStackConfig } from "../config";
import { loadStackFile } from "../local/plan/stack-file";

/** A compliant stack: every test changes one thing. */
function base(): RawStackConfig {
    return {
        location: "westeurope",
        environment: "dev",
        fleet: { name: "flt-dev" },
        members: [
            { name: "aks-dev-blue-1", group: "blue", labels: { environment: "dev", ring: "0" } },
            { name: "aks-dev-blue-2", group: "blue" },
            { name: "aks-dev-green-1", group: "green" },
        ],
        updateStrategy: {
            name: "gated-rollout",
            stages: [
                {
                    name: "dev",
                    beforeGates: [{ displayName: "Check with sales team" }],
                    groups: [{ name: "blue", afterGates: [{ displayName: "blue healthy" }] }, { name: "green" }],
                    afterStageWaitInSeconds: 300,
                },
            ],
        },
        approvals: [
            {
                name: "sales-check",
                match: { displayName: "Check with sales team", stage: "dev", timing: "Before" },
                checks: [{ type: "clusterHealth" }],
            },
        ],
    };
}

function problemsOf(raw: RawStackConfig, secretKeys: Set<string> = new Set()): string[] {
    try {
        parseStackConfig(raw, secretKeys);
    } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return [...(e as ConfigError).problems];
    }
    return [];
}

type Mutate = (c: Record<string, any>) => void;
const mutate = (f: Mutate): RawStackConfig => {
    const c = base() as Record<string, any>;
    f(c);
    return c as RawStackConfig;
};

describe("parseStackConfig", () => {
    it("accepts the compliant stack and applies defaults", () => {
        const m = parseStackConfig(base());
        expect(m.resourceGroupName).toBe("rg-fleet-gates-dev");
        expect(m.fleet).toEqual({ name: "flt-dev", hubCluster: false });
        expect(m.members[1]).toEqual({
            name: "aks-dev-blue-2",
            group: "blue",
            labels: {},
            nodeCount: 1,
            vmSize: "Standard_D2s_v5",
        });
        expect(m.handler).toEqual({
            roleScope: "fleet",
            sweepMinutes: 5,
            escalateAfterMinutes: 240,
            nodeVersion: "22",
        });
        expect(m.gates).toEqual([
            { stage: "dev", timing: "Before", displayName: "Check with sales team" },
            { stage: "dev", group: "blue", timing: "After", displayName: "blue healthy" },
        ]);
    });

    it.each<[string, Mutate, string[]]>([
        ["missing key", (c) => delete c.fleet, ["fleet-gates:fleet is required"]],
        ["missing location", (c) => delete c.location, ["azure-native:location is required"]],
        [
            "wrong type",
            (c) => (c.members[0].nodeCount = "2"),
            ['fleet-gates:members[0].nodeCount "2" must be a number'],
        ],
        [
            "unquoted label number",
            (c) => (c.members[0].labels.ring = 0),
            ["fleet-gates:members[0].labels.ring 0 must be a string"],
        ],
        ["unknown key", (c) => (c.fleet.hubcluster = true), ['fleet-gates:fleet has unknown key "hubcluster"']],
        [
            "fleet name pattern",
            (c) => (c.fleet.name = "Flt_Dev"),
            ["fleet-gates:fleet.name \"Flt_Dev\" must be lower-case letters, digits and '-'"],
        ],
        [
            "fleet name length",
            (c) => (c.fleet.name = "f".repeat(64)),
            [`fleet-gates:fleet.name "${"f".repeat(64)}" must be at most 63 characters`],
        ],
        [
            "display name length",
            (c) => (c.updateStrategy.stages[0].beforeGates[0].displayName = ""),
            ['fleet-gates:updateStrategy.stages[0].beforeGates[0].displayName "" must be at least 1 character'],
        ],
        [
            "too many groups",
            (c) => (c.updateStrategy.stages[0].groups = Array.from({ length: 51 }, (_, i) => ({ name: `g${i}` }))),
            [
                expect.stringMatching(
                    /^fleet-gates:updateStrategy\.stages\[0\]\.groups .* must have at most 50 items$/,
                ) as unknown as string,
            ],
        ],
        [
            "maxConcurrency",
            (c) => (c.updateStrategy.stages[0].groups[0].maxConcurrency = "0"),
            [
                'fleet-gates:updateStrategy.stages[0].groups[0].maxConcurrency "0" must be a count ≥ 1 or a percentage like "25%"',
            ],
        ],
        [
            "enum",
            (c) => (c.autoUpgrade = { channel: "stable" }),
            [
                'fleet-gates:autoUpgrade.channel "stable" must be one of "Stable", "Rapid", "NodeImage", "TargetKubernetesVersion"',
            ],
        ],
        [
            "unknown check type",
            (c) => (c.approvals[0].checks = [{ type: "pager" }]),
            [
                'fleet-gates:approvals[0].checks[0].type "pager" has an unknown check type (expected one of clusterHealth, window, http, metric, placementAvailable)',
            ],
        ],
        [
            "bad time zone",
            (c) =>
                (c.approvals[0].checks = [
                    { type: "window", days: ["Mon"], hours: "09:00-16:00", timeZone: "Europe/Berlinn" },
                ]),
            ['fleet-gates:approvals[0].checks[0].timeZone "Europe/Berlinn" not an IANA time zone'],
        ],
        [
            "empty match",
            (c) => (c.approvals[0].match = {}),
            [
                "fleet-gates:approvals[0].match {} must name at least one of displayName, stage, group, timing, placement",
            ],
        ],
    ])("schema: %s", (_label, f, expected) => {
        expect(problemsOf(mutate(f))).toEqual(expected);
    });

    it.each<[string, Mutate, string[]]>([
        [
            "member in an unknown group",
            (c) => (c.members[2].group = "blu"),
            [
                'fleet-gates:members[2].group "blu" is not a group of any stage (groups: blue, green)',
                'fleet-gates:updateStrategy.stages[0].groups[1].name "green" has no members (set members[].group to it)',
            ],
        ],
        [
            "duplicate member",
            (c) => (c.members[1].name = "aks-dev-blue-1"),
            ['fleet-gates:members[1].name "aks-dev-blue-1" is used by members[0] too'],
        ],
        [
            "duplicate stage",
            (c) => c.updateStrategy.stages.push({ name: "dev", groups: [{ name: "red" }] }),
            [
                'fleet-gates:updateStrategy.stages[1].name "dev" is used by stages[0] too',
                'fleet-gates:updateStrategy.stages[1].groups[0].name "red" has no members (set members[].group to it)',
            ],
        ],
        [
            "group in two stages",
            (c) => c.updateStrategy.stages.push({ name: "prod", groups: [{ name: "blue" }] }),
            [
                'fleet-gates:updateStrategy.stages[1].groups[0].name "blue" is used by stages[0].groups[0] too (a group runs once per update)',
            ],
        ],
        [
            "duplicate gate in a stage",
            (c) => (c.updateStrategy.stages[0].afterGates = [{ displayName: "Blue Healthy" }]),
            [
                'fleet-gates:updateStrategy.stages[0].afterGates[0].displayName "Blue Healthy" is used by groups[0].afterGates[0] in the same stage too',
            ],
        ],
        [
            "rule stage unknown",
            (c) => (c.approvals[0].match.stage = "prd"),
            ['fleet-gates:approvals[0].match.stage "prd" is not a stage of the strategy (stages: dev)'],
        ],
        [
            "rule group unknown",
            (c) => (c.approvals[0].match = { group: "red" }),
            ['fleet-gates:approvals[0].match.group "red" is not a group of the strategy (groups: blue, green)'],
        ],
        [
            "mistyped display name",
            (c) => (c.approvals[0].match.displayName = "Check with sales teams"),
            [
                'fleet-gates:approvals[0] "sales-check" matches no gate of the strategy; closest gates: "Check with sales team" (stage dev, Before), "blue healthy" (stage dev, group blue, After)',
            ],
        ],
        [
            "duplicate rule name",
            (c) => c.approvals.push({ ...c.approvals[0], match: { displayName: "blue healthy" } }),
            ['fleet-gates:approvals[1].name "sales-check" is used by approvals[0] too'],
        ],
        [
            "two rules on one gate",
            (c) =>
                c.approvals.push({
                    name: "all-before",
                    match: { timing: "Before" },
                    checks: [{ type: "clusterHealth" }],
                }),
            [
                'gate "Check with sales team" (stage dev, Before) is matched by 2 rules: approvals[0] "sales-check", approvals[1] "all-before"; make them disjoint',
            ],
        ],
        [
            "target version without channel",
            (c) => (c.autoUpgrade = { channel: "Stable", targetKubernetesVersion: "1.33" }),
            [
                'fleet-gates:autoUpgrade.targetKubernetesVersion "1.33" is only allowed with autoUpgrade.channel "TargetKubernetesVersion" (channel is "Stable")',
            ],
        ],
        [
            "channel without target version",
            (c) => (c.autoUpgrade = { channel: "TargetKubernetesVersion" }),
            [
                'fleet-gates:autoUpgrade.targetKubernetesVersion is required when autoUpgrade.channel is "TargetKubernetesVersion"',
            ],
        ],
        [
            "escalation before sweep",
            (c) => (c.handler = { sweepMinutes: 30, escalateAfterMinutes: 10 }),
            ["fleet-gates:handler.escalateAfterMinutes 10 is shorter than handler.sweepMinutes 30"],
        ],
        [
            "webhook in plain text",
            (c) => (c.handler = { notifyWebhookUrl: "https://hooks.example.com/x" }),
            [
                "fleet-gates:handler.notifyWebhookUrl must be a Pulumi secret: pulumi config set --secret --path 'handler.notifyWebhookUrl' <url>",
            ],
        ],
    ])("cross-check: %s", (_label, f, expected) => {
        expect(problemsOf(mutate(f))).toEqual(expected);
    });

    it("accepts the webhook URL when the handler key is a secret", () => {
        const raw = mutate((c) => (c.handler = { notifyWebhookUrl: "https://hooks.example.com/x" }));
        expect(problemsOf(raw, new Set(["fleet-gates:handler"]))).toEqual([]);
        expect(parseStackConfig(raw, new Set(["fleet-gates:handler"])).handler.notifyWebhookUrl).toBe(
            "https://hooks.example.com/x",
        );
    });

    it("reports every problem at once", () => {
        const raw = mutate((c) => {
            c.members[2].group = "blu";
            c.approvals[0].match.displayName = "Check with sales teams";
        });
        const problems = problemsOf(raw);
        expect(problems).toHaveLength(3);
        expect(() => parseStackConfig(raw)).toThrow(
            /^invalid stack config \(3 problems\):\n {2}- fleet-gates:members\[2\]\.group "blu"/,
        );
    });

    it("matches rules to gates case-insensitively, as Event Grid compares strings", () => {
        const raw = mutate((c) => (c.approvals[0].match = { displayName: "CHECK WITH SALES TEAM", stage: "DEV" }));
        expect(problemsOf(raw)).toEqual([]);
    });
});

describe("helpers", () => {
    it.each([
        [["members", 3, "group"], "fleet-gates:members[3].group"],
        [["location"], "azure-native:location"],
        [["updateStrategy", "stages", 0, "groups", 1], "fleet-gates:updateStrategy.stages[0].groups[1]"],
    ])("keyPath(%j) = %s", (p, expected) => {
        expect(keyPath(p as PropertyKey[])).toBe(expected);
    });

    it("closest ranks by edit distance, case-insensitively", () => {
        expect(closest("prod-go", ["canary healthy", "Prod Go", "prod gone", "rollout complete"])).toEqual([
            "Prod Go",
            "prod gone",
        ]);
    });
});

describe("the repository's stacks", () => {
    it.each(["dev", "prod"])("Pulumi.%s.yaml is valid", (stack) => {
        const file = loadStackFile(stack);
        const raw: RawStackConfig = { location: JSON.parse(JSON.stringify(file.config["azure-native:location"])) };
        for (const [k, v] of Object.entries(file.config)) {
            if (!k.startsWith("fleet-gates:")) continue;
            const key = k.slice("fleet-gates:".length) as keyof RawStackConfig;
            raw[key] = key === "environment" ? v : JSON.parse(v);
        }
        const m = parseStackConfig(raw, new Set(file.secretKeys));
        expect(m.environment).toBe(stack);
        expect(m.gates.length).toBeGreaterThanOrEqual(2);
    });

    it("dev: 3 members in 2 groups, 1 stage, 2 gates, a rule for each", () => {
        const file = loadStackFile("dev");
        const members = JSON.parse(file.config["fleet-gates:members"]!) as { group: string }[];
        const strategy = JSON.parse(file.config["fleet-gates:updateStrategy"]!) as { stages: unknown[] };
        const m = parseStackConfig({
            location: "westeurope",
            environment: "dev",
            fleet: JSON.parse(file.config["fleet-gates:fleet"]!),
            members,
            updateStrategy: strategy,
            approvals: JSON.parse(file.config["fleet-gates:approvals"]!),
            placements: JSON.parse(file.config["fleet-gates:placements"]!),
        });
        expect(members).toHaveLength(3);
        expect(new Set(members.map((x) => x.group)).size).toBe(2);
        expect(strategy.stages).toHaveLength(1);
        expect(m.gates).toHaveLength(2);
        // A rule for each Fleet gate, one for the approval requests of placement "web".
        expect(m.approvals.map((r) => r.match.placement ?? null)).toEqual([null, null, "web"]);
        expect(m.approvals.map((r) => r.name)).toEqual(["sales-check", "blue-healthy", "web-ring1"]);
        expect(m.placements.map((p) => p.name)).toEqual(["web"]);
    });
});
