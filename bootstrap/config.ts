/**
 * Bootstrap stack config: the `fleet-gates-bootstrap:` namespace of `bootstrap/Pulumi.<stack>.yaml`.
 * One bootstrap stack per Azure subscription; it names the GitHub repository and the fleet-gates
 * stacks (= GitHub environments) that deploy into that subscription.
 *
 * | key                                   | type                   | meaning                                                                                             |
 * | ------------------------------------- | ---------------------- | --------------------------------------------------------------------------------------------------- |
 * | `fleet-gates-bootstrap:repository`    | `owner/name`           | the GitHub repository whose workflows may sign in                                                   |
 * | `fleet-gates-bootstrap:stacks`        | list of stack names    | stacks deployed into this subscription; each is a GitHub environment and has `Pulumi.<stack>.yaml` |
 * | `fleet-gates-bootstrap:deployBranches`| list, default `[]`     | branches whose jobs without an environment may also use the deploy identity (see README)           |
 * | `fleet-gates-bootstrap:namePrefix`    | string, default `fleet-gates-<stacks joined by ->` | prefix of application and custom role names                                 |
 * | `fleet-gates-bootstrap:owners`        | list of object ids     | extra owners of the two applications (the deploying administrator is always one)                   |
 *
 * Any other key of the namespace is an error naming the closest setting (`configKeyProblems`).
 */
import * as path from "node:path";
import { z } from "zod";
import { ConfigError, configKeyProblems, configValue, parseConfigMap, runtimeConfig } from "../config";
import { fleetId } from "../core/arm-id";
import { normaliseRoleGuids } from "../core/abac";
import {
    githubSubject,
    parseRepository,
    type GithubRepository,
    type GithubTrust,
    DEPLOY_VARIABLES,
    REPOSITORY_VARIABLES,
    previewVariables,
} from "../core/github-oidc";
import { rolesAssignedByStack } from "../core/roles";
import { loadStackFile } from "../local/plan/stack-file";

export const BOOTSTRAP_NAMESPACE = "fleet-gates-bootstrap";

/** The repository root: where the fleet-gates stack files live. */
export const REPOSITORY_ROOT = path.resolve(__dirname, "..");

/** What the bootstrap needs from one fleet-gates stack: where its fleet is and how its handler is granted. */
export interface StackTarget {
    readonly stack: string;
    readonly resourceGroupName: string;
    readonly fleetName: string;
    readonly handlerRoleScope: "fleet" | "custom-role";
    /**
     * The stack creates placements, strategies and the handler's hub roles on its fleet's hub
     * (`fleet.hubCluster` and `placements`): its deploy needs a data-plane role on the hub.
     */
    readonly hubPlacements?: boolean;
}

export interface BootstrapConfig {
    readonly repository: GithubRepository;
    readonly stacks: readonly StackTarget[];
    readonly deployBranches: readonly string[];
    readonly namePrefix: string;
    readonly owners: readonly string[];
}

/** A `ConfigError` of the bootstrap project, so the offline commands report it like the stack's. */
export class BootstrapConfigError extends ConfigError {
    constructor(problems: readonly string[]) {
        super(problems);
        this.message = `invalid bootstrap config:\n  - ${problems.join("\n  - ")}`;
        this.name = "BootstrapConfigError";
    }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const RawSchema = z.strictObject({
    repository: z.string(),
    stacks: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/, "must be a stack name")).min(1),
    deployBranches: z.array(z.string()).default([]),
    namePrefix: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "must be 1-40 lower-case letters, digits or '-'")
        .optional(),
    owners: z.array(z.string().regex(GUID, "must be an object id (GUID)")).default([]),
});

export type RawBootstrapConfig = Partial<Record<keyof z.infer<typeof RawSchema>, unknown>>;

/**
 * Validates raw config. `readStack` turns a stack name into its target (reading `Pulumi.<stack>.yaml`
 * by default); every problem is collected, each naming its key.
 */
export function parseBootstrapConfig(
    raw: RawBootstrapConfig,
    readStack: (stack: string) => StackTarget = readStackTarget,
): BootstrapConfig {
    const parsed = RawSchema.safeParse(raw);
    if (!parsed.success) {
        throw new BootstrapConfigError(
            parsed.error.issues.map((i) =>
                i.code === "invalid_type" &&
                i.path.length === 1 &&
                raw[i.path[0] as keyof RawBootstrapConfig] === undefined
                    ? `${BOOTSTRAP_NAMESPACE}:${String(i.path[0])} is required`
                    : `${BOOTSTRAP_NAMESPACE}:${i.path.join(".")} ${i.message}`,
            ),
        );
    }
    const r = parsed.data;
    const problems: string[] = [];
    let repository: GithubRepository | undefined;
    try {
        repository = parseRepository(r.repository);
    } catch (e) {
        problems.push(`${BOOTSTRAP_NAMESPACE}:repository ${(e as Error).message}`);
    }
    const dup = r.stacks.find((s, i) => r.stacks.indexOf(s) !== i);
    if (dup) problems.push(`${BOOTSTRAP_NAMESPACE}:stacks lists "${dup}" twice`);
    const stacks: StackTarget[] = [];
    for (const s of r.stacks) {
        try {
            stacks.push(readStack(s));
        } catch (e) {
            problems.push(`${BOOTSTRAP_NAMESPACE}:stacks "${s}": ${(e as Error).message}`);
        }
    }
    if (repository) {
        for (const b of r.deployBranches) {
            try {
                githubSubject(repository, { kind: "branch", branch: b });
            } catch (e) {
                problems.push(`${BOOTSTRAP_NAMESPACE}:deployBranches ${(e as Error).message}`);
            }
        }
        for (const s of r.stacks) {
            try {
                githubSubject(repository, { kind: "environment", environment: s });
            } catch (e) {
                problems.push(`${BOOTSTRAP_NAMESPACE}:stacks ${(e as Error).message}`);
            }
        }
    }
    if (problems.length > 0 || !repository) throw new BootstrapConfigError(problems);
    return {
        repository,
        stacks,
        deployBranches: r.deployBranches,
        namePrefix: r.namePrefix ?? `fleet-gates-${r.stacks.join("-")}`.slice(0, 40).replace(/-+$/, ""),
        owners: r.owners,
    };
}

/** A fleet-gates stack's target, from its validated `Pulumi.<stack>.yaml` in `dir`. */
export function readStackTarget(stack: string, dir = REPOSITORY_ROOT): StackTarget {
    const file = loadStackFile(stack, dir);
    const cfg = parseConfigMap(file.config, file.secretKeys);
    return {
        stack,
        resourceGroupName: cfg.resourceGroupName,
        fleetName: cfg.fleet.name,
        handlerRoleScope: cfg.handler.roleScope,
        hubPlacements: cfg.fleet.hubCluster && cfg.placements.length > 0,
    };
}

/** The settings of the `fleet-gates-bootstrap:` namespace: the schema's keys. */
export const BOOTSTRAP_KEYS = Object.keys(RawSchema.shape) as (keyof RawBootstrapConfig)[];

/**
 * Validates a whole config map of a bootstrap stack: every key of the `fleet-gates-bootstrap:`
 * namespace, then the settings. The offline engine (stack files) and `pulumi up` both come here;
 * every problem is reported together.
 */
export function parseBootstrapConfigMap(
    config: Readonly<Record<string, string>>,
    secretKeys: Iterable<string> = [],
    readStack: (stack: string) => StackTarget = readStackTarget,
): BootstrapConfig {
    const keyProblems = configKeyProblems(config, BOOTSTRAP_NAMESPACE, BOOTSTRAP_KEYS, new Set(secretKeys));
    const raw: RawBootstrapConfig = {};
    for (const [k, schema] of Object.entries(RawSchema.shape))
        raw[k as keyof RawBootstrapConfig] = configValue(config[`${BOOTSTRAP_NAMESPACE}:${k}`], schema);
    let cfg: BootstrapConfig;
    try {
        cfg = parseBootstrapConfig(raw, readStack);
    } catch (e) {
        if (e instanceof BootstrapConfigError) throw new BootstrapConfigError([...keyProblems, ...e.problems]);
        throw e;
    }
    if (keyProblems.length > 0) throw new BootstrapConfigError(keyProblems);
    return cfg;
}

/** Reads and validates the current bootstrap stack's config, every key of it, before anything is created. */
export function loadBootstrapConfig(): BootstrapConfig {
    const { config, secretKeys } = runtimeConfig();
    return parseBootstrapConfigMap(config, secretKeys);
}

/** Pull requests get the preview identity; nothing else does. */
export function previewTrusts(): GithubTrust[] {
    return [{ kind: "pull_request" }];
}

/** The deploy identity trusts each stack's GitHub environment, and the configured branches. */
export function deployTrusts(cfg: Pick<BootstrapConfig, "stacks" | "deployBranches">): GithubTrust[] {
    return [
        ...cfg.stacks.map((s): GithubTrust => ({ kind: "environment", environment: s.stack })),
        ...cfg.deployBranches.map((b): GithubTrust => ({ kind: "branch", branch: b })),
    ];
}

/**
 * The role definitions the deploy identity may assign and unassign: the union, over the stacks of this
 * subscription, of what `program.ts` assigns (`rolesAssignedByStack`), custom roles included by their
 * deterministic GUIDs.
 */
export function deployAssignableRoleGuids(stacks: readonly StackTarget[], subscriptionId: string): string[] {
    return normaliseRoleGuids(
        stacks.flatMap((s) =>
            rolesAssignedByStack({
                fleetId: fleetId({ subscriptionId, resourceGroup: s.resourceGroupName, fleetName: s.fleetName }),
                handlerRoleScope: s.handlerRoleScope,
            }).map((r) => r.guid),
        ),
    );
}

/** The GitHub variables the workflows read, with the values this bootstrap produced. */
export interface GithubVariables {
    /** Repository variables (Settings → Secrets and variables → Actions → Variables). */
    readonly repository: Record<string, string>;
    /** Variables of each GitHub environment, by environment (= stack) name. */
    readonly environments: Record<string, Record<string, string>>;
}

export function githubVariables(
    stacks: readonly string[],
    ids: { tenantId: string; subscriptionId: string; previewClientId: string; deployClientId: string },
): GithubVariables {
    const repository: Record<string, string> = { [REPOSITORY_VARIABLES.tenantId]: ids.tenantId };
    const environments: Record<string, Record<string, string>> = {};
    for (const s of stacks) {
        const p = previewVariables(s);
        repository[p.clientId] = ids.previewClientId;
        repository[p.subscriptionId] = ids.subscriptionId;
        environments[s] = {
            [DEPLOY_VARIABLES.clientId]: ids.deployClientId,
            [DEPLOY_VARIABLES.subscriptionId]: ids.subscriptionId,
        };
    }
    return { repository, environments };
}
