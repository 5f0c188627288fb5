/**
 * GitHub OIDC subjects: pull-request, branch and environment trust written as subjects and credential
 * names and parsed back, repositories parsed, and the per-stack preview variables named.
 */
import { describe, expect, it } from "vitest";
import {
    credentialName,
    githubSubject,
    parseGithubSubject,
    parseRepository,
    previewVariables,
    variableSuffix,
    type GithubTrust,
} from "../core/github-oidc";

const REPO = { owner: "contoso", name: "fleet-gates" };

describe("GitHub OIDC subjects", () => {
    it.each<[GithubTrust, string, string]>([
        [{ kind: "pull_request" }, "repo:contoso/fleet-gates:pull_request", "github-pull-request"],
        [{ kind: "branch", branch: "main" }, "repo:contoso/fleet-gates:ref:refs/heads/main", "github-branch-main"],
        [
            { kind: "branch", branch: "release/2026.1" },
            "repo:contoso/fleet-gates:ref:refs/heads/release/2026.1",
            "github-branch-release-2026-1",
        ],
        [
            { kind: "environment", environment: "prod" },
            "repo:contoso/fleet-gates:environment:prod",
            "github-environment-prod",
        ],
    ])("%j → %s (credential %s), and back", (trust, subject, name) => {
        expect(githubSubject(REPO, trust)).toBe(subject);
        expect(credentialName(trust)).toBe(name);
        expect(parseGithubSubject(subject)).toEqual({ ok: true, repository: REPO, trust });
    });

    it.each<[GithubTrust, RegExp]>([
        [{ kind: "branch", branch: "feature/*" }, /branch "feature\/\*" is not a plain branch name/],
        [{ kind: "branch", branch: "a:b" }, /not a plain branch name/],
        [{ kind: "branch", branch: "" }, /not a plain branch name/],
        [{ kind: "environment", environment: "prod east" }, /environment "prod east" must be/],
        [{ kind: "environment", environment: "*" }, /environment "\*" must be/],
    ])("refuses %j", (trust, message) => {
        expect(() => githubSubject(REPO, trust)).toThrow(message);
    });

    it.each([
        ["repo:contoso/*:pull_request", "contains a wildcard"],
        [
            "repo:contoso/fleet-gates:ref:refs/tags/v1",
            'names "ref:refs/tags/v1", not pull_request, ref:refs/heads/<branch> or environment:<name>',
        ],
        [
            "repo:contoso/fleet-gates:environment:",
            'names "environment:", not pull_request, ref:refs/heads/<branch> or environment:<name>',
        ],
        ["repository_owner:contoso", 'is not of the form "repo:OWNER/REPO:..."'],
        ["repo:-bad/fleet-gates:pull_request", 'repository "-bad/fleet-gates" must be "owner/name"'],
    ])("reports %s", (subject, problem) => {
        const parsed = parseGithubSubject(subject);
        expect(parsed.ok).toBe(false);
        expect(parsed.ok ? "" : parsed.problem).toContain(problem);
    });

    it("parses repositories", () => {
        expect(parseRepository("contoso/fleet-gates")).toEqual(REPO);
        for (const bad of ["contoso", "contoso/a/b", "/x", "contoso/..", "con toso/x"])
            expect(() => parseRepository(bad), bad).toThrow(/must be "owner\/name"/);
    });

    it("names the per-stack preview variables after the stack", () => {
        expect(variableSuffix("eu-prod.2")).toBe("EU_PROD_2");
        expect(previewVariables("dev")).toEqual({
            clientId: "AZURE_PREVIEW_CLIENT_ID_DEV",
            subscriptionId: "AZURE_SUBSCRIPTION_ID_DEV",
        });
    });
});
