/**
 * Policy hub-handler-approval-status-only through the offline policy harness: on the fleet hub the gate
 * handler may write approval-request status and nothing else, for cluster-scoped and namespaced placements.
 */
import { describe, expect, it } from "vitest";
import { FLEET_HUB_ROLES } from "../../core/hub-access";
import { roleDefinitionId } from "../../core/roles";
import { excessWrites } from "../src/hub-handler-approval-only";
import {
    FLEET_ID,
    HANDLER,
    SUB,
    T,
    compliantStack,
    mutate,
    urnOf,
    violation,
    violationsOf,
    type FixtureResource,
} from "./fixture";

const POLICY = "hub-handler-approval-status-only";
const CR = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole";
const CRB = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding";
const LABELS = { "fleet-gates.io/grants": "gate-handler" };
const GROUP = "placement.kubernetes-fleet.io";

/** The compliant stack plus the hub RBAC the program creates for the handler. */
function hubStack(): FixtureResource[] {
    return [
        ...compliantStack(),
        {
            type: CR,
            name: "hub-handler-role",
            inputs: {
                metadata: { name: "fleet-gates-approval-handler", labels: LABELS },
                rules: [
                    {
                        apiGroups: [GROUP],
                        resources: ["clusterapprovalrequests", "clusterstagedupdateruns", "clusterresourceplacements"],
                        verbs: ["get", "list", "watch"],
                    },
                    { apiGroups: [GROUP], resources: ["clusterapprovalrequests/status"], verbs: ["get", "patch"] },
                ],
            },
        },
        {
            type: CRB,
            name: "hub-handler-binding",
            inputs: {
                metadata: { name: "fleet-gates-approval-handler", labels: LABELS },
                roleRef: {
                    apiGroup: "rbac.authorization.k8s.io",
                    kind: "ClusterRole",
                    name: "fleet-gates-approval-handler",
                },
                subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: HANDLER }],
            },
        },
    ];
}

describe(POLICY, () => {
    it("passes the handler's approval-status ClusterRole", async () => {
        expect(await violationsOf(POLICY, hubStack())).toEqual([]);
    });

    it("rejects binding the handler to cluster-admin", async () => {
        const stack = mutate(hubStack(), "hub-handler-binding", (i) => {
            (i.roleRef as Record<string, string>).name = "cluster-admin";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(CRB, "hub-handler-binding"),
                'binding "fleet-gates-approval-handler" gives the gate handler the hub\'s "cluster-admin" role; bind it to a role that writes only clusterapprovalrequests/status',
            ),
        ]);
    });

    it("rejects a handler role that writes runs too", async () => {
        const stack = mutate(hubStack(), "hub-handler-role", (i) => {
            (i.rules as { resources: string[] }[])[1]!.resources.push("clusterstagedupdateruns");
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(CR, "hub-handler-role"),
                'role "fleet-gates-approval-handler" (bound to the gate handler by "fleet-gates-approval-handler") may patch clusterstagedupdateruns in API group "placement.kubernetes-fleet.io"; the handler may write only clusterapprovalrequests/status',
            ),
        ]);
    });

    it("rejects an unlabelled binding of the handler's identity to a role the stack does not define", async () => {
        const stack: FixtureResource[] = [
            ...hubStack(),
            {
                type: CRB,
                name: "extra-binding",
                inputs: {
                    metadata: { name: "extra" },
                    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "fleet-operator" },
                    subjects: [{ kind: "User", name: HANDLER }],
                },
            },
        ];
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(CRB, "extra-binding"),
                'binding "extra" gives the gate handler role "fleet-operator", which this stack does not define; its rights cannot be checked',
            ),
        ]);
    });

    it("rejects the Fleet Manager RBAC Cluster Admin role for the handler's identity", async () => {
        const stack: FixtureResource[] = [
            ...hubStack(),
            {
                type: T.assignment,
                name: "handler-hub-admin",
                inputs: {
                    scope: FLEET_ID,
                    roleDefinitionId: roleDefinitionId(SUB, FLEET_HUB_ROLES.rbacClusterAdmin),
                    principalId: HANDLER,
                    principalType: "ServicePrincipal",
                },
            },
        ];
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.assignment, "handler-hub-admin"),
                `role assignment "handler-hub-admin" grants the gate handler (principal ${HANDLER}) Azure Kubernetes Fleet Manager RBAC Cluster Admin; on the hub it may only read placements and runs and patch clusterapprovalrequests/status (the program's fleet-gates-approval-handler ClusterRole)`,
            ),
        ]);
    });
});

describe(`${POLICY}: namespaced placements`, () => {
    const R = "kubernetes:rbac.authorization.k8s.io/v1:Role";
    const RB = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding";
    /** The compliant stack plus the Role and RoleBinding the program creates in a namespaced placement's namespace. */
    function namespacedStack(): FixtureResource[] {
        return [
            ...hubStack(),
            {
                type: R,
                name: "hub-handler-apps",
                inputs: {
                    metadata: { name: "fleet-gates-approval-handler", namespace: "apps", labels: LABELS },
                    rules: [
                        {
                            apiGroups: [GROUP],
                            resources: [
                                "approvalrequests",
                                "stagedupdateruns",
                                "stagedupdatestrategies",
                                "resourceplacements",
                            ],
                            verbs: ["get", "list", "watch"],
                        },
                        { apiGroups: [GROUP], resources: ["approvalrequests/status"], verbs: ["get", "patch"] },
                    ],
                },
            },
            {
                type: RB,
                name: "hub-handler-apps-binding",
                inputs: {
                    metadata: { name: "fleet-gates-approval-handler", namespace: "apps", labels: LABELS },
                    roleRef: {
                        apiGroup: "rbac.authorization.k8s.io",
                        kind: "Role",
                        name: "fleet-gates-approval-handler",
                    },
                    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: HANDLER }],
                },
            },
        ];
    }

    it("passes the handler's approval-status Role in the placement's namespace", async () => {
        expect(await violationsOf(POLICY, namespacedStack())).toEqual([]);
    });

    it("rejects a Role that patches the approval requests themselves, not their status", async () => {
        const stack = mutate(namespacedStack(), "hub-handler-apps", (i) => {
            (i.rules as { resources: string[] }[])[1]!.resources = ["approvalrequests"];
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(R, "hub-handler-apps"),
                'role "fleet-gates-approval-handler" (bound to the gate handler by "fleet-gates-approval-handler") may patch approvalrequests in API group "placement.kubernetes-fleet.io"; the handler may write only approvalrequests/status in namespace "apps"',
            ),
        ]);
    });

    it("rejects a Role that may also create staged update runs", async () => {
        const stack = mutate(namespacedStack(), "hub-handler-apps", (i) => {
            (i.rules as unknown[]).push({ apiGroups: [GROUP], resources: ["stagedupdateruns"], verbs: ["create"] });
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(R, "hub-handler-apps"),
                'role "fleet-gates-approval-handler" (bound to the gate handler by "fleet-gates-approval-handler") may create stagedupdateruns in API group "placement.kubernetes-fleet.io"; the handler may write only approvalrequests/status in namespace "apps"',
            ),
        ]);
    });

    it("rejects a RoleBinding of the handler to the built-in edit role", async () => {
        const stack = mutate(namespacedStack(), "hub-handler-apps-binding", (i) => {
            i.roleRef = { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" };
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(RB, "hub-handler-apps-binding"),
                'binding "fleet-gates-approval-handler" gives the gate handler the hub\'s "edit" role; bind it to a role that writes only approvalrequests/status',
            ),
        ]);
    });

    it("checks the Role of the binding's own namespace, not a same-named one elsewhere", async () => {
        // The binding moves to namespace "web", where the stack defines no such Role: its rights cannot be checked.
        const stack = mutate(namespacedStack(), "hub-handler-apps-binding", (i) => {
            (i.metadata as Record<string, string>).namespace = "web";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(RB, "hub-handler-apps-binding"),
                'binding "fleet-gates-approval-handler" gives the gate handler role "fleet-gates-approval-handler", which this stack does not define; its rights cannot be checked',
            ),
        ]);
    });
});

describe("excessWrites", () => {
    it.each<[string, { apiGroups: string[]; resources: string[]; verbs: string[] }, string[]]>([
        [
            "read-only",
            { apiGroups: [GROUP], resources: ["clusterstagedupdateruns"], verbs: ["get", "list", "watch"] },
            [],
        ],
        ["status patch", { apiGroups: [GROUP], resources: ["clusterapprovalrequests/status"], verbs: ["patch"] }, []],
        [
            "wildcard verbs",
            { apiGroups: [GROUP], resources: ["clusterapprovalrequests"], verbs: ["*"] },
            [`* clusterapprovalrequests in API group "${GROUP}"`],
        ],
        [
            "another group",
            { apiGroups: [""], resources: ["clusterapprovalrequests/status"], verbs: ["update"] },
            ['update clusterapprovalrequests/status in API group ""'],
        ],
        [
            "secrets",
            { apiGroups: [GROUP, ""], resources: ["secrets"], verbs: ["create", "delete"] },
            [`create/delete secrets in API groups "${GROUP}", ""`],
        ],
    ])("%s", (_, rule, want) => expect(excessWrites([rule])).toEqual(want));
});
