/**
 * Pulumi entry point (`pulumi up --stack <env>`): validate the stack config, wire the components,
 * export the stack outputs.
 */
import { loadStackConfig } from "./config";
import { fleetGates } from "./program";

const outputs = fleetGates(loadStackConfig());

export const fleetId = outputs.fleetId;
export const strategyId = outputs.strategyId;
export const autoUpgradeProfileId = outputs.autoUpgradeProfileId;
export const topicId = outputs.topicId;
export const functionAppName = outputs.functionAppName;
export const handlerPrincipalId = outputs.handlerPrincipalId;
export const subscriptionNames = outputs.subscriptionNames;
export const approversGroupId = outputs.approversGroupId;
export const subscribersGroupId = outputs.subscribersGroupId;
