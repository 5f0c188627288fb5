/**
 * What the pull-request identity may do: read the subscription, nothing else. `pulumi preview` diffs
 * the program against the stack's state and reads what it must (the client config, an adopted system
 * topic); it creates, changes and deletes nothing, so Reader is enough. Pull-request code is not
 * reviewed yet when it runs, so this identity must never write.
 */
import * as pulumi from "@pulumi/pulumi";
import { BUILTIN_ROLES, roleDefinitionId } from "../core/roles";
import { stableRoleAssignment } from "../components/role-assignment";

export interface PreviewAccessArgs {
    /** The subscription to read. */
    readonly subscriptionId: pulumi.Input<string>;
    /** Object id of the pull-request identity's service principal. */
    readonly principalId: pulumi.Input<string>;
    /** Stands in for the principal in the assignment's name (known at preview, unlike the object id). */
    readonly principalKey: pulumi.Input<string>;
}

export class PreviewAccess extends pulumi.ComponentResource {
    /** ARM id of the Reader assignment. */
    public readonly readerAssignmentId: pulumi.Output<string>;

    constructor(name: string, args: PreviewAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("fleet-gates:bootstrap:PreviewAccess", name, {}, opts);
        const scope = pulumi.interpolate`/subscriptions/${args.subscriptionId}`;
        const role = pulumi.output(args.subscriptionId).apply((sub) => roleDefinitionId(sub, BUILTIN_ROLES.reader));
        const reader = stableRoleAssignment(this, name, {
            key: "reader",
            scope,
            roleDefinitionId: role,
            principalId: args.principalId,
            principalType: "ServicePrincipal",
            principalKey: args.principalKey,
            description: "fleet-gates pull-request previews: read the subscription.",
        });
        this.readerAssignmentId = reader.id;
        this.registerOutputs({ readerAssignmentId: this.readerAssignmentId });
    }
}
