/**
 * The pull-request comment of a stack: the preview summary and policy findings it shows, its size limit,
 * finding and editing it in place against a fake comments API, and the GitHub comments client's requests.
 */
import { describe, expect, it } from "vitest";
import type { PlanJson } from "../local/plan/plan";
import {
    MAX_COMMENT_CHARS,
    commentMarker,
    composeComment,
    githubCommentsApi,
    parseChangeSummary,
    policySection,
    upsertComment,
    type CommentsApi,
    type IssueComment,
} from "../local/github/pr-comment";

/** The shape of Pulumi's preview output (resource table, policy report, summary); illustrative, not recorded. */
const LOG = [
    "Previewing update (acme/dev)",
    "",
    "     Type                          Name             Plan",
    " +   pulumi:pulumi:Stack           fleet-gates-dev  create",
    "",
    "Policies:",
    "    \u001b[31m❌ fleet-gates@v0.1.0 (local: policies)\u001b[0m",
    "        - [mandatory]  handler-role-least-privilege  (azure-native:authorization:RoleAssignment: handler-x)",
    "          principal holds Contributor",
    "",
    "Resources:",
    "    + 12 to create",
    "    ~ 2 to update",
    "    +-1 to replace",
    "    - 1 to delete",
    "    16 changes. 30 unchanged",
    "",
    "Duration: 12s",
].join("\n");

const plan = (violations: PlanJson["policy"]["violations"]): PlanJson => ({
    stack: "dev",
    resources: [],
    outputs: {},
    policy: { violations },
});
const REHEARSAL = '### Rollout of stack `dev`\n\n```mermaid\nflowchart LR\n    n0(["dev"])\n```\n';

describe("preview summary", () => {
    it.each([
        [LOG, { create: 12, update: 2, replace: 1, delete: 1, unchanged: 30 }],
        ["Resources:\n    + 3 to create\n    4 unchanged\n", { create: 3, unchanged: 4 }],
        ["Resources:\n    5 unchanged\n", { unchanged: 5 }],
        ["Resources:\n    + 2 created\n    1 unchanged\n", { create: 2, unchanged: 1 }],
        ["error: could not log in\n", undefined],
    ])("reads the Resources block %#", (log, summary) => {
        expect(parseChangeSummary(log)).toEqual(summary);
    });

    it("keeps the Policies block verbatim without colour codes, up to the next section", () => {
        expect(policySection(LOG)).toBe(
            [
                "Policies:",
                "    ❌ fleet-gates@v0.1.0 (local: policies)",
                "        - [mandatory]  handler-role-least-privilege  (azure-native:authorization:RoleAssignment: handler-x)",
                "          principal holds Contributor",
            ].join("\n"),
        );
        expect(policySection("Resources:\n    1 unchanged\n")).toBeUndefined();
    });
});

describe("composeComment", () => {
    it("starts with the stack's marker and shows the summary, the verdict, the diagram and the folded output", () => {
        const body = composeComment({
            stack: "dev",
            previewOutcome: "success",
            previewLog: LOG,
            plan: plan([]),
            rehearsal: REHEARSAL,
            runUrl: "https://github.example/runs/1",
            commit: "0123456789abcdef0123",
        });
        expect(body.startsWith(`${commentMarker("dev")}\n`)).toBe(true);
        expect(body).toContain("## `dev`: pulumi preview ✅ success");
        expect(body).toContain("**Changes:** 12 to create, 2 to update, 1 to replace, 1 to delete, 30 unchanged");
        expect(body).toContain("✅ no violations");
        expect(body).toContain("```mermaid\nflowchart LR");
        expect(body).toContain("<summary>Policy report of the preview</summary>");
        expect(body).toContain("<summary>Preview output</summary>");
        expect(body).toContain("<sub>commit `0123456789ab` · [workflow run](https://github.example/runs/1)</sub>");
        expect(body).not.toContain("\u001b[");
    });

    it("tabulates offline violations, escaping table cells", () => {
        const body = composeComment({
            stack: "prod",
            previewOutcome: "failure",
            plan: plan([
                {
                    policy: "gates-routed",
                    level: "mandatory",
                    urn: "urn:pulumi:prod::fleet-gates::azure-native:eventgrid:SystemTopicEventSubscription::gate-x",
                    message: "a | b",
                },
                { policy: "gate-subscriptions-reliable", level: "advisory", urn: null, message: "keep events" },
            ]),
            rehearsal: REHEARSAL,
        });
        expect(body).toContain("## `prod`: pulumi preview ❌ failure");
        expect(body).toContain("❌ 2 violation(s), 1 mandatory");
        expect(body).toContain(
            "| mandatory | `gates-routed` | `gate-x` (azure-native:eventgrid:SystemTopicEventSubscription) | a \\| b |",
        );
        expect(body).toContain("| advisory | `gate-subscriptions-reliable` | (stack) | keep events |");
        expect(body).toContain("no change summary");
    });

    it("says what failed when the plan or the rehearsal did not run, and when the preview was skipped", () => {
        const body = composeComment({ stack: "dev", previewOutcome: "skipped" });
        expect(body).toContain("**Changes:** preview not run");
        expect(body).toContain("❌ the offline plan failed; see the job log");
        expect(body).toContain("❌ the rehearsal failed");
    });

    it("stays under GitHub's comment limit, keeping the end of a long output", () => {
        const long = `${"x".repeat(200)}\n`.repeat(1000) + "Resources:\n    + 1 to create\n";
        const body = composeComment({ stack: "dev", previewOutcome: "success", previewLog: long, plan: plan([]) });
        expect(body.length).toBeLessThanOrEqual(MAX_COMMENT_CHARS);
        expect(body).toContain("characters cut)");
        expect(body).toContain("+ 1 to create\n```");
    });
});

/** An in-memory pull request's comments, as GitHub pages them (100 per page). */
function fakeApi(initial: string[]): CommentsApi & { comments: IssueComment[]; calls: string[] } {
    const comments: IssueComment[] = initial.map((body, i) => ({ id: i + 1, body }));
    const calls: string[] = [];
    return {
        comments,
        calls,
        list: async (page) => {
            calls.push(`list ${page}`);
            return comments.slice((page - 1) * 100, page * 100);
        },
        create: async (body) => {
            calls.push("create");
            const c = { id: comments.length + 1, body };
            comments.push(c);
            return c;
        },
        update: async (id, body) => {
            calls.push(`update ${id}`);
            const i = comments.findIndex((c) => c.id === id);
            comments[i] = { id, body };
            return comments[i]!;
        },
    };
}

describe("upsertComment", () => {
    const body = (stack: string, text: string) => `${commentMarker(stack)}\n${text}`;

    it("creates the stack's comment once, then edits it in place", async () => {
        const api = fakeApi(["LGTM", body("prod", "prod preview")]);
        expect(await upsertComment(api, "dev", body("dev", "first"))).toEqual({ action: "created", id: 3 });
        expect(await upsertComment(api, "dev", body("dev", "second"))).toEqual({ action: "updated", id: 3 });
        expect(api.comments.map((c) => c.body)).toEqual(["LGTM", body("prod", "prod preview"), body("dev", "second")]);
    });

    it("finds its comment on a later page", async () => {
        const api = fakeApi([...Array.from({ length: 150 }, (_, i) => `comment ${i}`), body("dev", "old")]);
        expect(await upsertComment(api, "dev", body("dev", "new"))).toEqual({ action: "updated", id: 151 });
        expect(api.calls).toEqual(["list 1", "list 2", "update 151"]);
    });

    it("does not take a stack whose name starts with another's for it", async () => {
        const api = fakeApi([body("dev-eu", "other stack")]);
        expect((await upsertComment(api, "dev", body("dev", "x"))).action).toBe("created");
    });

    it("refuses a body without the marker (it could never be found again)", async () => {
        await expect(upsertComment(fakeApi([]), "dev", "no marker")).rejects.toThrow(/must start with/);
    });
});

describe("githubCommentsApi", () => {
    it("calls the issue comments endpoints of the pull request with the token", async () => {
        const seen: { url: string; method: string; auth?: string; body?: string }[] = [];
        const api = githubCommentsApi({
            token: "t0ken",
            repository: "contoso/fleet-gates",
            pr: 7,
            apiUrl: "https://api.github.example/",
            fetch: async (url, init) => {
                seen.push({ url, method: init.method, auth: init.headers.authorization, body: init.body });
                return {
                    ok: true,
                    status: 200,
                    json: async () => (init.method === "GET" ? [] : { id: 9 }),
                    text: async () => "",
                };
            },
        });
        await api.list(2);
        await api.create("hello");
        await api.update(9, "again");
        expect(seen).toEqual([
            {
                url: "https://api.github.example/repos/contoso/fleet-gates/issues/7/comments?per_page=100&page=2",
                method: "GET",
                auth: "Bearer t0ken",
                body: undefined,
            },
            {
                url: "https://api.github.example/repos/contoso/fleet-gates/issues/7/comments",
                method: "POST",
                auth: "Bearer t0ken",
                body: '{"body":"hello"}',
            },
            {
                url: "https://api.github.example/repos/contoso/fleet-gates/issues/comments/9",
                method: "PATCH",
                auth: "Bearer t0ken",
                body: '{"body":"again"}',
            },
        ]);
    });

    it("fails with the status and the start of GitHub's answer", async () => {
        const api = githubCommentsApi({
            token: "t",
            repository: "o/r",
            pr: 1,
            fetch: async () => ({
                ok: false,
                status: 403,
                json: async () => ({}),
                text: async () => "Resource not accessible",
            }),
        });
        await expect(api.create("x")).rejects.toThrow(
            "GitHub POST /repos/o/r/issues/1/comments: HTTP 403: Resource not accessible",
        );
    });
});
