/**
 * `npm run plan`: the dev and prod stacks planned under Pulumi's mocks (members, groups, strategy,
 * gate subscriptions, the handler's roles and rules), names stable across reorders, secrets redacted, any
 * program via --program, and the CLI's exit codes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../config";
import { BUILTIN_ROLES, HANDLER_CUSTOM_ROLE_ACTIONS, roleGuidOf } from "../core/roles";
import { main } from "../local/cli";
import { OFFLINE_DEFAULTS, ProgramError, SECRET_PLACEHOLDER, type PlannedResource } from "../local/plan/mocks";
import { planJson, planStack, PROJECT_ROOT, type Plan } from "../local/plan/plan";

const SUB = OFFLINE_DEFAULTS.subscriptionId;

function tempStack(name: string, mutate: (config: Record<string, any>) => void): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-plan-"));
    const doc = parse(readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8")) as {
        config: Record<string, any>;
    };
    mutate(doc.config);
    writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), stringify(doc));
    return dir;
}

const ofType = (p: Plan, type: string) => p.resources.filter((r) => r.type === type);
const named = (p: Plan, name: string): PlannedResource => {
    const r = p.resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource ${name}`);
    return r;
};
const generic = (p: Plan, resourceType: string) =>
    ofType(p, "pulumi-nodejs:dynamic/fleet-gates:ArmResource").filter((r) => r.inputs.resourceType === resourceType);

describe("plan of the dev stack", () => {
    let dev: Plan;
    beforeAll(async () => {
        dev = await planStack("dev");
    });

    it("prints the DESIGN.md JSON shape with fully resolved inputs", () => {
        const json = planJson(dev, []);
        expect(Object.keys(json)).toEqual(["stack", "resources", "outputs", "policy"]);
        expect(json.stack).toBe("dev");
        expect(json.policy).toEqual({ violations: [] });
        for (const r of json.resources) {
            expect(Object.keys(r)).toEqual(["urn", "type", "name", "parent", "id", "inputs"]);
            expect(r.urn).toEqual(
                r.parent === null
                    ? `urn:pulumi:dev::fleet-gates::${r.type}::${r.name}`
                    : expect.stringMatching(
                          new RegExp(
                              `^urn:pulumi:dev::fleet-gates::.+\\$${r.type.replace(/[$/.]/g, "\\$&")}::${r.name}$`,
                          ),
                      ),
            );
        }
        // Nothing unresolved leaks into the plan.
        expect(JSON.stringify(json.resources)).not.toMatch(
            /Output<|\[object Object\]|04da6b54-80e4-46f7-96ec-b56ff0331ba9/,
        );
    });

    it("exports the fleet, strategy, topic, function app, handler principal and subscription names", () => {
        const fleetId = `/subscriptions/${SUB}/resourceGroups/rg-fleet-dev/providers/Microsoft.ContainerService/fleets/flt-dev`;
        expect(dev.outputs).toMatchObject({
            fleetId,
            strategyId: `${fleetId}/updateStrategies/gated-rollout`,
            autoUpgradeProfileId: `${fleetId}/autoUpgradeProfiles/gated-rollout`,
            topicId: named(dev, "gate-events-topic").id,
            functionAppName: named(dev, "handler-app").inputs.name,
            handlerPrincipalId: named(dev, "handler-identity").outputs.principalId,
            subscriptionNames: ["gate-blue-healthy", "gate-lifecycle", "gate-sales-check"],
        });
    });

    it("creates 3 member clusters and fleet members in 2 groups, labels as given", () => {
        const members = generic(dev, "members");
        expect(members.map((m) => [m.inputs.resourceName, (m.inputs.properties as any).group])).toEqual([
            ["aks-dev-blue-1", "blue"],
            ["aks-dev-blue-2", "blue"],
            ["aks-dev-green-1", "green"],
        ]);
        for (const m of members) {
            const cluster = named(dev, `fleet-${String(m.inputs.resourceName)}`);
            expect((m.inputs.properties as any).clusterResourceId).toBe(cluster.id);
            expect(m.inputs.parentResourcePath).toBe("fleets/flt-dev");
            expect(m.inputs.apiVersion).toBe("2026-06-01");
            expect(cluster.inputs).toMatchObject({
                disableLocalAccounts: true,
                aadProfile: { managed: true, enableAzureRBAC: true },
                identity: { type: "SystemAssigned" },
            });
        }
    });

    it("creates the strategy after every fleet member (its groups must exist)", () => {
        const [strategy] = generic(dev, "updateStrategies");
        for (const m of generic(dev, "members")) expect(strategy!.dependencies).toContain(m.urn);
    });

    it("routes the rules' gates to the deployed function, after the code is deployed", () => {
        const app = named(dev, "handler-app");
        const publish = ofType(dev, "pulumi-nodejs:dynamic/fleet-gates:HandlerPublish")[0]!;
        const subs = ofType(dev, "azure-native:eventgrid:SystemTopicEventSubscription");
        // The gate subscriptions on the AKSResources topic, and one per member on its ManagedClusters topic.
        expect(subs.map((s) => s.inputs.eventSubscriptionName).sort()).toEqual([
            "aks-upgrade-events",
            "aks-upgrade-events",
            "aks-upgrade-events",
            "gate-blue-healthy",
            "gate-lifecycle",
            "gate-sales-check",
        ]);
        for (const s of subs) {
            expect(s.dependencies).toContain(publish.urn);
            expect((s.inputs.destination as any).resourceId).toBe(`${app.id}/functions/gate-event`);
            expect((s.inputs.deadLetterWithResourceIdentity as any).deadLetterDestination.resourceId).toBe(
                named(dev, "handler-storage").id,
            );
        }
    });

    it("hands the handler the fleet id and the same rules the filters were compiled from", () => {
        const settings = ofType(dev, "azure-native:web:WebAppApplicationSettings")[0]!.inputs.properties as Record<
            string,
            string
        >;
        expect(settings.FLEET_ID).toBe(dev.outputs.fleetId);
        expect(JSON.parse(settings.APPROVAL_RULES!)).toEqual([
            {
                name: "sales-check",
                match: { displayName: "Check with sales team", stage: "dev", timing: "Before" },
                checks: [
                    { type: "clusterHealth" },
                    {
                        type: "window",
                        days: ["Mon", "Tue", "Wed", "Thu"],
                        hours: "09:00-16:00",
                        timeZone: "Europe/Berlin",
                    },
                ],
            },
            {
                name: "blue-healthy",
                match: { displayName: "blue healthy", stage: "dev", group: "blue", timing: "After" },
                checks: [{ type: "clusterHealth" }],
            },
            {
                // Placement rules travel with the gate rules: the handler decides hub approval requests too.
                name: "web-ring1",
                match: { placement: "web", stage: "ring1", timing: "After" },
                checks: [{ type: "placementAvailable" }, { type: "clusterHealth" }],
            },
        ]);
    });

    it("grants the subscribers group the subscriber role and Reader at the subscription", () => {
        const grants = ofType(dev, "azure-native:authorization:RoleAssignment")
            .filter((r) => r.inputs.scope === `/subscriptions/${SUB}`)
            .map((r) => roleGuidOf(String(r.inputs.roleDefinitionId)))
            .sort();
        expect(grants).toEqual([BUILTIN_ROLES.resourceNotificationsSubscriber, BUILTIN_ROLES.reader].sort());
    });
});

describe("plan of the prod stack", () => {
    let prod: Plan;
    beforeAll(async () => {
        prod = await planStack("prod");
    });

    it("shows every resource of the design", () => {
        const count = (t: string) => ofType(prod, t).length;
        expect(count("azure-native:containerservice:ManagedCluster")).toBe(7);
        expect(generic(prod, "members")).toHaveLength(7);
        expect(generic(prod, "updateStrategies")).toHaveLength(1);
        expect(generic(prod, "autoUpgradeProfiles")).toHaveLength(1);
        expect(count("azure-native:containerservice:Fleet")).toBe(1);
        // The AKSResources topic and its 6 subscriptions; a ManagedClusters topic and subscription per member.
        expect(count("azure-native:eventgrid:SystemTopic")).toBe(1 + 7);
        expect(count("azure-native:eventgrid:SystemTopicEventSubscription")).toBe(6 + 7);
        expect(count("azure-native:web:WebApp")).toBe(1);
        expect(count("azuread:index/group:Group")).toBe(2);
    });

    it("gives the handler the custom role at the fleet (roleScope: custom-role)", () => {
        const defs = ofType(prod, "azure-native:authorization:RoleDefinition");
        const handlerRole = defs.find((d) =>
            (d.inputs.permissions as any)[0].actions.includes("Microsoft.ContainerService/fleets/read"),
        )!;
        expect((handlerRole.inputs.permissions as any)[0].actions).toEqual([...HANDLER_CUSTOM_ROLE_ACTIONS]);
        // Assignable in the fleet's resource group (Azure refuses a resource there), assigned at the fleet.
        expect(handlerRole.inputs.assignableScopes).toEqual([
            String(prod.outputs.fleetId).replace(/\/providers\/Microsoft\.ContainerService\/fleets\/[^/]+$/, ""),
        ]);
        const fleetScoped = ofType(prod, "azure-native:authorization:RoleAssignment").filter(
            (r) => r.inputs.scope === prod.outputs.fleetId && r.inputs.principalId === prod.outputs.handlerPrincipalId,
        );
        expect(fleetScoped.map((r) => r.inputs.roleDefinitionId)).toEqual([handlerRole.id]);
        const holdsContributor = ofType(prod, "azure-native:authorization:RoleAssignment").some(
            (r) => roleGuidOf(String(r.inputs.roleDefinitionId)) === BUILTIN_ROLES.fleetManagerContributor,
        );
        expect(holdsContributor).toBe(false);
    });

    it("places members in their own regions", () => {
        expect(named(prod, "fleet-aks-prod-eus-1").inputs.location).toBe("eastus");
        expect(named(prod, "fleet-aks-prod-weu-1").inputs.location).toBe("westeurope");
    });
});

describe("plan failures and guarantees", () => {
    it("fails a stack whose rule names no gate, naming the rule and the closest gate", async () => {
        const dir = tempStack("typo", (c) => {
            c["fleet-gates:approvals"][0].match.displayName = "Check with sales teams";
        });
        const err = await planStack("typo", { dir }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems).toEqual([
            'fleet-gates:approvals[0] "sales-check" matches no gate of the strategy; closest gates: "Check with sales team" (stage dev, Before), "blue healthy" (stage dev, group blue, After)',
        ]);
    });

    it("plans an hourly sweep (handler.sweepMinutes 60, which config accepts) as the top of every hour", async () => {
        const dir = tempStack("hourly", (c) => {
            c["fleet-gates:handler"] = { ...(c["fleet-gates:handler"] ?? {}), sweepMinutes: 60 };
        });
        const p = await planStack("hourly", { dir });
        const settings = named(p, "handler-app-settings").inputs.properties as Record<string, unknown>;
        expect(settings.SWEEP_SCHEDULE).toBe("0 0 * * * *");
    });

    it("keeps names and inputs stable when members are reordered", async () => {
        const dir = tempStack("reordered", (c) => c["fleet-gates:members"].reverse());
        const [a, b] = [await planStack("dev"), await planStack("reordered", { dir })];
        const byUrn = (p: Plan) =>
            new Map(p.resources.map((r) => [r.urn.replace(/^urn:pulumi:[^:]+::/, ""), JSON.stringify(r.inputs)]));
        const [ma, mb] = [byUrn(a), byUrn(b)];
        expect([...mb.keys()].sort()).toEqual([...ma.keys()].sort());
        for (const [urn, inputs] of ma) {
            if (urn.includes("HandlerPublish")) continue; // carries the serialized provider code only
            expect(mb.get(urn), urn).toBe(inputs);
        }
    });

    it("keeps a secure value secret: placeholder offline, redacted in the plan", async () => {
        const dir = tempStack("secret", (c) => {
            c["fleet-gates:handler"].notifyWebhookUrl = { secure: "v1:AAAAbm90LWEtcmVhbC1jaXBoZXJ0ZXh0" };
        });
        const p = await planStack("secret", { dir });
        expect(p.stackFile.secretKeys).toEqual(["fleet-gates:handler"]);
        const settings = ofType(p, "azure-native:web:WebAppApplicationSettings")[0]!;
        expect(JSON.stringify(settings.inputs)).toContain(SECRET_PLACEHOLDER);
        expect(JSON.stringify(p.resources)).not.toMatch(/offline\.invalid|v1:AAAA/);
    });

    it("runs any Pulumi TypeScript program with --program, and fails loudly on an unknown invoke", async () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-prog-"));
        const ok = path.join(dir, "ok.ts");
        writeFileSync(
            ok,
            `import * as resources from "@pulumi/azure-native/resources";\n` +
                `const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-mine" });\n` +
                `export const rgId = rg.id;\n`,
        );
        const p = await planStack("dev", { program: ok });
        expect(p.resources.map((r) => r.type)).toEqual(["azure-native:resources:ResourceGroup"]);
        expect(p.outputs).toEqual({ rgId: `/subscriptions/${SUB}/resourceGroups/rg-mine` });

        const bad = path.join(dir, "bad.ts");
        writeFileSync(
            bad,
            `import * as resources from "@pulumi/azure-native/resources";\n` +
                `export const rg = resources.getResourceGroupOutput({ resourceGroupName: "rg-x" }).id;\n`,
        );
        const err = await planStack("dev", { program: bad }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ProgramError);
        expect((err as Error).message).toContain(
            'no mock answers the invoke "azure-native:resources:getResourceGroup"',
        );
    });

    it("reports an exception inside an apply instead of planning a partial graph", async () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-prog-"));
        const file = path.join(dir, "throws.ts");
        writeFileSync(
            file,
            `import * as resources from "@pulumi/azure-native/resources";\n` +
                `const rg = new resources.ResourceGroup("rg", { resourceGroupName: "rg-x" });\n` +
                `new resources.ResourceGroup("rg2", { resourceGroupName: rg.name.apply((n) => { throw new Error("no " + n); }) });\n`,
        );
        await expect(planStack("dev", { program: file })).rejects.toThrow(/the program failed:\n {2}- .*no rg-x/);
    });
});

describe("npm run plan (CLI)", () => {
    it("exits 1 with the config error for a mistyped rule", async () => {
        const dir = tempStack("typo2", (c) => {
            c["fleet-gates:approvals"][0].match.displayName = "Check with sales teams";
        });
        const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
        const cwd = process.cwd();
        try {
            process.chdir(dir);
            const code = await main(["plan", "--stack", "nope"]);
            expect(code).toBe(1);
            expect(String(stderr.mock.calls.at(-1)?.[0])).toBe(
                `no stack file Pulumi.nope.yaml in ${path.basename(PROJECT_ROOT)}\n`,
            );
        } finally {
            process.chdir(cwd);
            stderr.mockRestore();
        }
    });

    it("exits 2 on a usage error", async () => {
        const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
        try {
            expect(await main(["plan", "--stak", "dev"])).toBe(2);
            expect(stderr.mock.calls.map((c) => String(c[0])).join("")).toContain("unknown option '--stak'");
        } finally {
            stderr.mockRestore();
        }
    });
});
