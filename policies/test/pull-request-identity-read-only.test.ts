/**
 * Policy pull-request-identity-read-only through the offline policy harness, on the bootstrap: the
 * identity GitHub pull requests sign in as holds Reader and nothing else.
 */
import { describe, expect, it } from "vitest";
import { BUILTIN_ROLES, roleDefinitionId } from "../../core/roles";
import { PREVIEW_SP, SUB, T, TB, compliantBootstrap, mutate, urnOf, violation, violationsOf, without } from "./fixture";

const POLICY = "pull-request-identity-read-only";
const BECAUSE =
    'service principal "preview-sp" signs in from pull requests (federated credential "github-pull-request", subject ' +
    '"repo:contoso/fleet-gates:pull_request")';

describe(POLICY, () => {
    it("passes a preview identity with Reader only", async () => {
        expect(await violationsOf(POLICY, compliantBootstrap())).toEqual([]);
    });

    it("rejects a pull-request identity holding Contributor", async () => {
        const stack = mutate(compliantBootstrap(), "preview-reader", (i) => {
            i.roleDefinitionId = roleDefinitionId(SUB, BUILTIN_ROLES.contributor);
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.assignment, "preview-reader"),
                `${BECAUSE} and holds Contributor at "/subscriptions/${SUB}" (role assignment "preview-reader"); pull-request code ` +
                    "is unreviewed: give this identity Reader only and deploy with another identity",
            ),
        ]);
    });

    it("rejects the deploy identity trusting pull requests too", async () => {
        const stack = mutate(compliantBootstrap(), "deploy-github-environment-dev", (i) => {
            i.subject = "repo:contoso/fleet-gates:pull_request";
        });
        const found = await violationsOf(POLICY, stack);
        expect(found.map((v) => v.urn)).toEqual([
            urnOf(T.assignment, "deploy-contributor"),
            urnOf(T.assignment, "deploy-rbac-administrator"),
            urnOf(TB.appRole, "deploy-graph-group-create"),
        ]);
        expect(found[2]!.message).toBe(
            'service principal "deploy-sp" signs in from pull requests (federated credential "github-environment-dev", subject ' +
                '"repo:contoso/fleet-gates:pull_request") and holds application permission bf7b1a76-6e77-406b-b258-bf5c7720e98f ' +
                '(app role assignment "deploy-graph-group-create"); pull-request code is unreviewed: grant this identity no API permissions',
        );
    });

    it("finds the principal by object id when no dependency links it", async () => {
        const stack = mutate(
            without(compliantBootstrap(), "preview-reader"),
            "deploy-contributor",
            (i) => void (i.principalId = PREVIEW_SP),
        );
        const unlinked = stack.map((r) => (r.name === "deploy-contributor" ? { ...r, propertyDependencies: {} } : r));
        expect((await violationsOf(POLICY, unlinked)).map((v) => v.urn)).toEqual([
            urnOf(T.assignment, "deploy-contributor"),
        ]);
    });
});
