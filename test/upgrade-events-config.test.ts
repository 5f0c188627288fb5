/** `fleet-gates:upgradeEvents`: defaults, resolution against `autoUpgrade`, and errors naming both keys. */
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig, type RawStackConfig } from "../config";
import { AKS_EVENT_TYPES } from "../core/aks-event";

function base(extra: Partial<RawStackConfig> = {}): RawStackConfig {
    return {
        location: "westeurope",
        environment: "dev",
        fleet: { name: "flt-dev" },
        members: [{ name: "aks-dev-blue-1", group: "blue" }],
        updateStrategy: { name: "gated-rollout", stages: [{ name: "dev", groups: [{ name: "blue" }] }] },
        ...extra,
    };
}

function problemsOf(raw: RawStackConfig): string[] {
    try {
        parseStackConfig(raw);
    } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return [...(e as ConfigError).problems];
    }
    return [];
}

describe("upgradeEvents config", () => {
    it("is absent unless configured", () => {
        expect(parseStackConfig(base()).upgradeEvents).toBeUndefined();
    });

    it("defaults to every event type, notify only, Latest node images", () => {
        expect(parseStackConfig(base({ upgradeEvents: {} })).upgradeEvents).toEqual({
            eventTypes: Object.values(AKS_EVENT_TYPES),
            startRun: false,
            nodeImageSelection: "Latest",
            existingTopics: {},
        });
    });

    it("is off with enabled: false", () => {
        expect(parseStackConfig(base({ upgradeEvents: { enabled: false } })).upgradeEvents).toBeUndefined();
    });

    it("takes the channel, target and node image selection from a disabled auto-upgrade profile", () => {
        const cfg = parseStackConfig(
            base({
                autoUpgrade: {
                    channel: "TargetKubernetesVersion",
                    targetKubernetesVersion: "1.33",
                    nodeImageSelection: "Consistent",
                    disabled: true,
                },
                upgradeEvents: {
                    startRun: true,
                    eventTypes: ["NewKubernetesVersionAvailable", "NodePoolRollingFailed"],
                },
            }),
        );
        expect(cfg.upgradeEvents).toEqual({
            eventTypes: [AKS_EVENT_TYPES.newKubernetesVersionAvailable, AKS_EVENT_TYPES.nodePoolRollingFailed],
            startRun: true,
            channel: "TargetKubernetesVersion",
            targetKubernetesVersion: "1.33",
            nodeImageSelection: "Consistent",
            existingTopics: {},
        });
    });

    it.each([
        [
            "startRun with an enabled auto-upgrade profile",
            { autoUpgrade: { channel: "Stable" }, upgradeEvents: { startRun: true } },
            "fleet-gates:upgradeEvents.startRun is true while fleet-gates:autoUpgrade.disabled is false: Fleet's auto-upgrade profile already creates a run for each new version; set autoUpgrade.disabled: true or upgradeEvents.startRun: false",
        ],
        [
            "startRun without a channel",
            { upgradeEvents: { startRun: true } },
            "fleet-gates:upgradeEvents.startRun is true but no channel is set: set fleet-gates:upgradeEvents.channel or fleet-gates:autoUpgrade.channel",
        ],
        [
            "startRun on the NodeImage channel",
            { upgradeEvents: { startRun: true, channel: "NodeImage" } },
            'fleet-gates:upgradeEvents.startRun is true but the channel is "NodeImage", which never targets a Kubernetes version',
        ],
        [
            "startRun without NewKubernetesVersionAvailable",
            { upgradeEvents: { startRun: true, channel: "Stable", eventTypes: ["NodePoolRollingFailed"] } },
            'fleet-gates:upgradeEvents.startRun is true but fleet-gates:upgradeEvents.eventTypes ["NodePoolRollingFailed"] leaves out NewKubernetesVersionAvailable, the event that starts a run',
        ],
        [
            "startRun while disabled",
            { upgradeEvents: { startRun: true, enabled: false } },
            "fleet-gates:upgradeEvents.startRun is true but fleet-gates:upgradeEvents.enabled is false",
        ],
        [
            "a target channel without a target",
            { upgradeEvents: { channel: "TargetKubernetesVersion" } },
            'fleet-gates:upgradeEvents.targetKubernetesVersion is required when the channel is "TargetKubernetesVersion" (or set fleet-gates:autoUpgrade.targetKubernetesVersion)',
        ],
        [
            "a target with another channel",
            { upgradeEvents: { channel: "Rapid", targetKubernetesVersion: "1.33" } },
            'fleet-gates:upgradeEvents.targetKubernetesVersion "1.33" is only allowed with channel "TargetKubernetesVersion" (channel is "Rapid")',
        ],
        [
            "an unknown event type",
            { upgradeEvents: { eventTypes: ["NodePoolRollingFail"] } },
            'fleet-gates:upgradeEvents.eventTypes[0] "NodePoolRollingFail" must be one of "NewKubernetesVersionAvailable", "ClusterSupportEnding", "ClusterSupportEnded", "NodePoolRollingStarted", "NodePoolRollingSucceeded", "NodePoolRollingFailed"',
        ],
        [
            "an existing topic for a member the stack does not have",
            { upgradeEvents: { existingTopics: { "aks-dev-blue-9": { name: "topic-9", resourceGroup: "rg" } } } },
            "fleet-gates:upgradeEvents.existingTopics.aks-dev-blue-9 names no member (members: aks-dev-blue-1)",
        ],
        [
            "an unknown key",
            { upgradeEvents: { startrun: true } },
            'fleet-gates:upgradeEvents has unknown key "startrun"',
        ],
        [
            "a non-boolean startRun",
            { upgradeEvents: { startRun: "yes" } },
            'fleet-gates:upgradeEvents.startRun "yes" must be a boolean',
        ],
    ])("rejects %s, naming the keys", (_what, extra, problem) => {
        expect(problemsOf(base(extra as Partial<RawStackConfig>))).toEqual([problem]);
    });
});
