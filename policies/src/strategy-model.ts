/**
 * Update strategies as the pack reads them: the program's `ArmResource` and azure-native's generic ARM
 * resource (same inputs: `fleets/updateStrategies`, `properties.strategy`), and azure-native's typed
 * `FleetUpdateStrategy` (`strategy`).
 * Only gates of type Approval count; the result uses `core/strategy.ts`'s model.
 */
import { eq } from "../../core/arm-id";
import type { GateSpec, GroupSpec, StageSpec } from "../../core/strategy";
import { TYPES, arr, azureName, isResourceType, obj, str, type Props } from "./common";

export interface StrategyInfo {
    /** ARM name of the strategy (`resourceName`/`updateStrategyName`) or the Pulumi name. */
    readonly name: string;
    /** The fleet's name when the resource says (`parentResourcePath` `fleets/<name>`, or `fleetName`). */
    readonly fleetName?: string;
    readonly resourceGroupName?: string;
    readonly stages: StageSpec[];
}

function approvalGates(v: unknown): GateSpec[] {
    return arr(v)
        .map(obj)
        .filter((g): g is Props => g !== undefined && eq(str(g.type), "Approval"))
        .map((g) => ({ displayName: str(g.displayName) ?? "" }));
}

function stagesOf(v: unknown): StageSpec[] {
    return arr(v)
        .map(obj)
        .filter((s): s is Props => s !== undefined)
        .map((s) => ({
            name: str(s.name) ?? "",
            beforeGates: approvalGates(s.beforeGates),
            afterGates: approvalGates(s.afterGates),
            groups: arr(s.groups)
                .map(obj)
                .filter((g): g is Props => g !== undefined)
                .map((g): GroupSpec => ({
                    name: str(g.name) ?? "",
                    beforeGates: approvalGates(g.beforeGates),
                    afterGates: approvalGates(g.afterGates),
                })),
        }));
}

/** The fleet name of a `parentResourcePath` that is exactly `fleets/<name>`. */
function fleetOfParentPath(path: string | undefined): string | undefined {
    const m = path ? /^fleets\/([^/]+)$/i.exec(path.replace(/^\/+|\/+$/g, "")) : null;
    return m?.[1];
}

/** The strategy a resource declares, or undefined when it is no Fleet update strategy. */
export function strategyOf(type: string, props: Props, pulumiName: string): StrategyInfo | undefined {
    if (isResourceType(type, TYPES.armResource) || isResourceType(type, TYPES.genericResource)) {
        if (!eq(str(props.resourceProviderNamespace), "Microsoft.ContainerService")) return undefined;
        if (!eq(str(props.resourceType), "updateStrategies")) return undefined;
        return {
            name: azureName(props, "resourceName", pulumiName),
            fleetName: fleetOfParentPath(str(props.parentResourcePath)),
            resourceGroupName: str(props.resourceGroupName),
            stages: stagesOf(obj(obj(props.properties)?.strategy)?.stages),
        };
    }
    if (isResourceType(type, TYPES.fleetUpdateStrategy))
        return {
            name: azureName(props, "updateStrategyName", pulumiName),
            fleetName: str(props.fleetName),
            resourceGroupName: str(props.resourceGroupName),
            stages: stagesOf(obj(props.strategy)?.stages),
        };
    return undefined;
}
