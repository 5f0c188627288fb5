/**
 * `fleet-children-not-generic`: fleet members, update strategies and auto-upgrade profiles are not
 * created as azure-native's generic `resources.Resource`. Its provider (3.28) checks before a create
 * that the resource does not exist with a GET at its own metadata api-version (2024-03-01) instead of
 * the resource's `apiVersion` (`crud.go` `CanCreate`), which the Fleet resource provider answers 400,
 * reported as "cannot check existence of resource"; and it adds `location` to the body of these proxy
 * resources when `azure-native:location` is set (`applyDefaults`, auto-location). The mocks accept all
 * of it; the first `pulumi up` would not. `ArmResource` (components/arm-resource.ts) creates them at
 * their own api-version with a body of `properties` only.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { eq } from "../../core/arm-id";
import { TYPES, azureName, known, str, validateResourceOfToken, type Props } from "./common";

/** The finding for a generic resource under a fleet, or undefined for anything else. */
export function genericFleetChildProblem(props: Props, pulumiName: string): string | undefined {
    if (!eq(str(props.resourceProviderNamespace), "Microsoft.ContainerService")) return undefined;
    const parent = (known(() => str(props.parentResourcePath)) ?? "").replace(/^\/+/, "");
    if (!/^fleets\//i.test(parent)) return undefined;
    const type = str(props.resourceType) ?? "?";
    const name = known(() => azureName(props, "resourceName", pulumiName)) ?? pulumiName;
    return (
        `generic resource "${pulumiName}" creates Microsoft.ContainerService/fleets/${type} "${name}": azure-native checks ` +
        "that it does not exist at its own api-version (2024-03-01), which the Fleet resource provider answers 400, and " +
        `adds location to its body; create it with ArmResource (components/arm-resource.ts) at apiVersion ${str(props.apiVersion) ?? "2026-06-01"}`
    );
}

export const disallowGenericFleetChildren: ResourceValidationPolicy = {
    name: "fleet-children-not-generic",
    description:
        "Fleet members, update strategies and auto-upgrade profiles are created at their own api-version, not as azure-native generic resources.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps:
        "Use ArmResource (components/arm-resource.ts) with the same inputs instead of resources.Resource.",
    validateResource: validateResourceOfToken(TYPES.genericResource, (props, args, report) => {
        const problem = genericFleetChildProblem(props, args.name);
        if (problem) report(problem);
    }),
};
