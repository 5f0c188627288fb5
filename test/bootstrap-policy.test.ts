/**
 * "The policy pack covers it too": the bootstrap program, run as `npm run plan -- --stack example
 * --dir bootstrap --program bootstrap/index.ts` does, passes every policy, at a first preview too
 * (one plan per test file: a program module runs once per process).
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT, planStack } from "../local/plan/plan";
import { evaluatePolicies } from "../local/plan/policy-harness";

const DIR = path.join(PROJECT_ROOT, "bootstrap");

describe("the policy pack over the bootstrap at a first preview", () => {
    it("has no violation, and no policy that cannot run", async () => {
        const plan = await planStack("example", { dir: DIR, program: path.join(DIR, "index.ts"), preview: true });
        // Reader (preview); Contributor, RBAC Administrator, role-definition writer and hub Cluster Admin (deploy; dev has placements).
        expect(plan.resources.filter((r) => r.type === "azure-native:authorization:RoleAssignment")).toHaveLength(5);
        expect(plan.resources[0]!.urn.split("::")[1]).toBe("fleet-gates-bootstrap");
        expect(await evaluatePolicies(plan)).toEqual([]);
    });
});
