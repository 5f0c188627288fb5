/**
 * The GateHandler component under Pulumi's mocks, with the real handler package built: the handler
 * identity's roles, hardened storage and Flex Consumption function app, app settings with the webhook kept
 * secret, the package publish, and the argument rules.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    FLEX_DEPRECATED_APP_SETTINGS,
    functionAppName,
    GateHandler,
    handlerAppSettings,
    GateHandlerArgs,
    storageAccountName,
    sweepSchedule,
    validateGateHandlerArgs,
    validateMemberClusterIds,
} from "../components/gate-handler";
import { buildHandlerPackage, HandlerPackage } from "../components/handler-package";
import { fleetResourceGroupId } from "../core/arm-id";
import {
    BUILTIN_ROLES,
    deterministicGuid,
    HANDLER_CUSTOM_ROLE_ACTIONS,
    PRIVILEGED_ROLES,
    roleAssignmentGuid,
    roleDefinitionId,
    roleGuidOf,
} from "../core/roles";
import { OFFLINE_DEFAULTS, PlannedResource, runUnderMocks, SECRET_PLACEHOLDER } from "../local/plan/mocks";

const SUB = OFFLINE_DEFAULTS.subscriptionId;
const RG = "rg-fleet-dev";
const FLEET_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/flt-dev`;
const clusterId = (n: string) =>
    `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/managedClusters/${n}`;
const MEMBERS = ["aks-dev-blue", "aks-dev-green", "aks-dev-red"];
const WEBHOOK = "https://hooks.example.test/services/T000/B000/very-secret-token";
const TOKEN = "offline-arm-token-value";
const ENV = { ...OFFLINE_DEFAULTS, project: "fleet-gates", stack: "test", config: {}, secretKeys: [] };

let tmp: string;
let pkg: HandlerPackage;

beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gate-handler-"));
    pkg = buildHandlerPackage(tmp);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function baseArgs(over: Partial<GateHandlerArgs> = {}): GateHandlerArgs {
    const members = over.memberNames ?? MEMBERS;
    return {
        resourceGroupName: RG,
        location: "westeurope",
        environment: "dev",
        subscriptionId: SUB,
        fleetId: FLEET_ID,
        memberNames: members,
        memberClusterIds: Object.fromEntries(members.map((m) => [m, clusterId(m)])),
        rulesJson: JSON.stringify([{ name: "sales-check" }]),
        roleScope: "fleet",
        sweepMinutes: 5,
        escalateAfterMinutes: 240,
        notifyWebhookUrl: pulumi.secret(WEBHOOK),
        handlerPackage: pkg,
        publishToken: pulumi.secret(TOKEN),
        ...over,
    };
}

async function plan(args: GateHandlerArgs): Promise<PlannedResource[]> {
    const run = await runUnderMocks(() => {
        new GateHandler("handler", args);
    }, ENV);
    return run.resources;
}

const byType = (rs: PlannedResource[], type: string) => rs.filter((r) => r.type === type);
const one = (rs: PlannedResource[], type: string) => {
    const found = byType(rs, type);
    expect(found, type).toHaveLength(1);
    return found[0]!;
};
const named = (rs: PlannedResource[], name: string) => {
    const r = rs.find((x) => x.name === name);
    expect(r, name).toBeDefined();
    return r!;
};
/** The app settings collection: the WebAppApplicationSettings resource of the app. */
const settingsOf = (rs: PlannedResource[]) => {
    const app = one(rs, "azure-native:web:WebApp");
    const settings = one(rs, "azure-native:web:WebAppApplicationSettings");
    expect(settings.inputs.name).toBe(app.outputs.name);
    expect(settings.inputs.resourceGroupName).toBe(RG);
    return settings.inputs.properties as Record<string, unknown>;
};

describe("GateHandler under mocks", () => {
    let rs: PlannedResource[];
    beforeAll(async () => {
        rs = await plan(baseArgs());
    });

    it("registers one component of its type with every child parented to it", () => {
        const component = one(rs, "fleet-gates:handler:GateHandler");
        const children = rs.filter((r) => r !== component);
        expect(children.length).toBeGreaterThan(10);
        for (const c of children) {
            expect(c.parent, c.name).toBe(component.urn);
            expect(c.name.startsWith("handler-"), c.name).toBe(true);
        }
    });

    it("grants the handler identity exactly the DESIGN.md roles, as ServicePrincipal, with subscription-form role ids", () => {
        const identity = one(rs, "azure-native:managedidentity:UserAssignedIdentity");
        const principal = identity.outputs.principalId as string;
        const account = one(rs, "azure-native:storage:StorageAccount");
        const insights = one(rs, "azure-native:applicationinsights:Component");
        const assignments = byType(rs, "azure-native:authorization:RoleAssignment");
        const got = assignments.map((a) => ({
            role: roleGuidOf(a.inputs.roleDefinitionId as string),
            scope: a.inputs.scope,
            principal: a.inputs.principalId,
        }));
        const want = [
            { role: BUILTIN_ROLES.fleetManagerContributor, scope: FLEET_ID },
            ...MEMBERS.flatMap((m) => [
                { role: BUILTIN_ROLES.reader, scope: clusterId(m) },
                { role: BUILTIN_ROLES.monitoringReader, scope: clusterId(m) },
            ]),
            { role: BUILTIN_ROLES.storageBlobDataOwner, scope: account.id },
            { role: BUILTIN_ROLES.storageTableDataContributor, scope: account.id },
            { role: BUILTIN_ROLES.monitoringMetricsPublisher, scope: insights.id },
        ].map((w) => ({ ...w, principal }));
        expect(new Set(got.map((g) => JSON.stringify(g)))).toEqual(new Set(want.map((w) => JSON.stringify(w))));
        expect(got).toHaveLength(want.length);
        for (const a of assignments) {
            expect(a.inputs.principalType).toBe("ServicePrincipal");
            expect(a.inputs.roleDefinitionId).toBe(
                roleDefinitionId(SUB, roleGuidOf(a.inputs.roleDefinitionId as string)!),
            );
            expect(PRIVILEGED_ROLES).not.toContain(roleGuidOf(a.inputs.roleDefinitionId as string));
            // Known at preview: scope, role, the identity's id (not its principal id) and the logical key.
            expect(a.inputs.roleAssignmentName).toBe(
                roleAssignmentGuid(
                    a.inputs.scope as string,
                    a.inputs.roleDefinitionId as string,
                    identity.id!,
                    a.name.slice("handler-".length),
                ),
            );
        }
        expect(assignments.map((a) => a.name).sort()).toEqual(
            [
                "handler-fleet-manager",
                ...MEMBERS.flatMap((m) => [`handler-reader-${m}`, `handler-monitoring-reader-${m}`]),
                "handler-storage-blob-data-owner",
                "handler-storage-table-data-contributor",
                "handler-insights-publisher",
            ].sort(),
        );
        expect(new Set(assignments.map((a) => a.inputs.roleAssignmentName)).size).toBe(assignments.length);
        // No queue role: the app has no queue or blob triggers (see HANDLER_STORAGE_ROLES).
        expect(got.some((g) => g.role === BUILTIN_ROLES.storageQueueDataContributor)).toBe(false);
        expect(byType(rs, "azure-native:authorization:RoleDefinition")).toHaveLength(0);
    });

    it("hardens the storage account and creates the private deployment container", () => {
        const account = one(rs, "azure-native:storage:StorageAccount");
        expect(account.inputs).toMatchObject({
            kind: "StorageV2",
            sku: { name: "Standard_LRS" },
            allowSharedKeyAccess: false,
            allowBlobPublicAccess: false,
            minimumTlsVersion: "TLS1_2",
            enableHttpsTrafficOnly: true,
            resourceGroupName: RG,
        });
        expect(account.inputs.accountName).toMatch(/^[a-z0-9]{3,24}$/);
        const container = one(rs, "azure-native:storage:BlobContainer");
        expect(container.inputs).toMatchObject({
            accountName: account.outputs.name,
            containerName: "app-package",
            publicAccess: "None",
        });
    });

    it("creates workspace-based Application Insights with local auth disabled", () => {
        const workspace = one(rs, "azure-native:operationalinsights:Workspace");
        const insights = one(rs, "azure-native:applicationinsights:Component");
        expect(insights.inputs).toMatchObject({
            kind: "web",
            applicationType: "web",
            workspaceResourceId: workspace.id,
            disableLocalAuth: true,
        });
    });

    it("creates a Flex Consumption plan and a hardened Linux function app on it", () => {
        const plan = one(rs, "azure-native:web:AppServicePlan");
        expect(plan.inputs).toMatchObject({
            kind: "functionapp",
            reserved: true,
            sku: { name: "FC1", tier: "FlexConsumption" },
        });
        const app = one(rs, "azure-native:web:WebApp");
        const identity = one(rs, "azure-native:managedidentity:UserAssignedIdentity");
        const account = one(rs, "azure-native:storage:StorageAccount");
        expect(app.inputs).toMatchObject({
            kind: "functionapp,linux",
            serverFarmId: plan.id,
            httpsOnly: true,
            identity: { type: "UserAssigned", userAssignedIdentities: [identity.id] },
            functionAppConfig: {
                deployment: {
                    storage: {
                        type: "blobContainer",
                        value: `https://${account.outputs.name}.blob.core.windows.net/app-package`,
                        authentication: { type: "UserAssignedIdentity", userAssignedIdentityResourceId: identity.id },
                    },
                },
                runtime: { name: "node", version: "22" },
                scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 },
            },
        });
        // No siteConfig: azure-native would add netFrameworkVersion "v4.6", which Flex Consumption refuses.
        expect(app.inputs).not.toHaveProperty("siteConfig");
        const ftp = one(rs, "azure-native:web:WebAppFtpAllowed");
        expect(ftp.inputs).toMatchObject({ name: app.inputs.name, allow: false });
        expect(JSON.stringify(app.inputs)).not.toContain(SECRET_PLACEHOLDER);
        expect(app.inputs.name).toMatch(/^func-fleet-gates-dev-[0-9a-f]{6}$/);
    });

    it("keeps the webhook secret: the settings collection holding it is redacted, its text appears nowhere", () => {
        // The offline harness (like Pulumi's deserializer) lifts a nested secret to the whole
        // property, so the collection is "[secret]" as a whole here; the exact settings are
        // asserted on a run without webhook and on handlerAppSettings() below.
        expect(settingsOf(rs)).toBe(SECRET_PLACEHOLDER);
        expect(JSON.stringify(rs)).not.toContain("very-secret-token");
        expect(JSON.stringify(rs)).not.toContain(TOKEN);
    });

    it("disables basic publishing credentials for SCM and FTP", () => {
        const app = one(rs, "azure-native:web:WebApp");
        const scm = one(rs, "azure-native:web:WebAppScmAllowed");
        const ftp = one(rs, "azure-native:web:WebAppFtpAllowed");
        for (const policy of [scm, ftp])
            expect(policy.inputs).toEqual({ resourceGroupName: RG, name: app.outputs.name, allow: false });
        expect(scm.id).toBe(`${app.id}/basicPublishingCredentialsPolicies/scm`);
        expect(ftp.id).toBe(`${app.id}/basicPublishingCredentialsPolicies/ftp`);
    });

    it("publishes the built package after the app, its container, storage roles and publishing policies exist", () => {
        const app = one(rs, "azure-native:web:WebApp");
        const publish = one(rs, "pulumi-nodejs:dynamic/fleet-gates:HandlerPublish");
        expect(publish.name).toBe("handler-publish");
        expect(publish.inputs).toMatchObject({
            appId: app.id,
            scmBaseUrl: `https://${app.outputs.name}.scm.azurewebsites.net`,
            armBaseUrl: "https://management.azure.com",
            zipPath: pkg.zipPath,
            packageHash: pkg.sha256,
            functionNames: ["gate-event", "gate-sweep"],
            accessToken: SECRET_PLACEHOLDER,
        });
        const mustPrecede = [
            app,
            one(rs, "azure-native:storage:BlobContainer"),
            one(rs, "azure-native:web:WebAppApplicationSettings"),
            one(rs, "azure-native:web:WebAppScmAllowed"),
            one(rs, "azure-native:web:WebAppFtpAllowed"),
            named(rs, "handler-storage-blob-data-owner"),
        ];
        for (const r of mustPrecede) expect(publish.dependencies, r.name).toContain(r.urn);
        expect(typeof publish.inputs.__provider).toBe("string");
    });

    it("exposes the documented outputs, the Event Grid destination and the deployment", () => {
        const component = one(rs, "fleet-gates:handler:GateHandler");
        const app = one(rs, "azure-native:web:WebApp");
        const identity = one(rs, "azure-native:managedidentity:UserAssignedIdentity");
        const account = one(rs, "azure-native:storage:StorageAccount");
        const publish = one(rs, "pulumi-nodejs:dynamic/fleet-gates:HandlerPublish");
        expect(component.outputs).toMatchObject({
            functionAppName: app.outputs.name,
            functionAppId: app.id,
            eventFunctionId: `${app.id}/functions/gate-event`,
            principalId: identity.outputs.principalId,
            clientId: identity.outputs.clientId,
            identityId: identity.id,
            storageAccountId: account.id,
            storageAccountName: account.outputs.name,
        });
        // A resource reference: the harness renders it as the URN or the id, depending on the monitor.
        expect([publish.urn, publish.id]).toContain(component.outputs.deployment);
    });
});

describe("GateHandler variants", () => {
    it("custom-role: a role definition with exactly the handler actions, assignable in the fleet's resource group, assigned at the fleet only", async () => {
        const rs = await plan(baseArgs({ roleScope: "custom-role" }));
        const definition = one(rs, "azure-native:authorization:RoleDefinition");
        expect(definition.inputs).toMatchObject({
            scope: `/subscriptions/${SUB}`,
            roleType: "CustomRole",
            assignableScopes: [fleetResourceGroupId(FLEET_ID)],
            permissions: [
                { actions: [...HANDLER_CUSTOM_ROLE_ACTIONS], notActions: [], dataActions: [], notDataActions: [] },
            ],
        });
        expect(definition.inputs.roleDefinitionId).toBe(deterministicGuid(FLEET_ID, "fleet-gates-handler"));
        expect(definition.id).toBe(roleDefinitionId(SUB, definition.inputs.roleDefinitionId as string));
        const fleetAssignments = byType(rs, "azure-native:authorization:RoleAssignment").filter(
            (a) => a.inputs.scope === FLEET_ID,
        );
        expect(fleetAssignments).toHaveLength(1);
        expect(fleetAssignments[0]!.inputs.roleDefinitionId).toBe(definition.id);
        const identity = one(rs, "azure-native:managedidentity:UserAssignedIdentity");
        expect(fleetAssignments[0]!.name).toBe("handler-fleet-gates");
        expect(fleetAssignments[0]!.inputs.roleAssignmentName).toBe(
            roleAssignmentGuid(FLEET_ID, definition.id!, identity.id!, "fleet-gates"),
        );
        expect(fleetAssignments[0]!.dependencies).toContain(definition.urn);
        const guids = byType(rs, "azure-native:authorization:RoleAssignment").map((a) =>
            roleGuidOf(a.inputs.roleDefinitionId as string),
        );
        expect(guids).not.toContain(BUILTIN_ROLES.fleetManagerContributor);
    });

    it("replaces role assignments delete-first: their names do not change with the principal", async () => {
        const deleteFirst = new Map<string, boolean | undefined>();
        await runUnderMocks(() => {
            new GateHandler("handler", baseArgs({ roleScope: "custom-role" }), {
                transformations: [
                    (t) => {
                        if (t.type === "azure-native:authorization:RoleAssignment")
                            deleteFirst.set(t.name, (t.opts as pulumi.CustomResourceOptions).deleteBeforeReplace);
                        return undefined;
                    },
                ],
            });
        }, ENV);
        expect(deleteFirst.size).toBe(4 + 2 * MEMBERS.length);
        for (const [n, v] of deleteFirst) expect(v, n).toBe(true);
    });

    it("member-keyed assignment names and inputs do not change when members are reordered", async () => {
        const a = await plan(baseArgs());
        const reversed = [...MEMBERS].reverse();
        const b = await plan(
            baseArgs({
                memberNames: reversed,
                memberClusterIds: Object.fromEntries(reversed.map((m) => [m, clusterId(m)])),
            }),
        );
        const keyed = (rs: PlannedResource[]) =>
            new Map(
                byType(rs, "azure-native:authorization:RoleAssignment").map((r) => [r.name, JSON.stringify(r.inputs)]),
            );
        expect(keyed(b)).toEqual(keyed(a));
        for (const m of MEMBERS) {
            expect(keyed(a).has(`handler-reader-${m}`)).toBe(true);
            expect(keyed(a).has(`handler-monitoring-reader-${m}`)).toBe(true);
        }
    });

    it("sets exactly the identity-based app settings and none that Flex deprecates", async () => {
        const rs = await plan(baseArgs({ notifyWebhookUrl: undefined }));
        const identity = one(rs, "azure-native:managedidentity:UserAssignedIdentity");
        const account = one(rs, "azure-native:storage:StorageAccount");
        const insights = one(rs, "azure-native:applicationinsights:Component");
        const clientId = identity.outputs.clientId as string;
        expect(settingsOf(rs)).toEqual({
            AzureWebJobsStorage__accountName: account.outputs.name,
            AzureWebJobsStorage__credential: "managedidentity",
            AzureWebJobsStorage__clientId: clientId,
            APPLICATIONINSIGHTS_CONNECTION_STRING: insights.outputs.connectionString,
            APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `Authorization=AAD;ClientId=${clientId}`,
            AZURE_CLIENT_ID: clientId,
            FLEET_ID: FLEET_ID,
            SUBSCRIPTION_ID: SUB,
            APPROVAL_RULES: JSON.stringify([{ name: "sales-check" }]),
            SWEEP_SCHEDULE: "0 */5 * * * *",
            ESCALATE_AFTER_MINUTES: "240",
            METRICS_ENDPOINT: "https://{region}.metrics.monitor.azure.com",
        });
        for (const deprecated of FLEX_DEPRECATED_APP_SETTINGS) expect(settingsOf(rs)).not.toHaveProperty(deprecated);
    });

    it("handlerAppSettings adds NOTIFY_WEBHOOK_URL last, as a secret, whatever the caller passed", async () => {
        const base = {
            storageAccountName: "st",
            clientId: "cid",
            appInsightsConnectionString: "InstrumentationKey=k",
            fleetId: FLEET_ID,
            subscriptionId: SUB,
            rulesJson: "[]",
            sweepMinutes: 5,
            escalateAfterMinutes: 60,
        };
        const without = handlerAppSettings(base);
        const withHook = handlerAppSettings({ ...base, notifyWebhookUrl: WEBHOOK });
        expect(withHook.map((x) => x.name)).toEqual([...without.map((x) => x.name), "NOTIFY_WEBHOOK_URL"]);
        const hook = withHook.at(-1)!.value as pulumi.Output<string>;
        expect(pulumi.Output.isInstance(hook)).toBe(true);
        expect(await pulumi.isSecret(hook)).toBe(true);
        expect(without.some((x) => FLEX_DEPRECATED_APP_SETTINGS.includes(x.name))).toBe(false);
    });

    it("without a webhook there is no NOTIFY_WEBHOOK_URL; node 20 and the sweep period reach the app", async () => {
        const rs = await plan(
            baseArgs({ notifyWebhookUrl: undefined, nodeVersion: "20", sweepMinutes: 15, escalateAfterMinutes: 15 }),
        );
        const app = one(rs, "azure-native:web:WebApp");
        expect(settingsOf(rs)).not.toHaveProperty("NOTIFY_WEBHOOK_URL");
        expect(settingsOf(rs).SWEEP_SCHEDULE).toBe("0 */15 * * * *");
        expect(settingsOf(rs).ESCALATE_AFTER_MINUTES).toBe("15");
        expect((app.inputs.functionAppConfig as { runtime: unknown }).runtime).toEqual({ name: "node", version: "20" });
    });

    it("without publishToken no token is taken at program start: the publish takes one when it runs", async () => {
        const rs = await plan(baseArgs({ publishToken: undefined }));
        const publish = one(rs, "pulumi-nodejs:dynamic/fleet-gates:HandlerPublish");
        expect(publish.inputs).not.toHaveProperty("accessToken");
        expect(publish.inputs.packageHash).toBe(pkg.sha256);
    });

    it("a plain-string webhook is still stored as a secret", async () => {
        const rs = await plan(baseArgs({ notifyWebhookUrl: WEBHOOK }));
        expect(settingsOf(rs)).toBe(SECRET_PLACEHOLDER);
        expect(JSON.stringify(rs)).not.toContain("very-secret-token");
    });

    it("fails before registering children when memberClusterIds lacks a member or has one memberNames does not", async () => {
        await expect(plan(baseArgs({ memberClusterIds: { [MEMBERS[0]!]: clusterId(MEMBERS[0]!) } }))).rejects.toThrow(
            /no cluster id for member\(s\) "aks-dev-green", "aks-dev-red"/,
        );
        await expect(
            plan(
                baseArgs({
                    memberClusterIds: {
                        ...Object.fromEntries(MEMBERS.map((m) => [m, clusterId(m)])),
                        stray: clusterId("stray"),
                    },
                }),
            ),
        ).rejects.toThrow(/not in memberNames: stray/);
    });

    it.each([
        [["a", "b"], { a: "/a", b: "/b" }, undefined],
        [[], {}, undefined],
        [["a", "b"], { a: "/a" }, /no cluster id for member\(s\) "b"/],
        [["a"], { a: "" }, /no cluster id for member\(s\) "a"/],
        [["a"], { a: "/a", b: "/b" }, /not in memberNames: b/],
    ] as const)("validateMemberClusterIds(%j, %j)", (names, ids, error) => {
        if (error) expect(() => validateMemberClusterIds(names, ids)).toThrow(error);
        else expect(() => validateMemberClusterIds(names, ids)).not.toThrow();
    });
});

describe("GateHandler argument rules", () => {
    const valid = {
        environment: "dev",
        memberNames: MEMBERS,
        roleScope: "fleet",
        sweepMinutes: 5,
        escalateAfterMinutes: 240,
    } as const;

    it.each([
        [{ escalateAfterMinutes: 4 }, /escalateAfterMinutes 4 is shorter than sweepMinutes 5/],
        [{ sweepMinutes: 0 }, /sweepMinutes 0 must be/],
        [{ sweepMinutes: 61 }, /sweepMinutes 61 must be a whole number of minutes from 1 to 60/],
        [{ sweepMinutes: 2.5 }, /sweepMinutes 2.5 must be/],
        [{ escalateAfterMinutes: 0 }, /escalateAfterMinutes 0 must be/],
        [{ environment: "Dev Env" }, /environment "Dev Env"/],
        [{ roleScope: "subscription" }, /roleScope "subscription"/],
        [{ nodeVersion: "18" }, /nodeVersion "18"/],
        [{ memberNames: ["a", "A"] }, /memberNames: "A" appears twice/],
        [{ memberNames: ["ok", "bad/name"] }, /memberNames: "bad\/name"/],
    ])("rejects %j", (over, message) => {
        expect(() => validateGateHandlerArgs({ ...valid, ...over } as never)).toThrow(message);
    });

    it("accepts the boundaries", () => {
        expect(() => validateGateHandlerArgs({ ...valid, sweepMinutes: 1, escalateAfterMinutes: 1 })).not.toThrow();
        expect(() =>
            validateGateHandlerArgs({ ...valid, sweepMinutes: 59, escalateAfterMinutes: 59, nodeVersion: "20" }),
        ).not.toThrow();
        expect(() => validateGateHandlerArgs({ ...valid, memberNames: [] })).not.toThrow();
    });

    it("throws from the constructor before registering children", async () => {
        await expect(plan(baseArgs({ sweepMinutes: 30, escalateAfterMinutes: 10 }))).rejects.toThrow(
            /escalateAfterMinutes 10 is shorter than sweepMinutes 30/,
        );
    });

    it.each([
        [1, "0 */1 * * * *"],
        [5, "0 */5 * * * *"],
        [59, "0 */59 * * * *"],
        [60, "0 0 * * * *"],
    ])("sweepSchedule(%i)", (m, want) => {
        expect(sweepSchedule(m)).toBe(want);
    });

    it.each([
        ["dev", "seed-a"],
        ["production-westeurope", "seed-b"],
        ["a", ""],
    ])("names for %s are valid, stable and seed-dependent", (env, seed) => {
        const st = storageAccountName(env, seed);
        expect(st).toMatch(/^[a-z0-9]{3,24}$/);
        expect(storageAccountName(env, seed)).toBe(st);
        expect(storageAccountName(env, `${seed}x`)).not.toBe(st);
        const fn = functionAppName(env, seed);
        expect(fn).toMatch(/^func-fleet-gates-[a-z0-9-]+-[0-9a-f]{6}$/);
        expect(fn.length).toBeLessThanOrEqual(60);
    });

    it("deterministicGuid is a GUID, stable, case-insensitive in its parts", () => {
        const g = deterministicGuid("/A/b", "c");
        expect(g).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(deterministicGuid("/a/B", "c")).toBe(g);
        expect(deterministicGuid("/a/b", "d")).not.toBe(g);
    });
});
