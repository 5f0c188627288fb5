/**
 * Pulumi entry point of the bootstrap project (`cd bootstrap && pulumi up --stack <subscription>`),
 * run once per subscription by an administrator: validate the config, create the identities, export
 * what GitHub needs.
 */
import { loadBootstrapConfig } from "./config";
import { bootstrap } from "./program";

const outputs = bootstrap(loadBootstrapConfig());

export const subscriptionId = outputs.subscriptionId;
export const tenantId = outputs.tenantId;
export const previewClientId = outputs.previewClientId;
export const deployClientId = outputs.deployClientId;
export const previewSubjects = outputs.previewSubjects;
export const deploySubjects = outputs.deploySubjects;
export const assignableRoleGuids = outputs.assignableRoleGuids;
export const roleAssignmentCondition = outputs.roleAssignmentCondition;
export const githubVariables = outputs.githubVariables;
