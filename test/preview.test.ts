/**
 * The policy pack enforces at a first `pulumi preview` (nothing exists yet: ids and computed outputs
 * unknown), which is what `pulumi preview --policy-pack policies` on every pull request relies on.
 * Scopes, role assignment names and event filters are built from names known at preview, so no
 * mandatory policy gives up with "can't run policy ... during preview".
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { MANAGED_CLUSTERS_TOPIC_TYPE } from "../core/aks-event";
import { GUID_PATTERN } from "../core/arm-id";
import { policies } from "../policies/policies";
import { OFFLINE_DEFAULTS, type PlannedResource } from "../local/plan/mocks";
import { PROJECT_ROOT, planStack, type Plan, type PolicyViolation } from "../local/plan/plan";
import { evaluatePolicies } from "../local/plan/policy-harness";

/** Pulumi's wire sentinel for a value unknown during preview. */
const UNKNOWN = pulumi.runtime.unknownValue as string;
const SUB = OFFLINE_DEFAULTS.subscriptionId;
const T = {
    roleAssignment: "azure-native:authorization:RoleAssignment",
    roleDefinition: "azure-native:authorization:RoleDefinition",
    subscription: "azure-native:eventgrid:SystemTopicEventSubscription",
    identity: "azure-native:managedidentity:UserAssignedIdentity",
    group: "azuread:index/group:Group",
    topic: "azure-native:eventgrid:SystemTopic",
};

const MANDATORY = policies.filter((p) => p.enforcementLevel === "mandatory").map((p) => p.name);

/**
 * "Can't run" advisories of mandatory policies that a first preview may still give, each with the reason.
 * None today. Principal ids of identities and groups created in the same deployment are inherently unknown
 * at a first preview, but no policy needs them: `handler-role-least-privilege` and
 * `topic-subscribers-read-subscription` identify the principal through the dependency graph instead (see
 * `principalOf` in policies/src/common.ts), and nothing else reads `principalId`.
 */
const ALLOWED_CANT_RUN: readonly { policy: string; urn: string | null; reason: string }[] = [];

const cantRun = (v: PolicyViolation) => /^can't run policy '/.test(v.message);
const contains = (value: unknown, needle: string) => JSON.stringify(value ?? null).includes(needle);
const ofType = (p: Plan, type: string) => p.resources.filter((r) => r.type === type);
const byUrn = (p: Plan, urn: string) => p.resources.find((r) => r.urn === urn);

/** A copy of `Pulumi.<base>.yaml` changed by `mutate`, in a temp dir (as test/plan.test.ts does). */
function tempStack(base: string, name: string, mutate: (config: Record<string, unknown>) => void): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-preview-"));
    const doc = parse(readFileSync(path.join(PROJECT_ROOT, `Pulumi.${base}.yaml`), "utf8")) as {
        config: Record<string, unknown>;
    };
    mutate(doc.config);
    writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), stringify(doc));
    return dir;
}

const dirs: string[] = [];
afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** dev, adopting the subscription's existing AKSResources topic instead of creating one. */
function planAdopting(preview: boolean): Promise<Plan> {
    const dir = tempStack("dev", "adopt", (c) => {
        c["fleet-gates:systemTopic"] = { existingName: "evgt-aks", existingResourceGroup: "rg-shared-events" };
    });
    dirs.push(dir);
    return planStack("adopt", { dir, preview });
}

const STACKS: [label: string, plan: (preview: boolean) => Promise<Plan>][] = [
    ["dev", (preview) => planStack("dev", { preview })],
    ["prod (custom handler role)", (preview) => planStack("prod", { preview })],
    ["dev adopting an existing AKSResources topic", planAdopting],
];

describe.each(STACKS)("first preview of %s", (_label, planOf) => {
    let plan: Plan;
    let full: Plan;
    let violations: PolicyViolation[];
    beforeAll(async () => {
        plan = await planOf(true);
        full = await planOf(false);
        violations = await evaluatePolicies(plan);
    });

    it("is a preview: ids and computed outputs are unknown", () => {
        const custom = plan.resources.filter((r) => r.custom);
        expect(custom.length).toBeGreaterThan(10);
        for (const r of custom) expect(r.id, r.urn).toBeNull();
        // The principals created in this deployment: inherently unknown.
        for (const r of [...ofType(plan, T.identity), ...ofType(plan, T.group)])
            expect(contains(r.outputs, UNKNOWN), r.urn).toBe(true);
    });

    it("has no mandatory violation", () => {
        expect(violations.filter((v) => v.level === "mandatory")).toEqual([]);
    });

    it('runs every mandatory policy: no "can\'t run" advisory beyond the listed exceptions', () => {
        const got = violations
            .filter((v) => cantRun(v) && MANDATORY.includes(v.policy))
            .map((v) => ({ policy: v.policy, urn: v.urn }));
        expect(got).toEqual(ALLOWED_CANT_RUN.map(({ policy, urn }) => ({ policy, urn })));
    });

    it("has no violation at all (advisory policies run too)", () => {
        expect(violations).toEqual([]);
    });

    it("knows every rule subscription's filter, and the same filter as the deployment will have", () => {
        const subs = ofType(plan, T.subscription);
        expect(subs.length).toBeGreaterThan(1);
        for (const s of subs) {
            expect(s.inputs.filter, s.urn).toBeDefined();
            expect(contains(s.inputs.filter, UNKNOWN), s.urn).toBe(false);
            expect(contains(s.inputs.deadLetterWithResourceIdentity, UNKNOWN), s.urn).toBe(false);
            expect(contains(s.inputs.destination, UNKNOWN), s.urn).toBe(false);
            expect(s.inputs.filter, s.urn).toEqual(full.resources.find((r) => r.urn === s.urn)!.inputs.filter);
        }
    });

    it("knows every role assignment's scope, name and role, and they are what the deployment will use", () => {
        const assignments = ofType(plan, T.roleAssignment);
        expect(assignments.length).toBeGreaterThan(3);
        for (const a of assignments) {
            const { scope, roleAssignmentName, roleDefinitionId } = a.inputs;
            for (const [field, v] of Object.entries({ scope, roleAssignmentName, roleDefinitionId })) {
                expect(typeof v, `${a.name}.${field}`).toBe("string");
                expect(v as string, `${a.name}.${field}`).not.toContain(UNKNOWN);
            }
            expect(roleAssignmentName as string, a.name).toMatch(GUID_PATTERN);
            expect(scope as string, a.name).toMatch(new RegExp(`^/subscriptions/${SUB}(/|$)`));
            expect(roleDefinitionId as string, a.name).toMatch(
                new RegExp(`^/subscriptions/${SUB}/providers/Microsoft\\.Authorization/roleDefinitions/`),
            );
            const deployed = full.resources.find((r) => r.urn === a.urn)!.inputs;
            expect({ scope, roleAssignmentName, roleDefinitionId }, a.name).toEqual({
                scope: deployed.scope,
                roleAssignmentName: deployed.roleAssignmentName,
                roleDefinitionId: deployed.roleDefinitionId,
            });
        }
        expect(new Set(assignments.map((a) => a.inputs.roleAssignmentName)).size).toBe(assignments.length);
    });

    it("knows every custom role's GUID and assignable scopes", () => {
        for (const d of ofType(plan, T.roleDefinition)) {
            expect(d.inputs.roleDefinitionId as string, d.name).toMatch(GUID_PATTERN);
            expect(contains(d.inputs.assignableScopes, UNKNOWN), d.name).toBe(false);
            expect(d.inputs.scope, d.name).toBe(`/subscriptions/${SUB}`);
        }
    });

    it("principal ids are the only unknowns of role assignments, and each still depends on its principal", () => {
        for (const a of ofType(plan, T.roleAssignment)) {
            const unknownFields = Object.entries(a.inputs)
                .filter(([, v]) => contains(v, UNKNOWN))
                .map(([k]) => k);
            expect(
                unknownFields.filter((k) => k !== "principalId"),
                a.name,
            ).toEqual([]);
            // An adopted topic's principal is read from Azure (an invoke), so it is known even at preview.
            if (!unknownFields.includes("principalId")) {
                expect(a.name).toBe("gate-events-deadletter-writer");
                // (the members' ManagedClusters topics are created either way)
                expect(ofType(plan, T.topic).filter((t) => t.inputs.topicType !== MANAGED_CLUSTERS_TOPIC_TYPE)).toEqual(
                    [],
                );
                continue;
            }
            // Unknown: the dependency graph names the principal, which is what the policies fall back to.
            const sources = (a.propertyDependencies.principalId ?? []).map((u) => byUrn(plan, u)?.type);
            expect(sources.length, a.name).toBeGreaterThan(0);
            for (const t of sources) expect([T.identity, T.group, T.topic], a.name).toContain(t);
        }
    });

    it("role assignments still wait for their scope and custom role", () => {
        const depsOf = (a: PlannedResource) => new Set(a.dependencies);
        for (const a of ofType(plan, T.roleAssignment)) {
            // A scope built from names is chained on the resource it names: the resource whose id (once
            // deployed) it is. A subscription scope names nothing the stack creates.
            const scope = a.inputs.scope as string;
            const named = full.resources.find((r) => r.id !== null && r.id.toLowerCase() === scope.toLowerCase());
            if (/^\/subscriptions\/[^/]+$/.test(scope)) expect(named, a.name).toBeUndefined();
            else expect(a.propertyDependencies.scope ?? [], `${a.name}: scope ${scope}`).toContain(named?.urn);
            const role = ofType(plan, T.roleDefinition).find((d) =>
                contains(a.inputs.roleDefinitionId, d.inputs.roleDefinitionId as string),
            );
            if (role) expect(depsOf(a).has(role.urn), `${a.name} depends on ${role.name}`).toBe(true);
        }
    });
});

describe("a deliberately broken stack is still caught at preview", () => {
    const program = (name: string) => path.join(PROJECT_ROOT, "test", "programs", `${name}.ts`);
    const urn = (type: string, name: string) => `urn:pulumi:dev::fleet-gates::${type}::${name}`;

    // Programs whose violation lies in values known at a first preview; each must fail exactly its policy.
    it.each([
        ["insecure-rbac-management-group", "rbac-within-stack-subscription", urn(T.roleAssignment, "operators-reader")],
        ["insecure-custom-role-wildcard", "custom-roles-no-wildcards", urn(T.roleDefinition, "approver-role")],
        // Found through the dependency graph: the group's object id is unknown at preview.
        [
            "insecure-subscriber-without-reader",
            "topic-subscribers-read-subscription",
            urn(T.roleAssignment, "subscribers-notifications"),
            /^the principal of "subscribers" is granted /,
        ],
        ["insecure-topic-duplicate", "aks-resources-topic-singleton", urn(T.topic, "evgt-aks-team")],
        [
            "insecure-cluster-local-accounts",
            "member-clusters-entra-rbac",
            urn("azure-native:containerservice:ManagedCluster", "aks-dev-blue-1"),
        ],
    ] as [string, string, string, RegExp?][])("%s fails %s", async (name, policy, at, message) => {
        const plan = await planStack("dev", { program: program(name), preview: true });
        const mandatory = (await evaluatePolicies(plan)).filter((v) => v.level === "mandatory");
        expect(mandatory.map((v) => ({ policy: v.policy, urn: v.urn }))).toEqual([{ policy, urn: at }]);
        if (message) expect(mandatory[0]!.message).toMatch(message);
    });

    it("the prod stack with the handler's gate role widened to its resource group fails at preview", async () => {
        // The prod preview as the pack sees it, with the custom-role assignment's scope moved from the fleet
        // to the fleet's resource group (what a bad edit of components/gate-handler.ts would plan).
        const plan = await planStack("prod", { preview: true });
        const target = plan.resources.find((r) => r.type === T.roleAssignment && r.name === "handler-fleet-gates")!;
        const widened = (target.inputs.scope as string).replace(/\/providers\/.*$/, "");
        expect(widened).toMatch(new RegExp(`^/subscriptions/${SUB}/resourceGroups/[^/]+$`));
        const broken: Plan = {
            ...plan,
            resources: plan.resources.map((r) =>
                r === target
                    ? { ...r, inputs: { ...r.inputs, scope: widened }, outputs: { ...r.outputs, scope: widened } }
                    : r,
            ),
        };
        const violations = await evaluatePolicies(broken);
        expect(violations.filter(cantRun)).toEqual([]);
        expect(violations.map((v) => ({ level: v.level, policy: v.policy, urn: v.urn }))).toEqual([
            { level: "mandatory", policy: "handler-role-least-privilege", urn: target.urn },
        ]);
        expect(violations[0]!.message).toContain(`at resource group scope "${widened}"`);
    });
});
