/**
 * The pull-request comment of one stack: what `pulumi preview --policy-pack policies` would change,
 * the policy verdict, and the rollout diagram of the rehearsal. One comment per stack, found again by
 * a hidden marker and edited in place on every push, never duplicated.
 *
 * ```
 * node --import tsx local/github/pr-comment.ts compose --stack dev --plan plan.json --rehearsal .rehearsal/dev.md \
 *      --preview-outcome success [--preview-log FILE | env PREVIEW_OUTPUT] [--run-url URL] [--commit SHA] [--out FILE]
 * node --import tsx local/github/pr-comment.ts upsert --stack dev --pr 42 --body FILE   # GITHUB_TOKEN, GITHUB_REPOSITORY
 * ```
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import type { PlanJson, PolicyViolation } from "../plan/plan";

/** GitHub rejects comment bodies over 65,536 characters; keep a margin for the rest of the comment. */
export const MAX_COMMENT_CHARS = 65_000;

/** The hidden first line that identifies a stack's comment. */
export function commentMarker(stack: string): string {
    return `<!-- fleet-gates:preview:${stack} -->`;
}

export type StepOutcome = "success" | "failure" | "cancelled" | "skipped";

/** Pulumi's change summary: `+ 3 to create`, `~ 1 to update`, `+-1 to replace`, `12 unchanged`, … */
export interface ChangeSummary {
    readonly [op: string]: number;
}

const OPS: Record<string, string> = {
    "to create": "create",
    created: "create",
    "to update": "update",
    updated: "update",
    "to replace": "replace",
    replaced: "replace",
    "to delete": "delete",
    deleted: "delete",
    "to import": "import",
    imported: "import",
};

/**
 * Reads the "Resources:" block Pulumi prints at the end of a preview (`+ 3 to create`, `~ 1 to update`,
 * `+-1 to replace`, then `5 unchanged` or `4 changes. 5 unchanged`). Undefined when there is none (the
 * preview failed before planning).
 */
export function parseChangeSummary(log: string): ChangeSummary | undefined {
    const lines = stripAnsi(log).split(/\r?\n/);
    const start = lines.findIndex((l) => /^Resources:\s*$/.test(l.trim()));
    if (start < 0) return undefined;
    const out: Record<string, number> = {};
    for (const line of lines.slice(start + 1)) {
        const text = line.trim().replace(/^[-+~<>=]+\s*/, "");
        if (text === "") {
            if (Object.keys(out).length > 0) break;
            continue;
        }
        const op =
            /^(\d+) (to create|created|to update|updated|to replace|replaced|to delete|deleted|to import|imported)$/.exec(
                text,
            );
        const unchanged = /^(?:\d+ changes?\. )?(\d+) unchanged$/.exec(text);
        if (op) out[OPS[op[2]!]!] = (out[OPS[op[2]!]!] ?? 0) + Number(op[1]);
        else if (unchanged) out.unchanged = Number(unchanged[1]);
        else break;
    }
    return out;
}

/** The "Policies:" block Pulumi prints when a policy pack ran (verbatim, colour codes removed). */
export function policySection(log: string): string | undefined {
    const lines = stripAnsi(log).split(/\r?\n/);
    const start = lines.findIndex((l) => /^Policies:\s*$/.test(l.trim()));
    if (start < 0) return undefined;
    const body: string[] = [];
    for (const line of lines.slice(start + 1)) {
        if (line.trim() !== "" && !/^\s/.test(line)) break; // the next top-level section
        body.push(line);
    }
    while (body.length > 0 && body[body.length - 1]!.trim() === "") body.pop();
    return ["Policies:", ...body].join("\n");
}

export function stripAnsi(s: string): string {
    return s.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "");
}

function formatSummary(summary: ChangeSummary | undefined): string {
    if (!summary) return "no change summary (the preview did not get to planning; see the log below)";
    const order = ["create", "update", "replace", "delete", "import", "unchanged"];
    const parts = order
        .filter((op) => summary[op] !== undefined)
        .map((op) => `${summary[op]} ${op === "unchanged" ? "unchanged" : `to ${op}`}`);
    return parts.length > 0 ? parts.join(", ") : "no changes";
}

const ICON: Record<StepOutcome, string> = { success: "✅", failure: "❌", cancelled: "⏹️", skipped: "⏭️" };

/** Escapes a value for a Markdown table cell. */
function cell(s: string): string {
    return s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

function resourceOf(urn: string | null): string {
    if (!urn) return "(stack)";
    const parts = urn.split("::");
    return `\`${parts[parts.length - 1]}\` (${parts[parts.length - 2]?.split("$").pop() ?? "?"})`;
}

/** The offline verdict of the policy pack: a line, and a table of violations when there are any. */
export function formatVerdict(violations: readonly PolicyViolation[]): string {
    const mandatory = violations.filter((v) => v.level === "mandatory").length;
    const head =
        violations.length === 0
            ? "✅ no violations"
            : `${mandatory > 0 ? "❌" : "⚠️"} ${violations.length} violation(s), ${mandatory} mandatory`;
    if (violations.length === 0) return head;
    const rows = violations.map(
        (v) => `| ${v.level} | \`${v.policy}\` | ${cell(resourceOf(v.urn))} | ${cell(v.message)} |`,
    );
    return [head, "", "| level | policy | resource | message |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** Keeps the end of a long log (the summary and the errors are there), within `max` characters. */
export function tail(text: string, max: number): string {
    if (text.length <= max) return text;
    const cut = text.slice(text.length - max);
    const nl = cut.indexOf("\n");
    return `… (${text.length - max + (nl >= 0 ? nl + 1 : 0)} characters cut)\n${nl >= 0 ? cut.slice(nl + 1) : cut}`;
}

export interface CommentInput {
    readonly stack: string;
    readonly previewOutcome: StepOutcome;
    /** Pulumi's preview output, when the preview ran. */
    readonly previewLog?: string;
    /** `npm run plan -- --stack S --json`, or undefined when the offline plan failed. */
    readonly plan?: PlanJson;
    /** `.rehearsal/S.md` as `npm run rehearse` writes it, or undefined when the rehearsal failed. */
    readonly rehearsal?: string;
    readonly runUrl?: string;
    readonly commit?: string;
}

/** The comment body: marker, preview summary, policy verdict, rollout diagram, preview output (folded). */
export function composeComment(input: CommentInput): string {
    const log = stripAnsi(input.previewLog ?? "");
    const parts: string[] = [commentMarker(input.stack)];
    parts.push(`## \`${input.stack}\`: pulumi preview ${ICON[input.previewOutcome]} ${input.previewOutcome}`);
    parts.push(
        `**Changes:** ${input.previewOutcome === "skipped" ? "preview not run" : formatSummary(parseChangeSummary(log))}`,
    );
    parts.push(
        `**Policy pack** (offline plan of \`Pulumi.${input.stack}.yaml\`, the same policies as \`--policy-pack policies\`): ` +
            (input.plan ? formatVerdict(input.plan.policy.violations) : "❌ the offline plan failed; see the job log"),
    );
    const section = policySection(log);
    if (section)
        parts.push(
            [
                "<details><summary>Policy report of the preview</summary>",
                "",
                "```text",
                section,
                "```",
                "</details>",
            ].join("\n"),
        );
    parts.push(
        input.rehearsal
            ? input.rehearsal.trim()
            : `### Rollout of stack \`${input.stack}\`\n\n❌ the rehearsal failed (a gate stuck or an error); see the job log`,
    );
    const footer = [
        input.commit ? `commit \`${input.commit.slice(0, 12)}\`` : undefined,
        input.runUrl ? `[workflow run](${input.runUrl})` : undefined,
    ]
        .filter((x): x is string => x !== undefined)
        .join(" · ");
    const fixed = [...parts, footer].join("\n\n");
    if (log.trim().length > 0) {
        const room = MAX_COMMENT_CHARS - fixed.length - 200;
        const shown = room > 500 ? tail(log.trimEnd(), room) : "(too long to show; see the job log)";
        parts.push(
            ["<details><summary>Preview output</summary>", "", "```text", shown, "```", "</details>"].join("\n"),
        );
    }
    if (footer) parts.push(`<sub>${footer}</sub>`);
    const body = `${parts.join("\n\n")}\n`;
    return body.length > MAX_COMMENT_CHARS ? `${body.slice(0, MAX_COMMENT_CHARS - 40)}\n\n… (comment cut)\n` : body;
}

// ---------------------------------------------------------------------------------------------
// Posting: one comment per stack, edited in place
// ---------------------------------------------------------------------------------------------

export interface IssueComment {
    readonly id: number;
    readonly body?: string;
}

/** The three GitHub REST calls the upsert needs (issue comments: pull requests are issues). */
export interface CommentsApi {
    list(page: number): Promise<IssueComment[]>;
    create(body: string): Promise<IssueComment>;
    update(id: number, body: string): Promise<IssueComment>;
}

/**
 * Edits the comment carrying the stack's marker, or creates it. When earlier runs left several (a race
 * of two runs), the oldest is kept and edited. Returns what was done.
 */
export async function upsertComment(
    api: CommentsApi,
    stack: string,
    body: string,
): Promise<{ action: "created" | "updated"; id: number }> {
    const marker = commentMarker(stack);
    if (!body.startsWith(marker)) throw new Error(`the comment body must start with ${marker}`);
    for (let page = 1; ; page++) {
        const comments = await api.list(page);
        const mine = comments.find((c) => c.body?.startsWith(marker));
        if (mine) return { action: "updated", id: (await api.update(mine.id, body)).id };
        if (comments.length < 100) break;
    }
    return { action: "created", id: (await api.create(body)).id };
}

type Fetch = (
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{
    ok: boolean;
    status: number;
    json(): Promise<unknown>;
    text(): Promise<string>;
}>;

/** The REST client for one pull request's comments (`GITHUB_API_URL`, a token with pull-requests: write). */
export function githubCommentsApi(opts: {
    readonly token: string;
    readonly repository: string;
    readonly pr: number;
    readonly apiUrl?: string;
    readonly fetch?: Fetch;
}): CommentsApi {
    const base = (opts.apiUrl ?? "https://api.github.com").replace(/\/+$/, "");
    const doFetch = opts.fetch ?? (globalThis.fetch as unknown as Fetch);
    const headers = {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${opts.token}`,
        "x-github-api-version": "2022-11-28",
        "content-type": "application/json",
    };
    const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
        const res = await doFetch(`${base}${path}`, {
            method,
            headers,
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        if (!res.ok)
            throw new Error(`GitHub ${method} ${path}: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
        return (await res.json()) as T;
    };
    const issue = `/repos/${opts.repository}/issues/${opts.pr}/comments`;
    return {
        list: (page) => call<IssueComment[]>("GET", `${issue}?per_page=100&page=${page}`),
        create: (body) => call<IssueComment>("POST", issue, { body }),
        update: (id, body) => call<IssueComment>("PATCH", `/repos/${opts.repository}/issues/comments/${id}`, { body }),
    };
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

function readIfPresent(file: string | undefined): string | undefined {
    if (!file || !existsSync(file)) return undefined;
    const text = readFileSync(file, "utf8");
    return text.trim().length > 0 ? text : undefined;
}

function readPlan(file: string | undefined): PlanJson | undefined {
    const text = readIfPresent(file);
    if (!text) return undefined;
    try {
        const plan = JSON.parse(text) as PlanJson;
        return Array.isArray(plan?.policy?.violations) ? plan : undefined;
    } catch {
        return undefined;
    }
}

const OUTCOMES: readonly StepOutcome[] = ["success", "failure", "cancelled", "skipped"];

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
    let code = 0;
    const program = new Command().name("pr-comment").exitOverride();
    program
        .command("compose")
        .requiredOption("--stack <name>")
        .requiredOption("--preview-outcome <outcome>", OUTCOMES.join(" | "))
        .option("--plan <file>", "npm run plan -- --json output")
        .option("--rehearsal <file>", ".rehearsal/<stack>.md")
        .option("--preview-log <file>", "pulumi preview output (default: env PREVIEW_OUTPUT)")
        .option("--run-url <url>")
        .option("--commit <sha>")
        .option("--out <file>")
        .action(
            (o: {
                stack: string;
                previewOutcome: string;
                plan?: string;
                rehearsal?: string;
                previewLog?: string;
                runUrl?: string;
                commit?: string;
                out?: string;
            }) => {
                const outcome = (OUTCOMES as readonly string[]).includes(o.previewOutcome)
                    ? (o.previewOutcome as StepOutcome)
                    : "skipped";
                const previewLog = o.previewLog ? readIfPresent(o.previewLog) : env.PREVIEW_OUTPUT;
                const plan = readPlan(o.plan);
                const rehearsal = readIfPresent(o.rehearsal);
                const body = composeComment({
                    stack: o.stack,
                    previewOutcome: outcome,
                    ...(previewLog ? { previewLog } : {}),
                    ...(plan ? { plan } : {}),
                    ...(rehearsal ? { rehearsal } : {}),
                    ...(o.runUrl ? { runUrl: o.runUrl } : {}),
                    ...(o.commit ? { commit: o.commit } : {}),
                });
                if (o.out) writeFileSync(o.out, body);
                else process.stdout.write(body);
            },
        );
    program
        .command("upsert")
        .requiredOption("--stack <name>")
        .requiredOption("--pr <number>")
        .requiredOption("--body <file>")
        .action(async (o: { stack: string; pr: string; body: string }) => {
            const token = env.GITHUB_TOKEN;
            const repository = env.GITHUB_REPOSITORY;
            if (!token || !repository) throw new Error("upsert needs GITHUB_TOKEN and GITHUB_REPOSITORY");
            const api = githubCommentsApi({
                token,
                repository,
                pr: Number(o.pr),
                ...(env.GITHUB_API_URL ? { apiUrl: env.GITHUB_API_URL } : {}),
            });
            const done = await upsertComment(api, o.stack, readFileSync(o.body, "utf8"));
            process.stdout.write(`${done.action} comment ${done.id} for stack ${o.stack}\n`);
        });
    try {
        await program.parseAsync([...argv], { from: "user" });
    } catch (e) {
        if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
        process.stderr.write(`${(e as Error).message}\n`);
        code = 1;
    }
    return code;
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code));
}
