/**
 * Every key of a stack file is accounted for: a key of the project's namespace that is not a setting
 * is an error naming the closest setting, reported with every other problem; keys of other
 * namespaces are left to their owners, except the Azure identities whose values are checked; a
 * secret is named, never shown. For both projects: `fleet-gates:` and `fleet-gates-bootstrap:`.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { BOOTSTRAP_KEYS, BootstrapConfigError, parseBootstrapConfigMap, type StackTarget } from "../bootstrap/config";
import { CONFIG_KEYS, ConfigError, configKeyProblems, configValue, parseConfigMap } from "../config";
import { PROJECT_ROOT } from "../local/plan/plan";
import { loadStackFile, OFFLINE_SECRET_VALUE, parseStackYaml } from "../local/plan/stack-file";

const SETTINGS = [
    "approvals",
    "autoUpgrade",
    "environment",
    "fleet",
    "handler",
    "members",
    "placements",
    "systemTopic",
];
const SUB = "11111111-2222-4333-8444-555555555555";
const TENANT = "66666666-7777-4888-9999-aaaaaaaaaaaa";

describe("configKeyProblems", () => {
    it.each<[string, Record<string, string>, string[], string[]]>([
        ["settings only", { "fleet-gates:handler": "{}", "fleet-gates:environment": "dev" }, [], []],
        [
            "a typo",
            { "fleet-gates:handlr": "{}" },
            [],
            ["fleet-gates:handlr is not a setting of fleet-gates (did you mean fleet-gates:handler?)"],
        ],
        [
            "another case",
            { "fleet-gates:SystemTopic": "{}" },
            [],
            ["fleet-gates:SystemTopic is not a setting of fleet-gates (did you mean fleet-gates:systemTopic?)"],
        ],
        [
            "an abbreviation",
            { "fleet-gates:auto": "{}" },
            [],
            ["fleet-gates:auto is not a setting of fleet-gates (did you mean fleet-gates:autoUpgrade?)"],
        ],
        [
            "nothing close: the settings listed",
            { "fleet-gates:rollout": "[]" },
            [],
            [
                "fleet-gates:rollout is not a setting of fleet-gates (settings: approvals, autoUpgrade, environment, fleet, handler, members, placements, systemTopic)",
            ],
        ],
        [
            "several, in key order",
            { "fleet-gates:membrs": "[]", "fleet-gates:aprovals": "[]" },
            [],
            [
                "fleet-gates:aprovals is not a setting of fleet-gates (did you mean fleet-gates:approvals?)",
                "fleet-gates:membrs is not a setting of fleet-gates (did you mean fleet-gates:members?)",
            ],
        ],
        [
            "other namespaces left alone",
            {
                "azure-native:location": "westeurope",
                "azure-native:clientId": "x",
                "azure-native:locaton": "westeurope",
                "azuread:tenantId": "contoso.onmicrosoft.com",
                "pulumi:tags": '{"team":"platform"}',
                "fleet-gates-bootstrap:repository": "contoso/x",
                "fleet-gatesx:handler": "{}",
            },
            [],
            [],
        ],
        [
            "Azure identities that are GUIDs",
            { "azure-native:subscriptionId": SUB, "azure-native:tenantId": TENANT },
            [],
            [],
        ],
        [
            "Azure identities that are not GUIDs",
            { "azure-native:subscriptionId": "my-subscription", "azure-native:tenantId": "contoso" },
            [],
            [
                'azure-native:subscriptionId "my-subscription" must be a GUID',
                'azure-native:tenantId "contoso" must be a GUID',
            ],
        ],
        [
            "a secret Azure identity is not read (offline it is a placeholder)",
            { "azure-native:subscriptionId": OFFLINE_SECRET_VALUE },
            ["azure-native:subscriptionId"],
            [],
        ],
    ])("%s", (_label, config, secretKeys, expected) => {
        expect(configKeyProblems(config, "fleet-gates", SETTINGS, new Set(secretKeys))).toEqual(expected);
    });
});

describe("configValue", () => {
    it.each<[string, z.ZodType, string | undefined, unknown]>([
        ["a string setting keeps its text", z.string(), "123", "123"],
        ["through optional and default", z.string().optional().default("x"), "true", "true"],
        ["a list is JSON", z.array(z.string()), '["dev","prod"]', ["dev", "prod"]],
        ["a map is JSON", z.object({ a: z.number() }).optional(), '{"a":1}', { a: 1 }],
        ["text that is not JSON is left for the schema", z.array(z.string()), "dev", "dev"],
        ["unset", z.string(), undefined, undefined],
    ])("%s", (_label, schema, text, expected) => {
        expect(configValue(text, schema)).toEqual(expected);
    });
});

/** The dev stack's config map, every setting given (systemTopic added), as the program sees it. */
function devConfig(): Record<string, string> {
    return {
        ...loadStackFile("dev").config,
        "fleet-gates:systemTopic": JSON.stringify({ existingName: "aks-events", existingResourceGroup: "rg-events" }),
        "fleet-gates:handler": JSON.stringify({ roleScope: "fleet", sweepMinutes: 5 }),
    };
}

function problemsOf(run: () => unknown): string[] {
    try {
        run();
    } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return [...(e as ConfigError).problems];
    }
    return [];
}

const LOCATION_EMPTY = 'azure-native:location "" must be at least 1 character';

describe("parseConfigMap: a mistyped setting", () => {
    it("accepts the full stack (the fixture below is valid)", () => {
        const m = parseConfigMap(devConfig());
        expect(m.systemTopic).toEqual({ existingName: "aks-events", existingResourceGroup: "rg-events" });
    });

    /** [setting, as written, required]: each row renames one setting and empties the location too. */
    const ROWS: [string, string, boolean][] = [
        ["environment", "enviroment", true],
        ["fleet", "flet", true],
        ["members", "member", true],
        ["updateStrategy", "updateStrategey", true],
        ["autoUpgrade", "autoUpgrad", false],
        ["approvals", "approvls", false],
        ["handler", "handlr", false],
        ["systemTopic", "systemTopc", false],
        ["placements", "placemnts", false],
        ["upgradeEvents", "upgradeEvent", false],
    ];

    it("has one row per setting of the schema", () => {
        expect(ROWS.map(([k]) => k).sort()).toEqual([...CONFIG_KEYS].sort());
    });

    it.each(ROWS)("fleet-gates:%s written as %s", (key, written, required) => {
        const config = devConfig();
        config[`fleet-gates:${written}`] = config[`fleet-gates:${key}`]!;
        delete config[`fleet-gates:${key}`];
        config["azure-native:location"] = "";
        expect(problemsOf(() => parseConfigMap(config))).toEqual([
            `fleet-gates:${written} is not a setting of fleet-gates (did you mean fleet-gates:${key}?)`,
            LOCATION_EMPTY,
            ...(required ? [`fleet-gates:${key} is required`] : []),
        ]);
    });

    it("is reported with the cross-section problems of a stack that otherwise parses", () => {
        const config = devConfig();
        config["fleet-gates:handlr"] = config["fleet-gates:handler"]!;
        delete config["fleet-gates:handler"];
        const members = JSON.parse(config["fleet-gates:members"]!) as { group: string }[];
        members[2]!.group = "blu";
        config["fleet-gates:members"] = JSON.stringify(members);
        expect(problemsOf(() => parseConfigMap(config))).toEqual([
            "fleet-gates:handlr is not a setting of fleet-gates (did you mean fleet-gates:handler?)",
            'fleet-gates:members[2].group "blu" is not a group of any stage (groups: blue, green)',
            'fleet-gates:updateStrategy.stages[0].groups[1].name "green" has no members (set members[].group to it)',
        ]);
    });

    it("passes a valid stack with keys of other namespaces", () => {
        const config = {
            ...devConfig(),
            "azure-native:subscriptionId": SUB,
            "azure-native:tenantId": TENANT,
            "azure-native:clientId": "not-checked-here",
            "azuread:tenantId": TENANT,
            "pulumi:tags": '{"team":"platform"}',
        };
        expect(problemsOf(() => parseConfigMap(config))).toEqual([]);
    });

    it("checks the Azure identities the offline engine reads", () => {
        const config = { ...devConfig(), "azure-native:subscriptionId": "prod-subscription" };
        expect(problemsOf(() => parseConfigMap(config))).toEqual([
            'azure-native:subscriptionId "prod-subscription" must be a GUID',
        ]);
    });
});

describe("secrets in config errors", () => {
    const CIPHERTEXT = "v1:9Qm2c2VjcmV0LWNpcGhlcnRleHQ=";
    const PLAINTEXT = "https://hooks.example.com/services/T000/B000/plaintext-token";

    it("names a secret under an unknown key, never its ciphertext or placeholder (stack file)", () => {
        const text = [
            readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8").trimEnd(),
            "  fleet-gates:handlr:",
            "    notifyWebhookUrl:",
            `      secure: ${CIPHERTEXT}`,
        ].join("\n");
        const file = parseStackYaml(text, "t");
        expect(file.secretKeys).toEqual(["fleet-gates:handlr"]);
        let err: unknown;
        try {
            parseConfigMap(file.config, file.secretKeys);
        } catch (e) {
            err = e;
        }
        expect(err).toBeInstanceOf(ConfigError);
        const message = (err as Error).message;
        expect(message).toContain(
            "fleet-gates:handlr is not a setting of fleet-gates (did you mean fleet-gates:handler?)",
        );
        expect(message).not.toContain(CIPHERTEXT);
        expect(message).not.toContain(OFFLINE_SECRET_VALUE);
    });

    it("names a secret under an unknown key, never its plaintext (as pulumi up holds it)", () => {
        const config = {
            ...devConfig(),
            "fleet-gates:handlr": JSON.stringify({ notifyWebhookUrl: PLAINTEXT }),
            "fleet-gates:notifyWebhook": PLAINTEXT,
        };
        let err: unknown;
        try {
            parseConfigMap(config, ["fleet-gates:handlr", "fleet-gates:notifyWebhook"]);
        } catch (e) {
            err = e;
        }
        expect((err as ConfigError).problems).toHaveLength(2);
        expect((err as Error).message).not.toContain("plaintext-token");
    });

    it("shows a bad value under a secret setting as [secret]", () => {
        const config = {
            ...devConfig(),
            "fleet-gates:handler": JSON.stringify({ notifyWebhookUrl: "http://hooks.example.com/plaintext-token" }),
        };
        expect(problemsOf(() => parseConfigMap(config, ["fleet-gates:handler"]))).toEqual([
            "fleet-gates:handler.notifyWebhookUrl [secret] must be an https URL",
        ]);
        // The same value in plain text is shown, as every other config mistake.
        expect(problemsOf(() => parseConfigMap(config))).toEqual([
            'fleet-gates:handler.notifyWebhookUrl "http://hooks.example.com/plaintext-token" must be an https URL',
        ]);
    });
});

describe("parseBootstrapConfigMap", () => {
    const DEV: StackTarget = {
        stack: "dev",
        resourceGroupName: "rg-fleet-dev",
        fleetName: "flt-dev",
        handlerRoleScope: "fleet",
    };
    const readFake = (s: string): StackTarget => {
        if (s !== "dev") throw new Error(`no stack file Pulumi.${s}.yaml`);
        return { ...DEV, stack: s };
    };
    const bootstrapConfig = (): Record<string, string> => ({
        "fleet-gates-bootstrap:repository": "contoso/fleet-gates",
        "fleet-gates-bootstrap:stacks": '["dev"]',
        "fleet-gates-bootstrap:deployBranches": '["main"]',
        "fleet-gates-bootstrap:namePrefix": "fg-dev",
        "fleet-gates-bootstrap:owners": `["${TENANT}"]`,
    });
    const problems = (config: Record<string, string>, secretKeys: string[] = []): string[] => {
        try {
            parseBootstrapConfigMap(config, secretKeys, readFake);
        } catch (e) {
            expect(e).toBeInstanceOf(BootstrapConfigError);
            return [...(e as BootstrapConfigError).problems];
        }
        return [];
    };

    it("reads every setting from the config map; a string setting stays a string", () => {
        expect(parseBootstrapConfigMap(bootstrapConfig(), [], readFake)).toEqual({
            repository: { owner: "contoso", name: "fleet-gates" },
            stacks: [DEV],
            deployBranches: ["main"],
            namePrefix: "fg-dev",
            owners: [TENANT],
        });
        const numeric = { ...bootstrapConfig(), "fleet-gates-bootstrap:namePrefix": "123" };
        expect(parseBootstrapConfigMap(numeric, [], readFake).namePrefix).toBe("123");
    });

    const ROWS: [string, string, boolean][] = [
        ["repository", "repo", true],
        ["stacks", "stack", true],
        ["deployBranches", "deployBranch", false],
        ["namePrefix", "nameprefx", false],
        ["owners", "owner", false],
    ];

    it("has one row per setting of the schema", () => {
        expect(ROWS.map(([k]) => k).sort()).toEqual([...BOOTSTRAP_KEYS].sort());
    });

    it.each(ROWS)("fleet-gates-bootstrap:%s written as %s", (key, written, required) => {
        const config = bootstrapConfig();
        config[`fleet-gates-bootstrap:${written}`] = config[`fleet-gates-bootstrap:${key}`]!;
        delete config[`fleet-gates-bootstrap:${key}`];
        // Another problem, still listed.
        config["azure-native:tenantId"] = "contoso";
        expect(problems(config)).toEqual([
            `fleet-gates-bootstrap:${written} is not a setting of fleet-gates-bootstrap (did you mean fleet-gates-bootstrap:${key}?)`,
            'azure-native:tenantId "contoso" must be a GUID',
            ...(required ? [`fleet-gates-bootstrap:${key} is required`] : []),
        ]);
    });

    it("passes a valid stack with keys of other namespaces, the fleet-gates stacks' keys among them", () => {
        const config = {
            ...bootstrapConfig(),
            "azure-native:subscriptionId": SUB,
            "azuread:tenantId": TENANT,
            "pulumi:tags": "{}",
            "fleet-gates:handlr": "{}",
        };
        expect(problems(config)).toEqual([]);
    });

    it("names a secret under an unknown key, never its value", () => {
        const config = { ...bootstrapConfig(), "fleet-gates-bootstrap:ownerz": '["plaintext-owner-secret"]' };
        let err: unknown;
        try {
            parseBootstrapConfigMap(config, ["fleet-gates-bootstrap:ownerz"], readFake);
        } catch (e) {
            err = e;
        }
        expect((err as BootstrapConfigError).problems).toEqual([
            "fleet-gates-bootstrap:ownerz is not a setting of fleet-gates-bootstrap (did you mean fleet-gates-bootstrap:owners?)",
        ]);
        expect((err as Error).message).not.toContain("plaintext-owner-secret");
    });
});
