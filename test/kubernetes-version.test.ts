/** Version ordering, the channel decision and the start-run guards (tables; fast-check for ordering). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
    channelTarget,
    compareVersions,
    formatVersion,
    membersByMinor,
    minorLabel,
    parseKubernetesVersion,
    runNameFor,
    startRunVerdict,
    type AvailableVersions,
    type UpgradeChannel,
} from "../core/kubernetes-version";

const AVAILABLE: AvailableVersions = {
    latestSupported: "1.34.1",
    latestStable: "1.33.2",
    lowestMinor: "1.31.9",
    latestPreview: "1.35.0",
};

describe("parseKubernetesVersion and ordering", () => {
    it.each(["1.33.2", "0.0.0", "1.100.12"])("parses %s", (s) => {
        expect(formatVersion(parseKubernetesVersion(s)!)).toBe(s);
    });
    it.each(["v1.33.2", "1.33", "1.33.2-rc.1", "01.33.2", "1.33.2 ", ""])("refuses %j", (s) => {
        expect(parseKubernetesVersion(s)).toBeUndefined();
    });
    it("orders numerically, not as strings (1.9 < 1.10)", () => {
        expect(compareVersions(parseKubernetesVersion("1.9.5")!, parseKubernetesVersion("1.10.0")!)).toBeLessThan(0);
    });
    it("is a total order consistent with the numeric tuple (fast-check)", () => {
        const v = fc.record({ major: fc.nat(20), minor: fc.nat(200), patch: fc.nat(99) });
        fc.assert(
            fc.property(v, v, (a, b) => {
                const c = compareVersions(a, b);
                expect(Math.sign(c)).toBe(-Math.sign(compareVersions(b, a)) || 0);
                const ta = a.major * 1e6 + a.minor * 1e3 + a.patch;
                const tb = b.major * 1e6 + b.minor * 1e3 + b.patch;
                expect(Math.sign(c)).toBe(Math.sign(ta - tb));
                expect(parseKubernetesVersion(formatVersion(a))).toEqual(a);
            }),
        );
    });
});

describe("channelTarget", () => {
    const table: [UpgradeChannel, string | undefined, AvailableVersions, string][] = [
        ["Stable", undefined, AVAILABLE, "1.33.2"],
        ["Rapid", undefined, AVAILABLE, "1.34.1"],
        ["TargetKubernetesVersion", "1.33", AVAILABLE, "1.33.2"],
        ["TargetKubernetesVersion", "1.31", AVAILABLE, "1.31.9"],
        ["TargetKubernetesVersion", "1.34", AVAILABLE, "1.34.1"],
    ];
    it.each(table)("%s (target %s) → %s…", (channel, target, available, expected) => {
        expect(channelTarget(channel, available, target)).toEqual({ ok: true, version: expected });
    });
    it.each([
        [
            "NodeImage",
            undefined,
            AVAILABLE,
            "channel NodeImage upgrades node images only, never the Kubernetes version",
        ],
        [
            "TargetKubernetesVersion",
            "1.32",
            AVAILABLE,
            "no announced version is a patch of the target minor 1.32 (announced: 1.34.1, 1.33.2, 1.31.9)",
        ],
        [
            "TargetKubernetesVersion",
            undefined,
            AVAILABLE,
            'channel TargetKubernetesVersion needs a target minor like "1.33" (got null)',
        ],
        [
            "Rapid",
            undefined,
            { ...AVAILABLE, latestPreview: "1.34.1" },
            "1.34.1 is the preview version; a run never targets a preview",
        ],
    ] as const)("%s (target %s) → none", (channel, target, available, reason) => {
        expect(channelTarget(channel, available, target)).toEqual({ ok: false, reason });
    });
});

describe("startRunVerdict", () => {
    const members = [
        { name: "a", version: "1.32.5" },
        { name: "b", version: "1.33.0" },
    ];
    it("starts when no run is in progress and nobody would be downgraded", () => {
        expect(startRunVerdict("1.33.2", members, [{ name: "old", state: "Completed" }])).toEqual({
            start: true,
            version: "1.33.2",
        });
    });
    it.each([
        [
            "another run is Running",
            "1.33.2",
            members,
            [{ name: "manual-1", state: "Running" }],
            undefined,
            "update run manual-1 is Running; never two runs at once",
        ],
        [
            "another run is Stopping",
            "1.33.2",
            members,
            [{ name: "r", state: "Stopping" }],
            undefined,
            "update run r is Stopping; never two runs at once",
        ],
        [
            "a member is newer (downgrade)",
            "1.33.2",
            [...members, { name: "c", version: "1.34.0" }],
            [],
            undefined,
            "c runs 1.34.0, newer than 1.33.2; a run would downgrade",
        ],
        [
            "a member's version is unknown",
            "1.33.2",
            [...members, { name: "c" }],
            [],
            undefined,
            "the version of c is unknown; not starting a run that might downgrade",
        ],
        [
            "every member runs it already",
            "1.33.0",
            [{ name: "b", version: "1.33.0" }],
            [],
            undefined,
            "every member already runs 1.33.0",
        ],
        [
            "the run for this version exists and runs",
            "1.33.2",
            members,
            [{ name: "k8s-1-33-2", state: "Running" }],
            "k8s-1-33-2",
            "update run k8s-1-33-2 for 1.33.2 exists already (Running)",
        ],
        [
            "the run for this version completed",
            "1.33.2",
            members,
            [{ name: "k8s-1-33-2", state: "Completed" }],
            "k8s-1-33-2",
            "update run k8s-1-33-2 for 1.33.2 exists already (Completed)",
        ],
    ] as const)("does not start when %s", (_what, target, ms, runs, own, reason) => {
        expect(startRunVerdict(target, ms, runs, own)).toEqual({ start: false, reason });
    });
    it("resumes its own run left NotStarted by an earlier attempt", () => {
        expect(startRunVerdict("1.33.2", members, [{ name: "K8S-1-33-2", state: "NotStarted" }], "k8s-1-33-2")).toEqual(
            {
                start: true,
                version: "1.33.2",
            },
        );
    });
    it("never starts a downgrade, whatever the members (fast-check)", () => {
        const ver = fc.tuple(fc.constant(1), fc.nat(40), fc.nat(20)).map(([a, b, c]) => `${a}.${b}.${c}`);
        fc.assert(
            fc.property(
                ver,
                fc.array(fc.record({ name: fc.string({ minLength: 1, maxLength: 5 }), version: ver }), {
                    minLength: 1,
                    maxLength: 8,
                }),
                (target, ms) => {
                    const v = startRunVerdict(target, ms, []);
                    const t = parseKubernetesVersion(target)!;
                    const downgrade = ms.some((m) => compareVersions(parseKubernetesVersion(m.version)!, t) > 0);
                    const allThere = ms.every((m) => m.version === target);
                    expect(v.start).toBe(!downgrade && !allThere);
                },
            ),
        );
    });
});

describe("names and grouping", () => {
    it.each([
        ["1.33.2", "1.33"],
        ["1.33", "1.33"],
        ["1.9.10", "1.9"],
    ])("labels the minor of %s as %s", (version, minor) => {
        expect(minorLabel(version)).toBe(minor);
    });
    it("names the run after the version, in Fleet's name pattern", () => {
        expect(runNameFor("1.33.2")).toBe("k8s-1-33-2");
        expect(runNameFor("1.33.2")).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        expect(() => runNameFor("1.33")).toThrow('runNameFor: "1.33" is not a version like 1.33.2');
    });
    it("groups members by minor, oldest first, unknown last", () => {
        expect(
            membersByMinor([
                { name: "c", version: "1.31.2" },
                { name: "a", version: "1.9.0" },
                { name: "x" },
                { name: "b", version: "1.31.9" },
                { name: "d", version: "1.10.1" },
            ]),
        ).toEqual([
            ["1.9", ["a"]],
            ["1.10", ["d"]],
            ["1.31", ["b", "c"]],
            ["unknown", ["x"]],
        ]);
    });
});
