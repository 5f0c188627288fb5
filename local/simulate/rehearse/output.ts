/**
 * Everything the rehearsal prints, from one place: the `--json` shape, the timeline and summary a
 * person reads in a terminal, and the rollout as a Mermaid flowchart for a PR comment.
 */
import type { GateTiming } from "../../../core/rules";
import type { GatePosition } from "../../../core/strategy";
import type { StackConfig } from "../../../config";
import { positionKey, type RehearsalGate, type RehearsalOutcome, type RehearsalResult } from "./types";

/** The `--json` contract: `{ stack, gates, stuck, durationMs }`. */
export function rehearsalJson(r: RehearsalResult): Pick<RehearsalResult, "stack" | "gates" | "stuck" | "durationMs"> {
    return { stack: r.stack, gates: r.gates, stuck: r.stuck, durationMs: r.durationMs };
}

function duration(ms: number): string {
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86_400);
    const hms = [Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60), s % 60]
        .map((n) => String(n).padStart(2, "0"))
        .join(":");
    return d > 0 ? `${d}d ${hms}` : hms;
}

function table(head: string[], rows: string[][]): string[] {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd();
    return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

/** A readable timeline (virtual time) and a summary table, for a person reading a terminal. */
export function formatRehearsal(r: RehearsalResult): string {
    const t0 = r.timeline.length > 0 ? Date.parse(r.timeline[0]!.at) : 0;
    const out: string[] = [`rehearsal of stack ${r.stack} (fleet ${r.fleetId}, update run ${r.runName})`, ""];
    out.push(
        ...table(
            ["+time", "virtual time", "where", "gate", "via", "decision", "why"],
            r.timeline.map((e) => [
                `+${duration(Date.parse(e.at) - t0)}`,
                e.at.replace(/\.\d{3}Z$/, "Z"),
                e.group === null ? e.stage : `${e.stage}/${e.group}`,
                e.gate === null ? "-" : JSON.stringify(e.gate),
                e.subscription ?? "-",
                e.decision,
                e.reason ?? "",
            ]),
        ),
    );
    out.push("", "summary");
    out.push(
        ...table(
            ["stage", "group", "timing", "gate", "rule", "routed by", "outcome"],
            [
                ...r.gates.map((g) => [
                    g.stage,
                    g.group ?? "-",
                    g.timing,
                    JSON.stringify(g.displayName),
                    g.rule ?? "-",
                    g.subscriptions.join(", ") || "-",
                    g.outcome,
                ]),
                ...r.notReached.map((g) => [
                    g.stage,
                    g.group ?? "-",
                    g.timing,
                    JSON.stringify(g.displayName),
                    "",
                    "",
                    "not reached",
                ]),
            ],
        ),
    );
    out.push(
        "",
        `event grid: ${r.deliveries} request(s) to the handler, ${r.gateWrites} gate approval(s) written by it, ` +
            `${r.deadLetters.length} dead-letter blob(s)`,
    );
    for (const b of r.deadLetters) {
        const first = b.records[0] ?? {};
        const reason = first.deadLetterReason ?? first.deadletterreason ?? "?";
        out.push(`  dead-lettered: ${b.path} (${b.records.length} event(s), ${String(reason)})`);
    }
    out.push("");
    if (r.stuck.length === 0)
        out.push(`the run completed: ${r.gates.length} gate(s) passed in ${duration(r.durationMs)} of virtual time`);
    else
        for (const s of r.stuck)
            out.push(
                `STUCK at "${s.displayName}" (stage ${s.stage}${s.group !== null ? `, group ${s.group}` : ""}) after ${duration(r.durationMs)}: ${s.reason}`,
            );
    return out.join("\n");
}

function mermaidText(s: string): string {
    return s.replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;");
}

const MERMAID_MARK: Record<RehearsalOutcome | "notReached", string> = {
    approved: "approved by rule",
    manual: "manual",
    held: "held",
    unrouted: "unrouted",
    notReached: "not reached",
};

/**
 * The rollout as a Mermaid flowchart, ready for a PR comment: stages (subgraphs) → groups with
 * member counts → gates, each gate marked approved by rule / manual / held / unrouted / not reached.
 */
export function rehearsalMermaid(r: RehearsalResult, model: Pick<StackConfig, "updateStrategy" | "members">): string {
    const outcome = new Map<string, RehearsalGate>();
    for (const g of r.gates)
        outcome.set(
            positionKey({
                stage: g.stage,
                ...(g.group !== null ? { group: g.group } : {}),
                timing: g.timing,
                displayName: g.displayName,
            }),
            g,
        );
    const lines = ["flowchart LR"];
    let n = 0;
    const id = () => `n${n++}`;
    let prev: string | null = null;
    const edge = (from: string | null, to: string) => {
        if (from !== null) lines.push(`    ${from} --> ${to}`);
    };
    const gateNode = (indent: string, pos: GatePosition): string => {
        const g = outcome.get(positionKey(pos));
        const kind = g?.outcome ?? "notReached";
        const rule = g?.outcome === "approved" && g.rule !== null ? ` (${g.rule})` : "";
        const node = id();
        lines.push(
            `${indent}${node}{{"${mermaidText(pos.displayName)}<br/>${pos.timing} · ${MERMAID_MARK[kind]}${mermaidText(rule)}"}}:::${kind}`,
        );
        return node;
    };
    model.updateStrategy.stages.forEach((stage, si) => {
        lines.push(`    subgraph s${si}["stage ${mermaidText(stage.name)}"]`);
        const entry = id();
        lines.push(`        ${entry}(["${mermaidText(stage.name)}"])`);
        const chain: [string, string][] = [];
        /** Gates one after another from `from`; returns the last node. */
        const chainGates = (
            from: string,
            gates: readonly { displayName: string }[] | undefined,
            timing: GateTiming,
            group?: string,
        ): string => {
            let cur = from;
            for (const g of gates ?? []) {
                const node = gateNode("        ", {
                    stage: stage.name,
                    ...(group !== undefined ? { group } : {}),
                    timing,
                    displayName: g.displayName,
                });
                chain.push([cur, node]);
                cur = node;
            }
            return cur;
        };
        const cur = chainGates(entry, stage.beforeGates, "Before");
        const ends: string[] = [];
        for (const group of stage.groups) {
            const before = chainGates(cur, group.beforeGates, "Before", group.name);
            const count = model.members.filter((m) => m.group === group.name).length;
            const gnode = id();
            lines.push(`        ${gnode}["group ${mermaidText(group.name)}<br/>${count} member(s)"]`);
            chain.push([before, gnode]);
            ends.push(chainGates(gnode, group.afterGates, "After", group.name));
        }
        let tail = ends.length > 0 ? ends : [cur];
        for (const g of stage.afterGates ?? []) {
            const node = gateNode("        ", { stage: stage.name, timing: "After", displayName: g.displayName });
            for (const e of tail) chain.push([e, node]);
            tail = [node];
        }
        for (const [a, b] of chain) lines.push(`        ${a} --> ${b}`);
        lines.push("    end");
        edge(prev, `s${si}`);
        if (stage.afterStageWaitInSeconds) {
            const wait = id();
            lines.push(`    ${wait}(["wait ${stage.afterStageWaitInSeconds} s"])`);
            lines.push(`    s${si} --> ${wait}`);
            prev = wait;
        } else prev = `s${si}`;
    });
    lines.push(
        "    classDef approved fill:#d4f7d4,stroke:#2e7d32",
        "    classDef manual fill:#fff3c4,stroke:#b28704",
        "    classDef held fill:#ffd6d6,stroke:#c62828",
        "    classDef unrouted fill:#ffd6d6,stroke:#c62828,stroke-dasharray: 4 2",
        "    classDef notReached fill:#eeeeee,stroke:#9e9e9e,color:#757575",
    );
    return lines.join("\n");
}
