/**
 * The `pulumi preview`/`up` path: the entry points validate every key of the config the runtime
 * holds before they create anything. Once in-process under Pulumi's mocks, once in a fresh process
 * given its config the way the CLI's language host passes it (`PULUMI_CONFIG`,
 * `PULUMI_CONFIG_SECRET_KEYS`), and through `npm run plan` on a stack file.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import { ConfigError } from "../config";
import { main } from "../local/cli";
import { loadStackFile } from "../local/plan/stack-file";

const ROOT = path.resolve(__dirname, "..");
const PLAINTEXT = "https://hooks.example.com/services/T000/B000/plaintext-token";

/** The dev stack's config with `handler` written as `handlr`, holding a webhook secret. */
function mistypedDev(): Record<string, string> {
    const config = { ...loadStackFile("dev").config };
    delete config["fleet-gates:handler"];
    config["fleet-gates:handlr"] = JSON.stringify({ sweepMinutes: 5, notifyWebhookUrl: PLAINTEXT });
    return config;
}

const HANDLR = "fleet-gates:handlr is not a setting of fleet-gates (did you mean fleet-gates:handler?)";

describe("index.ts under Pulumi's mocks", () => {
    it("throws the unknown key before it registers any resource", async () => {
        const registered: string[] = [];
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => {
                    registered.push(args.type);
                    return { id: `${args.name}-id`, state: args.inputs as Record<string, unknown> };
                },
                call: (args) => args.inputs as Record<string, unknown>,
            },
            "fleet-gates",
            "dev",
            true,
        );
        pulumi.runtime.setAllConfig(mistypedDev(), ["fleet-gates:handlr"]);
        let err: unknown;
        try {
            await import("../index");
        } catch (e) {
            err = e;
        }
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems).toEqual([HANDLR]);
        expect((err as Error).message).not.toContain("plaintext-token");
        expect(registered).toEqual([]);
    });
});

describe("entry points given config as the Pulumi CLI passes it", () => {
    const run = (entry: string, config: Record<string, string>, secretKeys: string[]) =>
        spawnSync(process.execPath, ["--import", "tsx", entry], {
            cwd: ROOT,
            encoding: "utf8",
            timeout: 120_000,
            env: {
                ...process.env,
                PULUMI_CONFIG: JSON.stringify(config),
                PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(secretKeys),
            },
        });

    it("index.ts: exits with every problem, the unknown key named and its secret not shown", () => {
        const config = mistypedDev();
        // The language host's older key form, `<namespace>:config:<key>`, is read the same.
        config["fleet-gates:config:enviroment"] = config["fleet-gates:environment"]!;
        delete config["fleet-gates:environment"];
        const r = run("index.ts", config, ["fleet-gates:handlr"]);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("ConfigError: invalid stack config (3 problems):");
        expect(r.stderr).toContain(
            "fleet-gates:enviroment is not a setting of fleet-gates (did you mean fleet-gates:environment?)",
        );
        expect(r.stderr).toContain(HANDLR);
        expect(r.stderr).toContain("fleet-gates:environment is required");
        expect(r.stderr + r.stdout).not.toContain("plaintext-token");
    });

    it("bootstrap/index.ts: exits naming an unknown key of fleet-gates-bootstrap:", () => {
        const r = run(
            "bootstrap/index.ts",
            {
                "fleet-gates-bootstrap:repository": "contoso/fleet-gates",
                "fleet-gates-bootstrap:stacks": '["dev"]',
                "fleet-gates-bootstrap:ownerz": '["plaintext-owner-secret"]',
                "azure-native:subscriptionId": "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e",
            },
            ["fleet-gates-bootstrap:ownerz"],
        );
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain(
            "invalid bootstrap config:\n  - fleet-gates-bootstrap:ownerz is not a setting of fleet-gates-bootstrap (did you mean fleet-gates-bootstrap:owners?)\n",
        );
        expect(r.stderr + r.stdout).not.toContain("plaintext-owner-secret");
    });
});

describe("npm run plan", () => {
    it("exits 1 listing the mistyped key with every other problem", async () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-keys-"));
        const text = readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")
            .replace("fleet-gates:handler:", "fleet-gates:handlr:")
            .replace("group: green", "group: gren");
        writeFileSync(path.join(dir, "Pulumi.typo.yaml"), text);
        const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
        try {
            expect(await main(["plan", "--stack", "typo", "--dir", dir])).toBe(1);
            expect(stderr.mock.calls.map((c) => String(c[0])).join("")).toContain(
                [
                    "invalid stack config (3 problems):",
                    `  - ${HANDLR}`,
                    '  - fleet-gates:members[2].group "gren" is not a group of any stage (groups: blue, green)',
                    '  - fleet-gates:updateStrategy.stages[0].groups[1].name "green" has no members (set members[].group to it)',
                ].join("\n"),
            );
        } finally {
            stderr.mockRestore();
        }
    });
});
