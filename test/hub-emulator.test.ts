/**
 * The loopback hub emulator with `@kubernetes/client-node`: create, list by label, status merge patches
 * with resourceVersion preconditions, watches with bookmarks and 410 Gone, injected faults, and namespaced
 * approval requests.
 */
import { CustomObjectsApi, KubeConfig, PatchStrategy, Watch, setHeaderOptions } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { APPROVAL_LABELS, PLACEMENT_GROUP } from "../core/placement";
import { HubEmulator, mergePatch, parseLabelSelector } from "../local/emulators/hub/hub-emulator";
import { loopbackCertificate } from "../local/emulators/tls";

const TOKEN = "test-token";
const V = "v1beta1";
const group = PLACEMENT_GROUP;

let hub: HubEmulator | undefined;
afterEach(async () => {
    await hub?.stop();
    hub = undefined;
});

function kubeConfig(server: string, opts: { token?: string; caPem?: string } = {}): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
        clusters: [
            {
                name: "hub",
                server,
                ...(opts.caPem ? { caData: Buffer.from(opts.caPem).toString("base64") } : {}),
                skipTLSVerify: false,
            },
        ],
        users: [{ name: "handler", token: opts.token ?? TOKEN }],
        contexts: [{ name: "hub", cluster: "hub", user: "handler" }],
        currentContext: "hub",
    });
    return kc;
}

async function start(tls = true): Promise<{ api: CustomObjectsApi; kc: KubeConfig }> {
    const cert = tls ? await loopbackCertificate() : undefined;
    hub = new HubEmulator({ token: TOKEN, bookmarkMs: 50, ...(cert ? { tls: cert } : {}) });
    const url = await hub.start();
    const kc = kubeConfig(url, cert ? { caPem: cert.cert } : {});
    return { api: kc.makeApiClient(CustomObjectsApi), kc };
}

function request(run: string, stage: string) {
    return {
        metadata: {
            name: `${run}-after-${stage}`,
            labels: {
                [APPROVAL_LABELS.run]: run,
                [APPROVAL_LABELS.stage]: stage,
                [APPROVAL_LABELS.taskType]: "afterStage",
            },
        },
        spec: { parentStageRollout: run, targetStage: stage },
    };
}

const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

describe("hub emulator with @kubernetes/client-node", () => {
    it("creates, gets and lists by label with a bearer token", async () => {
        const { api } = await start(true);
        await api.createClusterCustomObject({
            group,
            version: V,
            plural: "clusterapprovalrequests",
            body: request("run-1", "canary"),
        });
        await api.createClusterCustomObject({
            group,
            version: V,
            plural: "clusterapprovalrequests",
            body: request("run-2", "canary"),
        });
        const got = await api.getClusterCustomObject({
            group,
            version: V,
            plural: "clusterapprovalrequests",
            name: "run-1-after-canary",
        });
        expect(got.kind).toBe("ClusterApprovalRequest");
        expect(got.metadata.generation).toBe(1);
        const list = await api.listClusterCustomObject({
            group,
            version: V,
            plural: "clusterapprovalrequests",
            labelSelector: `${APPROVAL_LABELS.run}=run-2`,
        });
        expect(list.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(["run-2-after-canary"]);
        expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(got.metadata.resourceVersion));
    });

    it("rejects a request without the bearer token with 401", async () => {
        await start();
        const api = kubeConfig(hub!.url, { token: "wrong", caPem: (await loopbackCertificate()).cert }).makeApiClient(
            CustomObjectsApi,
        );
        await expect(
            api.listClusterCustomObject({ group, version: V, plural: "clusterapprovalrequests" }),
        ).rejects.toMatchObject({ code: 401 });
    });

    it("merge-patches only the status subresource, with a resourceVersion precondition", async () => {
        const { api } = await start();
        const created = await api.createClusterCustomObject({
            group,
            version: V,
            plural: "clusterapprovalrequests",
            body: request("run-1", "canary"),
        });
        const approved = {
            type: "Approved",
            status: "True",
            observedGeneration: 1,
            reason: "Test",
            message: "ok",
            lastTransitionTime: "2026-12-01T00:00:00Z",
        };
        const patched = await api.patchClusterCustomObjectStatus(
            {
                group,
                version: V,
                plural: "clusterapprovalrequests",
                name: "run-1-after-canary",
                body: {
                    metadata: { resourceVersion: created.metadata.resourceVersion, labels: { forged: "x" } },
                    spec: { targetStage: "x" },
                    status: { conditions: [approved] },
                },
            },
            merge,
        );
        expect(patched.status.conditions).toEqual([approved]);
        expect(patched.spec.targetStage).toBe("canary");
        expect(patched.metadata.labels.forged).toBeUndefined();
        expect(hub!.requests.at(-1)?.contentType).toBe("application/merge-patch+json");

        // The old resourceVersion is stale now: 409 Conflict.
        await expect(
            api.patchClusterCustomObjectStatus(
                {
                    group,
                    version: V,
                    plural: "clusterapprovalrequests",
                    name: "run-1-after-canary",
                    body: {
                        metadata: { resourceVersion: created.metadata.resourceVersion },
                        status: { conditions: [] },
                    },
                },
                merge,
            ),
        ).rejects.toMatchObject({ code: 409 });
        expect(hub!.get("clusterapprovalrequests", "run-1-after-canary")?.status).toEqual({ conditions: [approved] });
    });

    it("answers 404 for a missing object and injected faults with their status", async () => {
        const { api } = await start();
        await expect(
            api.getClusterCustomObject({ group, version: V, plural: "clusterstagedupdateruns", name: "nope" }),
        ).rejects.toMatchObject({ code: 404 });
        hub!.inject({ method: "GET", path: "clusterstagedupdateruns", status: 503, times: 2 });
        await expect(
            api.listClusterCustomObject({ group, version: V, plural: "clusterstagedupdateruns" }),
        ).rejects.toMatchObject({ code: 503 });
        await expect(
            api.listClusterCustomObject({ group, version: V, plural: "clusterstagedupdateruns" }),
        ).rejects.toMatchObject({ code: 503 });
        const ok = await api.listClusterCustomObject({ group, version: V, plural: "clusterstagedupdateruns" });
        expect(ok.items).toEqual([]);
    });

    it("streams watch events from a resourceVersion, with bookmarks", async () => {
        const { api, kc } = await start();
        const list = await api.listClusterCustomObject({ group, version: V, plural: "clusterapprovalrequests" });
        const events: { type: string; name?: string; rv?: string }[] = [];
        const done = new Promise<unknown>((resolve) => {
            void new Watch(kc).watch(
                `/apis/${group}/${V}/clusterapprovalrequests`,
                { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 1 },
                (type, obj: { metadata: { name?: string; resourceVersion?: string } }) =>
                    events.push({ type, name: obj.metadata.name, rv: obj.metadata.resourceVersion }),
                resolve,
            );
        });
        await new Promise((r) => setTimeout(r, 100));
        hub!.create("clusterapprovalrequests", request("run-1", "canary"));
        hub!.writeStatus("clusterapprovalrequests", "run-1-after-canary", {
            conditions: [{ type: "ApprovalAccepted", status: "True" }],
        });
        hub!.delete("clusterapprovalrequests", "run-1-after-canary");
        await done;
        const changes = events.filter((e) => e.type !== "BOOKMARK");
        expect(changes.map((e) => `${e.type} ${e.name}`)).toEqual([
            "ADDED run-1-after-canary",
            "MODIFIED run-1-after-canary",
            "DELETED run-1-after-canary",
        ]);
        const bookmarks = events.filter((e) => e.type === "BOOKMARK");
        expect(bookmarks.length).toBeGreaterThan(0);
        expect(bookmarks.at(-1)?.rv).toBe(hub!.resourceVersion);
    });

    it("replays history after a resourceVersion and answers 410 Gone once it is compacted", async () => {
        const { kc } = await start();
        const a = hub!.create("clusterapprovalrequests", request("run-1", "canary"));
        hub!.create("clusterapprovalrequests", request("run-2", "canary"));
        const watchOnce = (rv: string) =>
            new Promise<{ type: string; obj: { metadata?: { name?: string }; code?: number; reason?: string } }[]>(
                (resolve) => {
                    const seen: { type: string; obj: { metadata?: { name?: string }; code?: number } }[] = [];
                    void new Watch(kc).watch(
                        `/apis/${group}/${V}/clusterapprovalrequests`,
                        { resourceVersion: rv, timeoutSeconds: 1 },
                        (type, obj) => seen.push({ type, obj }),
                        () => resolve(seen),
                    );
                },
            );
        const replay = await watchOnce(a.metadata.resourceVersion!);
        expect(replay.map((e) => `${e.type} ${e.obj.metadata?.name}`)).toEqual(["ADDED run-2-after-canary"]);
        hub!.compact();
        const gone = await watchOnce(a.metadata.resourceVersion!);
        expect(gone).toEqual([{ type: "ERROR", obj: expect.objectContaining({ code: 410, reason: "Expired" }) }]);
    });

    it("ends a watch abruptly when watches are dropped", async () => {
        const { kc } = await start();
        const ended = new Promise<unknown>((resolve) => {
            void new Watch(kc).watch(
                `/apis/${group}/${V}/clusterapprovalrequests`,
                { resourceVersion: hub!.resourceVersion },
                () => undefined,
                resolve,
            );
        });
        await new Promise((r) => setTimeout(r, 100));
        hub!.dropWatches();
        await expect(ended).resolves.not.toBeUndefined();
    });
});

describe("hub emulator: namespaced ApprovalRequests with @kubernetes/client-node", () => {
    const plural = "approvalrequests";
    const approved = {
        type: "Approved",
        status: "True",
        observedGeneration: 1,
        reason: "Test",
        message: "ok",
        lastTransitionTime: "2026-12-01T00:00:00Z",
    };

    it("lists, watches and status-patches per namespace", async () => {
        const { api, kc } = await start();
        const list0 = await api.listNamespacedCustomObject({ group, version: V, namespace: "apps", plural });
        const events: string[] = [];
        const done = new Promise<unknown>((resolve) => {
            void new Watch(kc).watch(
                `/apis/${group}/${V}/namespaces/apps/${plural}`,
                { resourceVersion: list0.metadata.resourceVersion, timeoutSeconds: 1 },
                (type, obj: { metadata: { name: string; namespace: string } }) =>
                    events.push(`${type} ${obj.metadata.namespace}/${obj.metadata.name}`),
                resolve,
            );
        });
        await new Promise((r) => setTimeout(r, 100));
        const created = await api.createNamespacedCustomObject({
            group,
            version: V,
            namespace: "apps",
            plural,
            body: request("run-1", "canary"),
        });
        expect(created).toMatchObject({ kind: "ApprovalRequest", metadata: { namespace: "apps", generation: 1 } });
        await api.createNamespacedCustomObject({
            group,
            version: V,
            namespace: "other",
            plural,
            body: request("run-1", "canary"),
        });

        const inApps = await api.listNamespacedCustomObject({ group, version: V, namespace: "apps", plural });
        expect(inApps.items.map((o: { metadata: { namespace: string } }) => o.metadata.namespace)).toEqual(["apps"]);
        const everywhere = await api.listClusterCustomObject({ group, version: V, plural });
        expect(everywhere.items.map((o: { metadata: { namespace: string } }) => o.metadata.namespace).sort()).toEqual([
            "apps",
            "other",
        ]);

        const patched = await api.patchNamespacedCustomObjectStatus(
            {
                group,
                version: V,
                namespace: "apps",
                plural,
                name: "run-1-after-canary",
                body: {
                    metadata: { resourceVersion: created.metadata.resourceVersion },
                    status: { conditions: [approved] },
                },
            },
            merge,
        );
        expect(patched.status.conditions).toEqual([approved]);
        expect(hub!.requests.at(-1)?.path).toBe(
            `/apis/${group}/${V}/namespaces/apps/${plural}/run-1-after-canary/status`,
        );
        // The other namespace's request of the same name is untouched, and a stale resourceVersion conflicts.
        expect(hub!.get(plural, "run-1-after-canary", "other")?.status).toBeUndefined();
        await expect(
            api.patchNamespacedCustomObjectStatus(
                {
                    group,
                    version: V,
                    namespace: "apps",
                    plural,
                    name: "run-1-after-canary",
                    body: {
                        metadata: { resourceVersion: created.metadata.resourceVersion },
                        status: { conditions: [] },
                    },
                },
                merge,
            ),
        ).rejects.toMatchObject({ code: 409 });
        await expect(
            api.getNamespacedCustomObject({ group, version: V, namespace: "nope", plural, name: "run-1-after-canary" }),
        ).rejects.toMatchObject({ code: 404 });

        await done;
        expect(events).toEqual(["ADDED apps/run-1-after-canary", "MODIFIED apps/run-1-after-canary"]);
    });
});

describe("hub emulator helpers", () => {
    it.each<[string, unknown]>([
        ["a=b,c=d", { matchLabels: { a: "b", c: "d" }, matchExpressions: [] }],
        [
            "a!=b,c,!d",
            {
                matchLabels: {},
                matchExpressions: [
                    { key: "a", operator: "NotIn", values: ["b"] },
                    { key: "c", operator: "Exists" },
                    { key: "d", operator: "DoesNotExist" },
                ],
            },
        ],
    ])("parses the label selector %s", (text, want) => expect(parseLabelSelector(text)).toEqual(want));

    it("merge-patches as RFC 7386 does: objects merge, null deletes, arrays replace", () => {
        expect(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { c: null, d: 3 }, l: [3] })).toEqual({
            a: { b: 1, d: 3 },
            l: [3],
        });
    });
});
