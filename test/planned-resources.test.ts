/**
 * What `pulumi up` would send, checked against the official API shapes: every ARM resource of the
 * planned stacks that the program PUTs itself (`ArmResource`: fleet members, update strategy,
 * auto-upgrade profile; and any generic `azure-native:resources:Resource`, of which there are none
 * now) validated as the ARM PUT it becomes against the Fleet OpenAPI document in `shared/specs`,
 * failures naming the input field; and the README's "API versions" table, which must state exactly
 * the API version of every resource type the stacks plan.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ARM_RESOURCE_TYPE } from "../components/arm-resource";
import { WEB_API_VERSION } from "../components/handler-package";
import { OFFLINE_DEFAULTS, type PlannedResource } from "../local/plan/mocks";
import { planStack, PROJECT_ROOT, type Plan } from "../local/plan/plan";
import { loadFleetSpec, validateGenericResource } from "./spec-validator";

const SUB = OFFLINE_DEFAULTS.subscriptionId;
const NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

const plans: Record<string, Plan> = {};

beforeAll(async () => {
    await loadFleetSpec();
    plans.dev = await planStack("dev");
    plans.prod = await planStack("prod");
    plans.tutorial = await planStack("tutorial", { dir: path.join(__dirname, "stacks") });
    const bootstrap = path.join(PROJECT_ROOT, "bootstrap");
    plans.bootstrap = await planStack("example", { dir: bootstrap, program: path.join(bootstrap, "index.ts") });
}, 240_000);

const GENERIC = "azure-native:resources:Resource";
/** The resources whose ARM bodies the plan writes itself. */
const generic = (p: Plan) => p.resources.filter((r) => r.type === ARM_RESOURCE_TYPE || r.type === GENERIC);

/**
 * The PUT an `ArmResource` sends, in the generic resource's terms: its address and `{ properties }`
 * (the provider's own inputs, its ARM endpoint and serialized code, are not part of the body).
 */
function put(r: PlannedResource): Record<string, unknown> {
    if (r.type === GENERIC) return r.inputs;
    const { resourceGroupName, resourceProviderNamespace, parentResourcePath, resourceType, resourceName } = r.inputs;
    return {
        resourceGroupName,
        resourceProviderNamespace,
        parentResourcePath,
        resourceType,
        resourceName,
        apiVersion: r.inputs.apiVersion,
        properties: r.inputs.properties,
    };
}

/** `Microsoft.ContainerService/fleets/members`: the ARM type of a generic resource (names dropped). */
function armType(r: PlannedResource): string {
    const parent = String(r.inputs.parentResourcePath ?? "")
        .split("/")
        .filter((_, i) => i % 2 === 0 && _ !== "");
    return [r.inputs.resourceProviderNamespace, ...parent, r.inputs.resourceType].join("/");
}

describe("generic ARM resources of the planned stacks against the Fleet OpenAPI document", () => {
    it.each(["dev", "prod", "tutorial"])("stack %s: every generic resource validates as its ARM PUT", (stack) => {
        const resources = generic(plans[stack]!);
        expect(new Set(resources.map(armType))).toEqual(
            new Set([
                "Microsoft.ContainerService/fleets/members",
                "Microsoft.ContainerService/fleets/updateStrategies",
                ...(stack === "tutorial" ? [] : ["Microsoft.ContainerService/fleets/autoUpgradeProfiles"]),
            ]),
        );
        expect(resources.filter((r) => r.type === GENERIC)).toEqual([]);
        for (const r of resources) expect(validateGenericResource(put(r), SUB), r.name).toEqual([]);
    });

    const member = () => {
        const r = generic(plans.dev!).find((x) => x.inputs.resourceType === "members")!;
        return JSON.parse(JSON.stringify(put(r))) as Record<string, unknown> & {
            properties: Record<string, unknown>;
        };
    };
    const strategy = () => {
        const r = generic(plans.dev!).find((x) => x.inputs.resourceType === "updateStrategies")!;
        return JSON.parse(JSON.stringify(put(r))) as Record<string, unknown> & {
            properties: { strategy: { stages: Record<string, unknown>[] } };
        };
    };

    it.each<[string, () => Record<string, unknown>, string]>([
        [
            "an upper-case member group",
            () => {
                const m = member();
                m.properties.group = "Blue";
                return m;
            },
            `inputs.properties/group: must match pattern "${NAME_PATTERN}" (got "Blue")`,
        ],
        [
            "a numeric label value",
            () => {
                const m = member();
                m.properties.labels = { order: 1 };
                return m;
            },
            "inputs.properties/labels/order: must be string (got 1)",
        ],
        [
            "a location on a fleet member (a proxy resource has none)",
            () => ({ ...member(), location: "westeurope" }),
            'inputs: must NOT have additional property "location"',
        ],
        [
            "an upper-case member name",
            () => ({ ...member(), resourceName: "AKS-1" }),
            `inputs.resourceName (fleetMemberName): must match pattern "${NAME_PATTERN}" (got "AKS-1")`,
        ],
        [
            "azure-native's default Fleet API version",
            () => ({ ...member(), apiVersion: "2024-05-02-preview" }),
            'inputs.apiVersion: "2024-05-02-preview" is not the spec\'s version "2026-06-01"',
        ],
        [
            "a gate without a type",
            () => {
                const s = strategy();
                s.properties.strategy.stages[0]!.beforeGates = [{ displayName: "x" }];
                return s;
            },
            'inputs.properties/strategy/stages/0/beforeGates/0: must have required property "type"',
        ],
    ])("names the field: %s", (_what, build, expected) => {
        expect(validateGenericResource(build(), SUB)).toContain(expected);
    });

    it("names the addressing inputs when the path is no PUT of the spec", () => {
        expect(validateGenericResource({ ...member(), resourceType: "memberz" }, SUB)).toEqual([
            expect.stringMatching(
                /^inputs\.resourceType: no PUT in fleets\.json for \/subscriptions\/.*\/fleets\/flt-dev\/memberz\/aks-dev-blue-1 \(resourceProviderNamespace "Microsoft\.ContainerService", parentResourcePath "fleets\/flt-dev", resourceType "memberz"\)$/,
            ),
        ]);
    });
});

/** The API version each planned resource type uses, as the README must state it. */
function apiVersionOf(r: PlannedResource): [string, string] | undefined {
    if (r.type === GENERIC || r.type === ARM_RESOURCE_TYPE) return [armType(r), String(r.inputs.apiVersion)];
    if (r.type.startsWith("azure-native:")) {
        const [, module, name] = r.type.split(":");
        const dts = path.join(
            PROJECT_ROOT,
            "node_modules/@pulumi/azure-native",
            module!,
            `${name![0]!.toLowerCase()}${name!.slice(1)}.d.ts`,
        );
        const version = /Uses Azure REST API version ([0-9a-z-]+)\./.exec(fs.readFileSync(dts, "utf8"))?.[1];
        return [r.type, version ?? "?"];
    }
    if (r.type.startsWith("azuread:")) return [r.type, "Microsoft Graph (azuread provider)"];
    if (r.type === "pulumi-nodejs:dynamic/fleet-gates:HandlerPublish")
        return [r.type, `OneDeploy (SCM); ARM sites/functions ${WEB_API_VERSION}`];
    return undefined; // components
}

/** Rows of the README's "API versions" table: first cell (backticks dropped) → second cell. */
function readmeApiVersions(): Map<string, string> {
    const readme = fs.readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
    const section = /\n## API versions\n([\s\S]*?)(?=\n## )/.exec(readme)?.[1];
    if (!section) throw new Error('README.md has no "## API versions" section');
    const rows = section
        .split("\n")
        .filter((l) => l.startsWith("| ") && !/^\|\s*-/.test(l))
        .slice(1)
        .map((l) => l.split("|").map((c) => c.trim().replace(/`/g, "")));
    return new Map(rows.map((cells) => [cells[1]!, cells[2]!]));
}

describe('README "API versions"', () => {
    it("states the API version of every resource type the stacks and the bootstrap plan, and nothing else", () => {
        const expected = new Map<string, string>();
        for (const p of Object.values(plans))
            for (const r of p.resources) {
                const v = apiVersionOf(r);
                if (v) expected.set(v[0], v[1]);
            }
        expect(expected.get("Microsoft.ContainerService/fleets/members")).toBe("2026-06-01");
        expect(Object.fromEntries(readmeApiVersions())).toEqual(Object.fromEntries(expected));
    });
});
