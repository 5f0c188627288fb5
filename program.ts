/**
 * The fleet-gates program: wires the components from a validated stack config. `index.ts` calls it
 * under `pulumi up`; the offline plan calls the same function under mocks.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import { Access } from "./components/access";
import { Fleet } from "./components/fleet";
import { GateEvents } from "./components/gate-events";
import { GateHandler } from "./components/gate-handler";
import {
    hubMemberClustersSetting,
    hubPlacementsSetting,
    type HubAppSettingInputs,
} from "./components/handler-settings";
import { fleetHubEndpoint, handlerPlacements, HubPlacements, type HubEndpoint } from "./components/hub-placements";
import { UpdateStrategy } from "./components/update-strategy";
import { isPlacementRule } from "./core/placement";
import { UpgradeEvents } from "./components/upgrade-events";
import type { StackConfig } from "./config";
import { upgradeEventsSetting } from "./core/upgrade-events";

/** The stack outputs (`pulumi stack output`). */
export interface FleetGatesOutputs {
    readonly fleetId: pulumi.Output<string>;
    readonly strategyId: pulumi.Output<string>;
    readonly autoUpgradeProfileId: pulumi.Output<string> | undefined;
    readonly topicId: pulumi.Output<string>;
    readonly functionAppName: pulumi.Output<string>;
    readonly handlerPrincipalId: pulumi.Output<string>;
    readonly subscriptionNames: pulumi.Output<string[]>;
    readonly approversGroupId: pulumi.Output<string>;
    readonly subscribersGroupId: pulumi.Output<string>;
}

export function fleetGates(cfg: StackConfig): FleetGatesOutputs {
    const client = authorization.getClientConfigOutput();
    const subscriptionId = client.subscriptionId;
    const tags = { environment: cfg.environment, "managed-by": "fleet-gates" };

    const fleet = new Fleet("fleet", {
        environment: cfg.environment,
        subscriptionId,
        location: cfg.location,
        resourceGroupName: cfg.resourceGroupName,
        fleetName: cfg.fleet.name,
        hubCluster: cfg.fleet.hubCluster,
        members: cfg.members,
        tags,
    });

    const strategy = new UpdateStrategy("strategy", {
        subscriptionId,
        resourceGroupName: fleet.resourceGroupName,
        fleetName: fleet.fleetName,
        strategyName: cfg.updateStrategy.name,
        stages: cfg.updateStrategy.stages,
        ...(cfg.autoUpgrade ? { autoUpgrade: cfg.autoUpgrade } : {}),
        // The service rejects a strategy whose groups have no member yet.
        dependsOn: Object.values(fleet.members),
    });

    // AKS upgrade events: the handler learns the members, their groups and the strategy a started run uses.
    const upgrade = cfg.upgradeEvents;
    const upgradeEventsJson = upgrade
        ? pulumi.all([strategy.strategyId, pulumi.all(fleet.memberClusterIds)]).apply(([strategyId, ids]) =>
              upgradeEventsSetting(
                  upgrade,
                  strategyId,
                  cfg.members.map((m) => ({ name: m.name, clusterId: ids[m.name]!, group: m.group })),
              ),
          )
        : undefined;

    // Placements on the hub: the program creates them there, and the handler's loop decides their approvals.
    const hub = cfg.placements.length > 0 ? hubWiring(cfg, fleet) : undefined;

    const handler = new GateHandler("handler", {
        resourceGroupName: fleet.resourceGroupName,
        location: cfg.location,
        environment: cfg.environment,
        subscriptionId,
        fleetId: fleet.fleetId,
        memberNames: cfg.members.map((m) => m.name),
        memberClusterIds: fleet.memberClusterIds,
        // One source of truth: the handler matches gates with the same rules the filters were compiled from.
        rulesJson: JSON.stringify(cfg.approvals),
        ...(upgradeEventsJson ? { upgradeEventsJson, startRun: upgrade?.startRun === true } : {}),
        roleScope: cfg.handler.roleScope,
        sweepMinutes: cfg.handler.sweepMinutes,
        escalateAfterMinutes: cfg.handler.escalateAfterMinutes,
        nodeVersion: cfg.handler.nodeVersion,
        ...(cfg.handler.notifyWebhookUrl ? { notifyWebhookUrl: cfg.handler.notifyWebhookUrl } : {}),
        ...(hub ? { hub: hub.settings } : {}),
        tags,
    });

    const events = new GateEvents("gate-events", {
        resourceGroupName: fleet.resourceGroupName,
        subscriptionId,
        fleetId: fleet.fleetId,
        // Placement rules decide hub approval requests; no event reaches Event Grid for them.
        rules: cfg.approvals.filter((r) => !isPlacementRule(r)),
        ...(cfg.systemTopic
            ? {
                  existingTopic: {
                      name: cfg.systemTopic.existingName,
                      resourceGroupName: cfg.systemTopic.existingResourceGroup,
                  },
              }
            : {}),
        eventFunctionResourceId: handler.eventFunctionId,
        lifecycleFunctionResourceId: handler.eventFunctionId,
        deadLetterStorageAccountId: handler.storageAccountId,
        deadLetterStorageAccountName: handler.storageAccountName,
        // Event Grid validates the destination function when a subscription is created.
        dependsOn: [handler.deployment],
        tags,
    });

    if (hub)
        new HubPlacements("hub", {
            resourceGroupName: fleet.resourceGroupName,
            fleetName: fleet.fleetName,
            placements: cfg.placements,
            handlerPrincipalId: handler.principalId,
            hubEndpoint: hub.endpoint,
            // Stage label selectors see only members that have joined.
            dependsOn: Object.values(fleet.members),
        });
    if (upgrade) upgradeEvents(cfg, upgrade, fleet, handler, tags);

    const access = new Access("access", {
        environment: cfg.environment,
        subscriptionId,
        fleetId: fleet.fleetId,
    });

    return {
        fleetId: fleet.fleetId,
        strategyId: strategy.strategyId,
        autoUpgradeProfileId: strategy.autoUpgradeProfileId,
        topicId: events.topicId,
        functionAppName: handler.functionAppName,
        handlerPrincipalId: handler.principalId,
        subscriptionNames: events.subscriptionNames,
        approversGroupId: access.approversGroupId,
        subscribersGroupId: access.subscribersGroupId,
    };
}

/**
 * The hub's endpoint, read once from the fleet's `listCredentials` for both the kubernetes provider
 * and the handler, and the handler's hub app settings: the placements as the program names them on
 * the hub, and each member's cluster id keyed by member (the MemberCluster's name on the hub).
 */
function hubWiring(
    cfg: StackConfig,
    fleet: Fleet,
): { endpoint: pulumi.Output<HubEndpoint>; settings: HubAppSettingInputs } {
    const endpoint = fleetHubEndpoint({ resourceGroupName: fleet.resourceGroupName, fleetName: fleet.fleetName });
    const memberNames = cfg.members.map((m) => m.name);
    return {
        endpoint,
        settings: {
            server: endpoint.server,
            caData: endpoint.apply((e) => e.caData ?? ""),
            placementsJson: hubPlacementsSetting(handlerPlacements(cfg.placements)),
            memberClustersJson: pulumi
                .all(fleet.memberClusterIds)
                .apply((ids) => hubMemberClustersSetting(memberNames, ids)),
        },
    };
}

/** Each member's ManagedClusters topic and its subscription to the handler (`fleet-gates:upgradeEvents`). */
function upgradeEvents(
    cfg: StackConfig,
    upgrade: NonNullable<StackConfig["upgradeEvents"]>,
    fleet: Fleet,
    handler: GateHandler,
    tags: Record<string, string>,
): void {
    new UpgradeEvents("upgrade-events", {
        resourceGroupName: fleet.resourceGroupName,
        members: cfg.members.map((m) => ({
            name: m.name,
            clusterId: fleet.memberClusterIds[m.name]!,
            location: m.location ?? cfg.location,
            ...(upgrade.existingTopics[m.name]
                ? {
                      existingTopic: {
                          name: upgrade.existingTopics[m.name]!.name,
                          resourceGroupName: upgrade.existingTopics[m.name]!.resourceGroup,
                      },
                  }
                : {}),
        })),
        eventTypes: upgrade.eventTypes,
        functionResourceId: handler.eventFunctionId,
        deadLetterStorageAccountId: handler.storageAccountId,
        deadLetterStorageAccountName: handler.storageAccountName,
        dependsOn: [handler.deployment],
        tags,
    });
}
