/**
 * The offline policy harness itself: it lists the pack's policies, applies pack config as the CLI does,
 * hands policies the arguments @pulumi/policy defines, treats unknown values as during preview, reports
 * resource findings before stack findings, and fails when a policy throws.
 */
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import {
    PolicyConfigError,
    evaluatePolicies,
    formatViolations,
    hasMandatoryViolation,
} from "../../local/plan/policy-harness";
import { policies } from "../policies";
import { T, compliantStack, evaluate, mutate, planOf, urnOf, violation } from "./fixture";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const insecureCluster = () =>
    mutate(compliantStack(), "aks-blue", (i) => {
        i.disableLocalAccounts = false;
    });
const LOCAL_ACCOUNTS = 'managed cluster "aks-blue" keeps local accounts; set disableLocalAccounts: true';

describe("policy harness", () => {
    it("lists the eighteen policies by their names", () => {
        expect(policies.map((p) => p.name)).toEqual([
            "aks-resources-topic-subscription-scope",
            "aks-resources-topic-singleton",
            "gate-subscriptions-scoped-to-fleet",
            "gate-subscriptions-reliable",
            "handler-role-least-privilege",
            "topic-subscribers-read-subscription",
            "rbac-within-stack-subscription",
            "custom-roles-no-wildcards",
            "custom-role-scopes-assignable",
            "gates-routed",
            "production-stages-gated",
            "fleet-children-not-generic",
            "function-app-hardened",
            "member-clusters-entra-rbac",
            "role-assignment-rights-constrained",
            "github-oidc-credentials-pinned",
            "pull-request-identity-read-only",
            "hub-handler-approval-status-only",
            "upgrade-event-topics-on-stack-clusters",
            "upgrade-event-subscriptions-reliable",
        ]);
        for (const p of policies) expect(p.description).toMatch(/^[A-Z].*\.$/);
    });

    it("finds nothing in the compliant stack, advisory policies included", async () => {
        expect(await evaluate(compliantStack())).toEqual([]);
    });

    it("reports resource policies per resource first, then stack policies", async () => {
        const stack = mutate(insecureCluster(), "handler-fleet-manager", (i) => {
            i.scope = "/providers/Microsoft.Management/managementGroups/mg";
        });
        expect((await evaluate(stack)).map((v) => v.policy)).toEqual([
            "member-clusters-entra-rbac",
            "rbac-within-stack-subscription",
            "handler-role-least-privilege",
        ]);
    });

    it("applies pack config: an enforcement level as a string, disabled, remediate as mandatory", async () => {
        const stack = insecureCluster();
        const urn = urnOf(T.cluster, "aks-blue");
        expect(await evaluate(stack, { config: { "member-clusters-entra-rbac": "advisory" } })).toEqual([
            violation("member-clusters-entra-rbac", urn, LOCAL_ACCOUNTS, "advisory"),
        ]);
        expect(
            await evaluate(stack, { config: { "member-clusters-entra-rbac": { enforcementLevel: "disabled" } } }),
        ).toEqual([]);
        expect(await evaluate(stack, { config: { "member-clusters-entra-rbac": "remediate" } })).toEqual([
            violation("member-clusters-entra-rbac", urn, LOCAL_ACCOUNTS, "mandatory"),
        ]);
    });

    it("rejects config the CLI would reject", async () => {
        await expect(evaluate(compliantStack(), { config: { "no-such-policy": "advisory" } })).rejects.toThrow(
            'policy config: the pack has no policy "no-such-policy"',
        );
        await expect(evaluate(compliantStack(), { config: { "gates-routed": "loud" } })).rejects.toThrow(
            PolicyConfigError,
        );
        await expect(
            evaluate(compliantStack(), { config: { "gates-routed": { subscriptionId: "not-a-guid" } } }),
        ).rejects.toThrow('policy config "gates-routed": subscriptionId must match pattern');
    });

    it("reports a policy that reads an unknown value as advisory, as during preview", async () => {
        const stack = mutate(compliantStack(), "aks-blue", (i) => {
            i.disableLocalAccounts = UNKNOWN_STRING;
        });
        expect(await evaluate(stack)).toEqual([
            violation(
                "member-clusters-entra-rbac",
                urnOf(T.cluster, "aks-blue"),
                "can't run policy 'member-clusters-entra-rbac' from policy pack 'fleet-gates@v0.1.0' during preview: " +
                    "string value at .disableLocalAccounts can't be known during preview",
                "advisory",
            ),
        ]);
    });

    it("hands policies the arguments @pulumi/policy defines", async () => {
        const seen: Record<string, unknown> = {};
        const resourcePolicy: ResourceValidationPolicy = {
            name: "probe-resource",
            description: "Probes resource arguments.",
            enforcementLevel: "advisory",
            validateResource: (args, report) => {
                if (!args.isType(eventgrid.SystemTopic)) return args.notApplicable("not a topic");
                const topic = args.asType(eventgrid.SystemTopic)!;
                seen.location = topic.location;
                seen.provider = args.provider;
                seen.opts = args.opts;
                seen.config = args.getConfig();
                report("", "urn:ignored");
            },
        };
        const stackPolicy: StackValidationPolicy = {
            name: "probe-stack",
            description: "Probes stack arguments.",
            enforcementLevel: "mandatory",
            validateStack: (args, report) => {
                const sub = args.resources.find((r) => r.name === "gate-sales-check")!;
                seen.topicDependency = sub.propertyDependencies.systemTopicName!.map((r: PolicyResource) => r.name);
                seen.dependencies = sub.dependencies.map((r) => r.name);
                seen.stackProps = args.resources.find((r) => r.name === "topic")!.props.metricResourceId;
                seen.parent = args.resources.find((r) => r.name === "child")!.parent?.name;
                report("stack-wide");
                report("on the topic", urnOf(T.topic, "topic"));
            },
        };
        const plan = planOf([
            ...compliantStack(),
            { type: "fleet-gates:test:Component", name: "parent", inputs: {}, custom: false },
            { type: "test:index:Child", name: "child", inputs: {}, parent: "parent" },
        ]);
        const topic = plan.resources.find((r) => r.name === "topic")! as { outputs: Record<string, unknown> };
        topic.outputs = { ...topic.outputs, metricResourceId: "metric-1" };
        plan.stackFile.config["azure-native:location"] = "westeurope";
        const out = await evaluatePolicies(plan, {
            policies: [resourcePolicy, stackPolicy],
            config: { "probe-resource": { answer: 42 } },
        });
        expect(out).toEqual([
            violation("probe-resource", urnOf(T.topic, "topic"), "Probes resource arguments.", "advisory"),
            violation("probe-stack", null, "stack-wide"),
            violation("probe-stack", urnOf(T.topic, "topic"), "on the topic"),
        ]);
        expect(seen).toMatchObject({
            location: "global",
            provider: {
                type: "pulumi:providers:azure-native",
                name: "default_3_28_0",
                urn: "urn:pulumi:test::fleet-gates::pulumi:providers:azure-native::default_3_28_0",
                props: { location: "westeurope", version: "3.28.0" },
            },
            opts: {
                protect: false,
                ignoreChanges: [],
                aliases: [],
                additionalSecretOutputs: [],
                customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
            },
            config: { answer: 42 },
            topicDependency: ["topic"],
            dependencies: ["topic"],
            stackProps: "metric-1",
            parent: "parent",
        });
    });

    it("fails the evaluation when a policy throws, as the engine fails the preview", async () => {
        const broken: StackValidationPolicy = {
            name: "broken",
            description: "Throws.",
            validateStack: () => {
                throw new Error("boom");
            },
        };
        await expect(evaluatePolicies(planOf(compliantStack()), { policies: [broken] })).rejects.toThrow(
            "Error validating stack with policy 'broken' from policy pack 'fleet-gates@v0.1.0': boom",
        );
    });

    it("formats a verdict and tells mandatory findings", async () => {
        const v = await evaluate(insecureCluster());
        expect(hasMandatoryViolation(v)).toBe(true);
        expect(formatViolations(v)).toBe(
            [
                `[mandatory] member-clusters-entra-rbac  (${urnOf(T.cluster, "aks-blue")})`,
                `    ${LOCAL_ACCOUNTS}`,
                "policy: 1 violation(s), 1 mandatory",
            ].join("\n"),
        );
        expect(formatViolations([])).toBe("policy: no violations");
    });
});
