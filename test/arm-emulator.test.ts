/**
 * The loopback ARM emulator against the Fleet API shapes: gates, update runs, member clusters and
 * metrics, auth, paging, If-Match and LROs, injected faults, malformed input and the request log, also
 * through the Azure SDK pipeline over TLS.
 */
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import {
    bearerTokenAuthenticationPolicy,
    createDefaultHttpClient,
    createPipelineFromOptions,
    createPipelineRequest,
} from "@azure/core-rest-pipeline";
import { MetricsClient } from "@azure/monitor-query-metrics";
import { afterEach, describe, expect, it } from "vitest";
import { type ArmEmulatorOptions, type EmulatorGate, ArmEmulator, FLEET_API_VERSION } from "../local/emulators/arm";
import { ArmEmulatorRemote } from "../local/emulators/arm/worker";
import { loopbackCertificate } from "../local/emulators/tls";

const SUB = "8d3c2f4e-1b7a-4c55-9e0d-2f6a1b3c4d5e";
const RG = "rg-fleet-dev";
const FLEET = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/flt-dev`;
const OTHER_FLEET = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/flt-other`;
const RUN = `${FLEET}/updateRuns/run-1`;
const V = `api-version=${FLEET_API_VERSION}`;
const AUTH = { authorization: "Bearer test-token" };
const clusterId = (name: string) =>
    `/subscriptions/${SUB}/resourceGroups/rg-clusters/providers/Microsoft.ContainerService/managedClusters/${name}`;
const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const running: ArmEmulator[] = [];
afterEach(async () => {
    await Promise.all(running.splice(0).map((e) => e.stop()));
});

async function start(options?: ArmEmulatorOptions): Promise<ArmEmulator> {
    const emu = await ArmEmulator.start(options);
    running.push(emu);
    return emu;
}

function addGate(
    emu: ArmEmulator,
    n: number,
    over: Partial<{
        displayName: string;
        stage: string;
        group: string;
        timing: "Before" | "After";
        state: EmulatorGate["state"];
        fleetId: string;
        run: string;
    }> = {},
): EmulatorGate {
    const fleetId = over.fleetId ?? FLEET;
    const run = over.run ?? "run-1";
    const updateRunProperties: EmulatorGate["target"]["updateRunProperties"] = {
        name: run,
        stage: over.stage ?? "dev",
        timing: over.timing ?? "Before",
    };
    if (over.group !== undefined) updateRunProperties.group = over.group;
    return emu.addGate({
        fleetId,
        name: guid(n),
        displayName: over.displayName ?? `gate ${n}`,
        gateType: "Approval",
        state: over.state ?? "Pending",
        target: { id: `${fleetId}/updateRuns/${run}`, updateRunProperties },
    });
}

async function get(emu: ArmEmulator, path: string, headers: Record<string, string> = AUTH): Promise<Response> {
    return fetch(path.startsWith("http") ? path : `${emu.url}${path}`, { headers });
}

async function patch(
    emu: ArmEmulator,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
): Promise<Response> {
    return fetch(`${emu.url}${path}`, {
        method: "PATCH",
        headers: { ...AUTH, "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
    });
}

const approve = { properties: { state: "Completed" } };

/** Sends bytes as they are (no URL normalisation) and returns the status code, or "closed". */
function rawStatus(emu: ArmEmulator, requestLine: string, extra = ""): Promise<number | "closed"> {
    const { port } = new URL(emu.url);
    return new Promise((resolve) => {
        const socket = connect(Number(port), "127.0.0.1");
        let data = "";
        socket.on("data", (d) => {
            data += d.toString("latin1");
            const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
            if (m) {
                socket.destroy();
                resolve(Number(m[1]));
            }
        });
        socket.on("error", () => resolve("closed"));
        socket.on("close", () => resolve("closed"));
        socket.write(
            `${requestLine}\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t\r\nConnection: close\r\n${extra}\r\n`,
        );
    });
}

/** node:http keeps the path as given (fetch would normalise `..`). */
function rawPath(emu: ArmEmulator, path: string): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
        const req = httpRequest(`${emu.url}/`, { path, headers: AUTH }, (res) => {
            let text = "";
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        });
        req.on("error", reject);
        req.end();
    });
}

describe("gates.get", () => {
    it("answers the Gates_Get shape with a quoted ETag header equal to the body eTag", async () => {
        const emu = await start();
        const g = addGate(emu, 1, {
            displayName: "Perform health checks after Group 1",
            group: "blue",
            timing: "After",
        });
        const res = await get(emu, `${FLEET}/gates/${g.name}?${V}`);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
        expect(res.headers.get("x-ms-request-id")).toMatch(/^[0-9a-f-]{36}$/);
        const body: any = await res.json();
        expect(body).toEqual({
            id: `${FLEET}/gates/${guid(1)}`,
            name: guid(1),
            type: "Microsoft.ContainerService/fleets/gates",
            systemData: {
                createdBy: expect.any(String),
                createdByType: "Application",
                createdAt: expect.stringMatching(ISO),
                lastModifiedBy: expect.any(String),
                lastModifiedByType: "Application",
                lastModifiedAt: expect.stringMatching(ISO),
            },
            eTag: g.eTag,
            properties: {
                provisioningState: "Succeeded",
                displayName: "Perform health checks after Group 1",
                gateType: "Approval",
                state: "Pending",
                target: {
                    id: RUN,
                    updateRunProperties: { name: "run-1", stage: "dev", group: "blue", timing: "After" },
                },
            },
        });
        const etag = res.headers.get("etag")!;
        expect(etag).toMatch(/^".+"$/);
        expect(etag).toBe(body.eTag);
        expect(g.id).toBe(body.id);
    });

    it("matches fixed segments case-insensitively and looks ids up case-insensitively", async () => {
        const emu = await start();
        const g = addGate(emu, 0xabc);
        const lower = FLEET.replace("resourceGroups", "resourcegroups").replace(
            "Microsoft.ContainerService",
            "MICROSOFT.CONTAINERSERVICE",
        );
        const res = await get(emu, `${lower}/GATES/${g.name}?${V}`);
        expect(res.status).toBe(200);
        expect(((await res.json()) as any).id).toBe(g.id);
        expect(emu.gate(g.id.toUpperCase())?.name).toBe(guid(0xabc));
        expect(emu.gate(`${FLEET}/gates/${guid(999)}`)).toBeUndefined();
    });

    it("answers 404 ResourceNotFound for an unknown gate and for an unknown fleet", async () => {
        const emu = await start();
        addGate(emu, 1);
        const unknownGate = await get(emu, `${FLEET}/gates/${guid(2)}?${V}`);
        expect(unknownGate.status).toBe(404);
        expect(((await unknownGate.json()) as any).error.code).toBe("ResourceNotFound");
        const unknownFleet = await get(emu, `${OTHER_FLEET}/gates/${guid(1)}?${V}`);
        expect(unknownFleet.status).toBe(404);
        expect(((await unknownFleet.json()) as any).error).toEqual({
            code: "ResourceNotFound",
            message: expect.any(String),
        });
        const unknownFleetList = await get(emu, `${OTHER_FLEET}/gates?${V}`);
        expect(unknownFleetList.status).toBe(404);
    });

    it("requires api-version 2026-06-01 on fleet routes (400 with an ARM error body)", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const missing = await get(emu, `${FLEET}/gates/${g.name}`);
        expect(missing.status).toBe(400);
        expect(((await missing.json()) as any).error.code).toBe("MissingApiVersionParameter");
        const other = await get(emu, `${FLEET}/gates/${g.name}?api-version=2025-04-01-preview`);
        expect(other.status).toBe(400);
        const body: any = await other.json();
        expect(body.error.code).toBe("InvalidApiVersionParameter");
        expect(body.error.message).toContain("2025-04-01-preview");
        for (const path of [`${FLEET}/gates?api-version=2024-05-02-preview`, `${RUN}?api-version=x`]) {
            expect((await get(emu, path)).status).toBe(400);
        }
        const badPatch = await fetch(`${emu.url}${FLEET}/gates/${g.name}?api-version=2025-08-01-preview`, {
            method: "PATCH",
            headers: AUTH,
            body: JSON.stringify(approve),
        });
        expect(badPatch.status).toBe(400);
        expect(emu.gate(g.id)?.state).toBe("Pending");
    });
});

describe("auth", () => {
    it("answers 401 with WWW-Authenticate: Bearer without a bearer token, and logs authorized", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const none = await get(emu, `${FLEET}/gates/${g.name}?${V}`, {});
        expect(none.status).toBe(401);
        expect(none.headers.get("www-authenticate")).toBe("Bearer");
        expect(((await none.json()) as any).error.code).toBe("AuthenticationFailed");
        const basic = await get(emu, `${FLEET}/gates/${g.name}?${V}`, { authorization: "Basic dXNlcjpwYXNz" });
        expect(basic.status).toBe(401);
        const empty = await get(emu, `${FLEET}/gates/${g.name}?${V}`, { authorization: "Bearer " });
        expect(empty.status).toBe(401);
        const ok = await get(emu, `${FLEET}/gates/${g.name}?${V}`);
        expect(ok.status).toBe(200);
        expect(emu.requests.map((r) => [r.status, r.authorized])).toEqual([
            [401, false],
            [401, false],
            [401, false],
            [200, true],
        ]);
    });

    it("with requireAuth: false serves anonymous requests and still logs them as unauthorized", async () => {
        const emu = await start({ requireAuth: false });
        const g = addGate(emu, 1);
        expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`, {})).status).toBe(200);
        expect(emu.requests[0]?.authorized).toBe(false);
    });
});

describe("gates.list", () => {
    it("pages by pageSize with absolute nextLinks across 3 pages, in insertion order", async () => {
        const emu = await start({ pageSize: 2 });
        for (let i = 1; i <= 5; i++) addGate(emu, i);
        addGate(emu, 99, { fleetId: OTHER_FLEET });
        const names: string[] = [];
        let url: string | undefined = `${emu.url}${FLEET}/gates?${V}`;
        let pages = 0;
        while (url) {
            const res = await get(emu, url);
            expect(res.status).toBe(200);
            const body: any = await res.json();
            pages++;
            expect(body.value.length).toBeLessThanOrEqual(2);
            for (const g of body.value) {
                expect(g.type).toBe("Microsoft.ContainerService/fleets/gates");
                names.push(g.name);
            }
            if (body.nextLink !== undefined) {
                expect(body.nextLink.startsWith(`${emu.url}${FLEET}/gates?`)).toBe(true);
                expect(new URL(body.nextLink).searchParams.get("api-version")).toBe(FLEET_API_VERSION);
                expect(new URL(body.nextLink).searchParams.get("$skipToken")).toBeTruthy();
            }
            url = body.nextLink;
        }
        expect(pages).toBe(3);
        expect(names).toEqual([1, 2, 3, 4, 5].map(guid));
        expect(emu.requests.map((r) => r.route)).toEqual(["gates.list", "gates.list", "gates.list"]);
    });

    it("answers a single page without nextLink, and { value: [] } for a registered empty fleet", async () => {
        const emu = await start();
        addGate(emu, 1);
        const body: any = await (await get(emu, `${FLEET}/gates?${V}`)).json();
        expect(Object.keys(body)).toEqual(["value"]);
        expect(body.value).toHaveLength(1);
        emu.addFleet(OTHER_FLEET);
        expect(await (await get(emu, `${OTHER_FLEET}/gates?${V}`)).json()).toEqual({ value: [] });
    });

    it("supports $filter=properties/state eq 'Pending' (kept across pages) and rejects other filters", async () => {
        const emu = await start({ pageSize: 2 });
        for (let i = 1; i <= 6; i++) addGate(emu, i, { state: i % 2 === 0 ? "Completed" : "Pending" });
        addGate(emu, 7, { state: "Skipped" });
        addGate(emu, 8);
        const names: string[] = [];
        let url: string | undefined =
            `${emu.url}${FLEET}/gates?${V}&$filter=${encodeURIComponent("properties/state eq 'Pending'")}`;
        while (url) {
            const body: any = await (await get(emu, url)).json();
            for (const g of body.value) {
                expect(g.properties.state).toBe("Pending");
                names.push(g.name);
            }
            url = body.nextLink;
        }
        expect(names).toEqual([1, 3, 5, 8].map(guid));
        const completed: any = await (
            await get(
                emu,
                `${FLEET}/gates?${V}&$filter=${encodeURIComponent("properties/state eq 'Completed'")}&$top=10`,
            )
        ).json();
        expect(completed.value.map((g: any) => g.name)).toEqual([2, 4].map(guid));
        for (const filter of [
            "properties/displayName eq 'x'",
            "properties/state eq 'Bogus'",
            "state eq 'Pending'",
            "garbage",
        ]) {
            const res = await get(emu, `${FLEET}/gates?${V}&$filter=${encodeURIComponent(filter)}`);
            expect(res.status, filter).toBe(400);
            expect(((await res.json()) as any).error.code).toBe("InvalidFilterParameter");
        }
        expect((await get(emu, `${FLEET}/gates?${V}&$skipToken=nonsense`)).status).toBe(400);
        expect((await get(emu, `${FLEET}/gates?${V}&$top=0`)).status).toBe(400);
    });

    it("$top narrows the page size", async () => {
        const emu = await start();
        for (let i = 1; i <= 3; i++) addGate(emu, i);
        const body: any = await (await get(emu, `${FLEET}/gates?${V}&$top=2`)).json();
        expect(body.value.map((g: any) => g.name)).toEqual([guid(1), guid(2)]);
        const next: any = await (await get(emu, body.nextLink)).json();
        expect(next.value.map((g: any) => g.name)).toEqual([guid(3)]);
        expect(next.nextLink).toBeUndefined();
    });
});

describe("gates.patch", () => {
    it("sync: 200 with the Completed gate, a new eTag, and the change visible to GET", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const res = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve);
        expect(res.status).toBe(200);
        const body: any = await res.json();
        expect(body.properties.state).toBe("Completed");
        expect(body.eTag).not.toBe(g.eTag);
        expect(res.headers.get("etag")).toBe(body.eTag);
        expect(emu.patchCount).toBe(1);
        expect(emu.gate(g.id)).toMatchObject({ state: "Completed", eTag: body.eTag });
        const after: any = await (await get(emu, `${FLEET}/gates/${g.name}?${V}`)).json();
        expect(after.properties.state).toBe("Completed");
        expect(after.systemData.lastModifiedAt >= after.systemData.createdAt).toBe(true);
    });

    it("re-approving a Completed gate answers 200 without a change (eTag and patchCount unchanged)", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const first: any = await (await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve)).json();
        const again = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve);
        expect(again.status).toBe(200);
        const body: any = await again.json();
        expect(body.eTag).toBe(first.eTag);
        expect(body.properties.state).toBe("Completed");
        expect(emu.patchCount).toBe(1);
    });

    it("honours If-Match: a stale eTag answers 412 PreconditionFailed, '*' and the current eTag match", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const moved = emu.setGateState(g.id, "Pending"); // a write in the portal: same state, new eTag
        expect(moved.eTag).not.toBe(g.eTag);
        const stale = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve, { "if-match": g.eTag });
        expect(stale.status).toBe(412);
        expect(((await stale.json()) as any).error.code).toBe("PreconditionFailed");
        expect(emu.gate(g.id)?.state).toBe("Pending");
        expect(emu.patchCount).toBe(0);

        const current = await patch(
            emu,
            `${FLEET}/gates/${g.name}?${V}`,
            { properties: { state: "Skipped" } },
            { "if-match": moved.eTag },
        );
        expect(current.status).toBe(200);
        expect(emu.gate(g.id)?.state).toBe("Skipped");
        const star = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve, { "if-match": "*" });
        expect(star.status).toBe(200);
        expect(emu.gate(g.id)?.state).toBe("Completed");
        // an unquoted form of the current tag matches too
        const unquoted = emu.gate(g.id)!.eTag.replace(/"/g, "");
        const back = await patch(
            emu,
            `${FLEET}/gates/${g.name}?${V}`,
            { properties: { state: "Pending" } },
            { "if-match": unquoted },
        );
        expect(back.status).toBe(200);
        expect(emu.patchCount).toBe(3);
        // If-None-Match: * on an existing gate never matches
        const none = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve, { "if-none-match": "*" });
        expect(none.status).toBe(412);
        expect(emu.gate(g.id)?.state).toBe("Pending");
    });

    it("If-Match is checked before the no-change shortcut", async () => {
        const emu = await start();
        const g = addGate(emu, 1, { state: "Completed" });
        const res = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve, { "if-match": '"not-the-etag"' });
        expect(res.status).toBe(412);
    });

    it("async: 202 + Location + Retry-After: 0, the Location answers 200 with the gate on the first poll", async () => {
        const emu = await start({ patchMode: "async" });
        const g = addGate(emu, 1);
        const res = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve);
        expect(res.status).toBe(202);
        expect(res.headers.get("retry-after")).toBe("0");
        expect(await res.text()).toBe("");
        const location = res.headers.get("location")!;
        expect(location).toMatch(
            new RegExp(
                `^${emu.url.replace(/\./g, "\\.")}/subscriptions/${SUB}/providers/Microsoft\\.ContainerService/locations/westeurope/operationresults/[0-9a-f-]{36}\\?api-version=2026-06-01$`,
            ),
        );
        expect(emu.patchCount).toBe(1);
        const poll = await get(emu, location);
        expect(poll.status).toBe(200);
        const body: any = await poll.json();
        expect(body.id).toBe(g.id);
        expect(body.properties.state).toBe("Completed");
        expect(poll.headers.get("etag")).toBe(body.eTag);
        expect((await get(emu, location)).status).toBe(200); // polling again is harmless
        expect(emu.requests.map((r) => r.route)).toEqual(["gates.patch", "operation.get", "operation.get"]);
        // a PATCH that changes nothing answers 200 directly, also in async mode
        const noop = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve);
        expect(noop.status).toBe(200);
        expect(emu.patchCount).toBe(1);
        // unknown operation, missing api-version
        const unknown = location.replace(/operationresults\/[0-9a-f-]{36}/, `operationresults/${guid(77)}`);
        expect((await get(emu, unknown)).status).toBe(404);
        expect((await get(emu, location.replace(/\?.*$/, ""))).status).toBe(400);
    });

    it("validates the body: only properties.state with Completed|Pending|Skipped; malformed JSON is 400", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const path = `${FLEET}/gates/${g.name}?${V}`;
        const cases: [unknown, string][] = [
            [{ properties: { state: "Approved" } }, "InvalidRequestBody"],
            [{ properties: { state: "completed" } }, "InvalidRequestBody"],
            [{ properties: { state: "Completed", displayName: "x" } }, "InvalidRequestBody"],
            [{ properties: { state: "Completed" }, tags: {} }, "InvalidRequestBody"],
            [{ properties: {} }, "InvalidRequestBody"],
            [{ properties: "Completed" }, "InvalidRequestBody"],
            [{}, "InvalidRequestBody"],
            [[approve], "InvalidRequestBody"],
            ["null", "InvalidRequestBody"],
            ['{"properties": {"state": "Completed"', "InvalidRequestContent"],
            ["", "InvalidRequestContent"],
            ["\u0000\u0001garbage", "InvalidRequestContent"],
        ];
        for (const [body, code] of cases) {
            const res = await patch(emu, path, body);
            expect(res.status, JSON.stringify(body)).toBe(400);
            expect(((await res.json()) as any).error.code, JSON.stringify(body)).toBe(code);
        }
        expect(emu.gate(g.id)?.state).toBe("Pending");
        expect(emu.patchCount).toBe(0);
        for (const state of ["Skipped", "Completed", "Pending"]) {
            expect((await patch(emu, path, { properties: { state } })).status).toBe(200);
        }
        expect(emu.patchCount).toBe(3);
    });

    it("answers 404 for an unknown gate", async () => {
        const emu = await start();
        addGate(emu, 1);
        const res = await patch(emu, `${FLEET}/gates/${guid(5)}?${V}`, approve);
        expect(res.status).toBe(404);
        expect(((await res.json()) as any).error.code).toBe("ResourceNotFound");
        expect(emu.patchCount).toBe(0);
    });

    it("a removed gate, or a deleted update run's gates, answer 404", async () => {
        const emu = await start();
        const a = addGate(emu, 1);
        const b = addGate(emu, 2);
        emu.addMember(FLEET, {
            name: "m1",
            clusterResourceId: clusterId("c1"),
            group: "blue",
            updateState: "NotStarted",
        });
        emu.putUpdateRun({
            fleetId: FLEET,
            name: "run-1",
            stages: [{ name: "dev", groups: [{ name: "blue", members: ["m1"] }] }],
        });
        expect(emu.removeGate(a.id)).toBe(true);
        expect((await get(emu, `${FLEET}/gates/${a.name}?${V}`)).status).toBe(404);
        expect(emu.deleteUpdateRun(FLEET, "run-1")).toBe(true);
        expect((await patch(emu, `${FLEET}/gates/${b.name}?${V}`, approve)).status).toBe(404);
        expect((await get(emu, `${RUN}?${V}`)).status).toBe(404);
        expect(emu.gates()).toEqual([]);
    });
});

describe("faults", () => {
    it("429 sets Retry-After (given or 1) and an ARM error body", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        emu.inject({ route: "gates.get", kind: "429", times: 1, retryAfterSeconds: 7 });
        emu.inject({ route: "gates.get", kind: "429", times: 1 });
        const first = await get(emu, `${FLEET}/gates/${g.name}?${V}`);
        expect(first.status).toBe(429);
        expect(first.headers.get("retry-after")).toBe("7");
        expect(first.headers.get("x-ms-request-id")).toBeTruthy();
        expect(((await first.json()) as any).error).toEqual({ code: "TooManyRequests", message: expect.any(String) });
        const second = await get(emu, `${FLEET}/gates/${g.name}?${V}`);
        expect(second.status).toBe(429);
        expect(second.headers.get("retry-after")).toBe("1");
        expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status).toBe(200);
    });

    it("500 and 503 answer ARM error bodies; 503 carries Retry-After", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        emu.inject({ route: "gates.patch", kind: "500", times: 1 });
        emu.inject({ route: "gates.patch", kind: "503", times: 1, retryAfterSeconds: 3 });
        const r500 = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve);
        expect(r500.status).toBe(500);
        expect(((await r500.json()) as any).error.code).toBe("InternalServerError");
        const r503 = await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve);
        expect(r503.status).toBe(503);
        expect(r503.headers.get("retry-after")).toBe("3");
        expect(((await r503.json()) as any).error.code).toBe("ServiceUnavailable");
        expect(emu.gate(g.id)?.state).toBe("Pending"); // a faulted PATCH changes nothing
        expect(emu.patchCount).toBe(0);
        expect((await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve)).status).toBe(200);
        expect(emu.requests.map((r) => r.status)).toEqual([500, 503, 200]);
    });

    it("reset destroys the connection without an answer: fetch rejects", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        emu.inject({ route: "gates.patch", kind: "reset", times: 1 });
        await expect(patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve)).rejects.toThrow();
        expect(emu.requests[0]).toMatchObject({ route: "gates.patch", status: "reset" });
        expect(emu.gate(g.id)?.state).toBe("Pending");
        expect((await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve)).status).toBe(200);
    });

    it("stall holds the answer: a client timeout aborts it, and stop() still closes promptly", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        emu.inject({ route: "gates.get", kind: "stall" }); // default 60 s
        const t0 = Date.now();
        await expect(
            fetch(`${emu.url}${FLEET}/gates/${g.name}?${V}`, { headers: AUTH, signal: AbortSignal.timeout(150) }),
        ).rejects.toMatchObject({ name: "TimeoutError" });
        expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
        // a second stalled request is still open when the emulator stops
        const pending = fetch(`${emu.url}${FLEET}/gates/${g.name}?${V}`, { headers: AUTH }).then(
            () => "answered",
            () => "failed",
        );
        await new Promise((r) => setTimeout(r, 50));
        expect(emu.requests.map((r) => r.status)).toEqual(["stall", "stall"]);
        const s0 = Date.now();
        await emu.stop();
        expect(Date.now() - s0).toBeLessThan(1000);
        expect(await pending).toBe("failed");
    });

    it("stall with stallMs resets the connection after that time", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        emu.inject({ route: "*", kind: "stall", stallMs: 100, times: 1 });
        const t0 = Date.now();
        await expect(get(emu, `${FLEET}/gates/${g.name}?${V}`)).rejects.toThrow();
        expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
        expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status).toBe(200);
    });

    it("faults are per route, checked in insertion order, and '*' covers every route", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        emu.inject({ route: "gates.list", kind: "500" });
        emu.inject({ route: "gates.get", kind: "429", times: 1 });
        emu.inject({ route: "gates.get", kind: "503", times: 1 });
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status);
        expect(statuses).toEqual([429, 503, 200]);
        expect((await get(emu, `${FLEET}/gates?${V}`)).status).toBe(500);
        emu.clearFaults();
        expect((await get(emu, `${FLEET}/gates?${V}`)).status).toBe(200);
        emu.inject({ route: "*", kind: "500", times: 3 });
        expect((await get(emu, `${FLEET}/gates?${V}`)).status).toBe(500);
        expect((await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve)).status).toBe(500);
        expect((await get(emu, "/not/a/route")).status).toBe(500);
        expect((await get(emu, "/not/a/route")).status).toBe(404);
    });

    it("times limits injections; the returned function removes the fault", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        emu.inject({ route: "gates.get", kind: "500", times: 2 });
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) statuses.push((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status);
        expect(statuses).toEqual([500, 500, 200, 200]);
        const remove = emu.inject({ route: "gates.get", kind: "503" });
        expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status).toBe(503);
        expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status).toBe(503);
        remove();
        expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status).toBe(200);
        expect(() => emu.inject({ route: "gates.get", kind: "500", probability: 2 })).toThrow();
        expect(() => emu.inject({ route: "nope" as any, kind: "500" })).toThrow();
    });

    it("probability draws from the seeded PRNG: same seed, same sequence", async () => {
        const run = async (seed: number) => {
            const emu = await start({ seed });
            const g = addGate(emu, 1);
            emu.inject({ route: "gates.get", kind: "500", probability: 0.3 });
            const out: number[] = [];
            for (let i = 0; i < 100; i++) out.push((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status);
            return out;
        };
        const a = await run(42);
        const b = await run(42);
        const c = await run(4242);
        expect(a).toEqual(b);
        expect(a).not.toEqual(c);
        const failures = a.filter((s) => s === 500).length;
        expect(failures).toBeGreaterThan(15);
        expect(failures).toBeLessThan(45);
        expect(new Set(a)).toEqual(new Set([200, 500]));
    });

    it("probability and times combine: times counts injections, not draws", async () => {
        const emu = await start({ seed: 9 });
        const g = addGate(emu, 1);
        emu.inject({ route: "gates.get", kind: "429", probability: 0.5, times: 3 });
        const statuses: number[] = [];
        for (let i = 0; i < 40; i++) statuses.push((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status);
        expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    });
});

describe("updateRuns.get", () => {
    function setupRun(emu: ArmEmulator) {
        emu.addMember(FLEET, {
            name: "aks-blue-1",
            clusterResourceId: clusterId("aks-blue-1"),
            group: "blue",
            updateState: "NotStarted",
        });
        emu.addMember(FLEET, {
            name: "aks-blue-2",
            clusterResourceId: clusterId("aks-blue-2"),
            group: "blue",
            updateState: "NotStarted",
        });
        emu.addMember(FLEET, {
            name: "aks-green-1",
            clusterResourceId: clusterId("aks-green-1"),
            group: "green",
            updateState: "NotStarted",
        });
        emu.putUpdateRun({
            fleetId: FLEET,
            name: "run-1",
            stages: [
                {
                    name: "dev",
                    beforeGates: [{ displayName: "Check with sales team" }],
                    groups: [
                        {
                            name: "blue",
                            members: ["aks-blue-1", "aks-blue-2"],
                            afterGates: [{ displayName: "blue healthy" }],
                        },
                    ],
                    afterStageWaitInSeconds: 300,
                },
                {
                    name: "prod",
                    beforeGates: [{ displayName: "prod go" }],
                    groups: [{ name: "green", members: ["aks-green-1"] }],
                },
            ],
        });
    }

    const status = async (emu: ArmEmulator): Promise<any> =>
        ((await (await get(emu, `${RUN}?${V}`)).json()) as any).properties.status;

    it("answers the UpdateRuns_CreateOrUpdate shape: strategy, managedClusterUpdate, status tree", async () => {
        const emu = await start();
        setupRun(emu);
        const sales = addGate(emu, 1, { displayName: "Check with sales team", stage: "dev", timing: "Before" });
        const res = await get(emu, `${RUN}?${V}`);
        expect(res.status).toBe(200);
        const body: any = await res.json();
        expect(res.headers.get("etag")).toBe(body.eTag);
        expect(body).toEqual({
            id: RUN,
            name: "run-1",
            type: "Microsoft.ContainerService/fleets/updateRuns",
            systemData: expect.objectContaining({ createdAt: expect.stringMatching(ISO) }),
            eTag: expect.stringMatching(/^".+"$/),
            properties: {
                provisioningState: "Succeeded",
                strategy: {
                    stages: [
                        {
                            name: "dev",
                            groups: [{ name: "blue", afterGates: [{ displayName: "blue healthy", type: "Approval" }] }],
                            beforeGates: [{ displayName: "Check with sales team", type: "Approval" }],
                            afterStageWaitInSeconds: 300,
                        },
                        {
                            name: "prod",
                            groups: [{ name: "green" }],
                            beforeGates: [{ displayName: "prod go", type: "Approval" }],
                        },
                    ],
                },
                managedClusterUpdate: { upgrade: { type: "NodeImageOnly" }, nodeImageSelection: { type: "Latest" } },
                status: {
                    status: { state: "Pending" },
                    stages: [
                        {
                            status: { state: "Pending" },
                            name: "dev",
                            groups: [
                                {
                                    status: { state: "NotStarted" },
                                    name: "blue",
                                    members: [
                                        {
                                            status: { state: "NotStarted" },
                                            name: "aks-blue-1",
                                            clusterResourceId: clusterId("aks-blue-1"),
                                        },
                                        {
                                            status: { state: "NotStarted" },
                                            name: "aks-blue-2",
                                            clusterResourceId: clusterId("aks-blue-2"),
                                        },
                                    ],
                                    afterGates: [{ displayName: "blue healthy", status: { state: "NotStarted" } }],
                                },
                            ],
                            beforeGates: [
                                {
                                    displayName: "Check with sales team",
                                    gateId: sales.id,
                                    status: { state: "Pending" },
                                },
                            ],
                            afterStageWaitStatus: { status: { state: "NotStarted" }, waitDurationInSeconds: 300 },
                        },
                        {
                            status: { state: "NotStarted" },
                            name: "prod",
                            groups: [
                                {
                                    status: { state: "NotStarted" },
                                    name: "green",
                                    members: [
                                        {
                                            status: { state: "NotStarted" },
                                            name: "aks-green-1",
                                            clusterResourceId: clusterId("aks-green-1"),
                                        },
                                    ],
                                },
                            ],
                            beforeGates: [{ displayName: "prod go", status: { state: "NotStarted" } }],
                        },
                    ],
                },
            },
        });
    });

    it("reflects gate approvals and member progress, failures and completion", async () => {
        const emu = await start();
        setupRun(emu);
        const sales = addGate(emu, 1, { displayName: "Check with sales team", stage: "dev", timing: "Before" });
        // approved via the API: the run moves on
        expect((await patch(emu, `${FLEET}/gates/${sales.name}?${V}`, approve)).status).toBe(200);
        let s = await status(emu);
        expect(s.stages[0].beforeGates[0].status.state).toBe("Completed");
        expect(s.stages[0].status.state).toBe("Running");
        expect(s.status.state).toBe("Running");

        emu.setMember("aks-blue-1", { updateState: "Running" });
        s = await status(emu);
        expect(s.stages[0].groups[0].status.state).toBe("Running");
        expect(s.stages[0].groups[0].members[0].status.state).toBe("Running");

        emu.setMember("aks-blue-1", { updateState: "Failed" });
        s = await status(emu);
        expect(s.stages[0].groups[0].members[0].status).toEqual({
            state: "Failed",
            error: { code: "UpgradeFailed", message: expect.any(String) },
        });
        expect(s.stages[0].groups[0].status.state).toBe("Failed");
        expect(s.stages[0].status.state).toBe("Failed");
        expect(s.status.state).toBe("Failed");

        emu.setMember("aks-blue-1", { updateState: "Completed" });
        emu.setMember("aks-blue-2", { updateState: "Completed" });
        const blue = addGate(emu, 2, { displayName: "blue healthy", stage: "dev", group: "blue", timing: "After" });
        s = await status(emu);
        expect(s.stages[0].groups[0].afterGates[0]).toEqual({
            displayName: "blue healthy",
            gateId: blue.id,
            status: { state: "Pending" },
        });
        expect(s.stages[0].groups[0].status.state).toBe("Pending");
        expect(s.stages[0].status.state).toBe("Running");

        emu.setGateState(blue.id, "Completed");
        s = await status(emu);
        expect(s.stages[0].groups[0].status.state).toBe("Completed");
        expect(s.stages[0].status.state).toBe("Completed");
        expect(s.stages[0].afterStageWaitStatus.status.state).toBe("Completed");
        const prod = addGate(emu, 3, { displayName: "prod go", stage: "prod", timing: "Before" });
        s = await status(emu);
        expect(s.stages[1].status.state).toBe("Pending");
        expect(s.status.state).toBe("Pending");

        emu.setGateState(prod.id, "Skipped");
        emu.setMember("aks-green-1", { updateState: "Skipped" });
        s = await status(emu);
        expect(s.stages[1].beforeGates[0].status.state).toBe("Skipped");
        expect(s.stages[1].groups[0].status.state).toBe("Skipped");
        expect(s.stages[1].status.state).toBe("Skipped");
        expect(s.status.state).toBe("Completed");
    });

    it("matches gates by stage, group, timing and displayName, ignoring other runs' gates; explicit states override", async () => {
        const emu = await start();
        emu.addMember(FLEET, {
            name: "m1",
            clusterResourceId: clusterId("m1"),
            group: "blue",
            updateState: "NotStarted",
        });
        emu.putUpdateRun({
            fleetId: FLEET,
            name: "run-1",
            stages: [
                {
                    name: "dev",
                    state: "Stopped",
                    beforeGates: [{ displayName: "same" }, { displayName: "same" }],
                    groups: [{ name: "blue", members: ["m1"], beforeGates: [{ displayName: "same" }] }],
                },
            ],
        });
        addGate(emu, 1, { displayName: "same", stage: "dev", timing: "After" }); // wrong timing
        addGate(emu, 2, { displayName: "same", stage: "dev", timing: "Before", run: "run-2" }); // other run
        const first = addGate(emu, 3, { displayName: "same", stage: "dev", timing: "Before" });
        const second = addGate(emu, 4, { displayName: "same", stage: "dev", timing: "Before", state: "Completed" });
        const group = addGate(emu, 5, { displayName: "same", stage: "dev", group: "blue", timing: "Before" });
        const s = await status(emu);
        expect(s.stages[0].beforeGates.map((g: any) => g.gateId)).toEqual([first.id, second.id]);
        expect(s.stages[0].beforeGates.map((g: any) => g.status.state)).toEqual(["Pending", "Completed"]);
        expect(s.stages[0].groups[0].beforeGates[0].gateId).toBe(group.id);
        expect(s.stages[0].groups[0].status.state).toBe("Pending");
        expect(s.stages[0].status.state).toBe("Stopped");
        expect(s.status.state).toBe("Stopped");
    });

    it("answers 404 for an unknown run and rejects runs naming members that were not added", async () => {
        const emu = await start();
        emu.addFleet(FLEET);
        expect((await get(emu, `${RUN}?${V}`)).status).toBe(404);
        expect(() =>
            emu.putUpdateRun({
                fleetId: FLEET,
                name: "run-1",
                stages: [{ name: "dev", groups: [{ name: "blue", members: ["ghost"] }] }],
            }),
        ).toThrow(/ghost/);
    });
});

describe("clusters.get", () => {
    it("serves each member's managed cluster with its states, for any api-version", async () => {
        const emu = await start();
        emu.addMember(FLEET, {
            name: "aks-dev-blue",
            clusterResourceId: clusterId("aks-dev-blue"),
            group: "blue",
            updateState: "NotStarted",
            kubernetesVersion: "1.32.4",
        });
        const res = await get(emu, `${clusterId("aks-dev-blue")}?api-version=2025-07-01`);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({
            id: clusterId("aks-dev-blue"),
            name: "aks-dev-blue",
            type: "Microsoft.ContainerService/ManagedClusters",
            location: "westeurope",
            properties: {
                provisioningState: "Succeeded",
                powerState: { code: "Running" },
                kubernetesVersion: "1.32.4",
                currentKubernetesVersion: "1.32.4",
            },
        });
        emu.setMember("aks-dev-blue", { powerState: "Stopped", provisioningState: "Failed" });
        const after: any = await (
            await get(emu, `${clusterId("aks-dev-blue").toLowerCase()}?api-version=2024-01-01`)
        ).json();
        expect(after.properties.powerState.code).toBe("Stopped");
        expect(after.properties.provisioningState).toBe("Failed");
        expect(after.id).toBe(clusterId("aks-dev-blue"));
        expect((await get(emu, `${clusterId("nope")}?api-version=2025-07-01`)).status).toBe(404);
        expect((await get(emu, clusterId("aks-dev-blue"))).status).toBe(400);
    });
});

describe("metrics.batch", () => {
    const NS = "Microsoft.ContainerService/managedClusters";
    const batch = (emu: ArmEmulator, query: string, body: unknown) =>
        fetch(`${emu.url}/subscriptions/${SUB}/metrics:getBatch?api-version=2024-02-01&${query}`, {
            method: "POST",
            headers: { ...AUTH, "content-type": "application/json" },
            body: typeof body === "string" ? body : JSON.stringify(body),
        });

    it("answers the batch shape with the set value for each requested aggregation; null and unset give empty data", async () => {
        const emu = await start();
        emu.addMember(FLEET, {
            name: "a",
            clusterResourceId: clusterId("a"),
            group: "blue",
            updateState: "NotStarted",
            location: "northeurope",
        });
        emu.setMetric(clusterId("a"), "node_cpu_usage_percentage", 42.5);
        emu.setMetric(clusterId("b"), "node_cpu_usage_percentage", null);
        const query =
            `metricnamespace=${encodeURIComponent(NS)}&metricnames=node_cpu_usage_percentage,kube_node_status_condition` +
            `&starttime=2026-01-01T00:00:00Z&endtime=2026-01-01T01:00:00Z&interval=PT5M&aggregation=average,maximum,count`;
        const res = await batch(emu, query, { resourceids: [clusterId("a"), clusterId("b")] });
        expect(res.status).toBe(200);
        const body: any = await res.json();
        expect(body.values).toHaveLength(2);
        expect(body.values[0]).toEqual({
            starttime: "2026-01-01T00:00:00.000Z",
            endtime: "2026-01-01T01:00:00.000Z",
            interval: "PT5M",
            namespace: NS,
            resourceregion: "northeurope",
            resourceid: clusterId("a"),
            value: [
                {
                    id: `${clusterId("a")}/providers/Microsoft.Insights/metrics/node_cpu_usage_percentage`,
                    type: "Microsoft.Insights/metrics",
                    name: { value: "node_cpu_usage_percentage", localizedValue: "node_cpu_usage_percentage" },
                    displayDescription: "",
                    errorCode: "Success",
                    unit: "Unspecified",
                    timeseries: [
                        {
                            metadatavalues: [],
                            data: [
                                { timeStamp: "2026-01-01T00:59:00.000Z", average: 42.5, maximum: 42.5, count: 42.5 },
                            ],
                        },
                    ],
                },
                expect.objectContaining({
                    name: { value: "kube_node_status_condition", localizedValue: "kube_node_status_condition" },
                    timeseries: [{ metadatavalues: [], data: [] }],
                }),
            ],
        });
        expect(body.values[1].resourceregion).toBe("westeurope");
        expect(body.values[1].value[0].timeseries).toEqual([{ metadatavalues: [], data: [] }]);
        // no aggregation asked: Azure Monitor's default, average
        const dflt: any = await (
            await batch(emu, `metricnamespace=${encodeURIComponent(NS)}&metricnames=node_cpu_usage_percentage`, {
                resourceids: [clusterId("a")],
            })
        ).json();
        expect(Object.keys(dflt.values[0].value[0].timeseries[0].data[0]).sort()).toEqual(["average", "timeStamp"]);
        expect(emu.requests.every((r) => r.route === "metrics.batch")).toBe(true);
    });

    it("rejects a bad body or query with 400", async () => {
        const emu = await start();
        const ok = `metricnamespace=${encodeURIComponent(NS)}&metricnames=x`;
        const cases: [string, unknown][] = [
            [ok, "{not json"],
            [ok, {}],
            [ok, { resourceids: [] }],
            [ok, { resourceids: [42] }],
            [ok, { resourceids: ["/not/an/id"] }],
            [ok, { resourceids: [clusterId("a").replace(SUB, guid(1))] }], // another subscription
            [ok, { resourceids: Array.from({ length: 51 }, (_, i) => clusterId(`c${i}`)) }],
            [`metricnames=x`, { resourceids: [clusterId("a")] }],
            [`metricnamespace=${encodeURIComponent(NS)}`, { resourceids: [clusterId("a")] }],
            [`${ok}&aggregation=median`, { resourceids: [clusterId("a")] }],
            [`${ok}&starttime=yesterday`, { resourceids: [clusterId("a")] }],
        ];
        for (const [query, body] of cases) {
            const res = await batch(emu, query, body);
            expect(res.status, `${query} ${JSON.stringify(body).slice(0, 80)}`).toBe(400);
            expect(((await res.json()) as any).error.code).toEqual(expect.any(String));
        }
    });
});

describe("with the Azure SDK pipeline over TLS", () => {
    const credential = {
        getToken: async () => ({ token: "offline-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
    };

    it("core-rest-pipeline's bearer and retry policies work against the emulator (429 + Retry-After, then 200)", async () => {
        const emu = await start({ tls: true });
        expect(emu.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        expect(emu.ca).toContain("-----BEGIN CERTIFICATE-----");
        const g = addGate(emu, 1);
        emu.inject({ route: "gates.patch", kind: "429", times: 1, retryAfterSeconds: 0 });
        const pipeline = createPipelineFromOptions({ tlsOptions: { ca: emu.ca } });
        pipeline.addPolicy(
            bearerTokenAuthenticationPolicy({ credential, scopes: "https://management.azure.com/.default" }),
        );
        const client = createDefaultHttpClient();
        const res = await pipeline.sendRequest(
            client,
            createPipelineRequest({
                url: `${emu.url}${FLEET}/gates/${g.name}?${V}`,
                method: "PATCH",
                body: JSON.stringify(approve),
            }),
        );
        expect(res.status).toBe(200);
        expect(JSON.parse(res.bodyAsText!).properties.state).toBe("Completed");
        expect(emu.requests.map((r) => [r.route, r.status, r.authorized])).toEqual([
            ["gates.patch", 429, true],
            ["gates.patch", 200, true],
        ]);
    });

    it("in a worker thread, serves the certificate the starting thread made and answers through the pipeline", async () => {
        const remote = await ArmEmulatorRemote.start({ tls: true });
        try {
            expect(remote.ca).toBe((await loopbackCertificate()).cert);
            await remote.addFleet(FLEET);
            await remote.addGates([
                {
                    fleetId: FLEET,
                    name: guid(7),
                    gateType: "Approval",
                    state: "Pending",
                    target: { id: RUN, updateRunProperties: { name: "run-1", stage: "dev", timing: "Before" } },
                },
            ]);
            const pipeline = createPipelineFromOptions({ tlsOptions: { ca: remote.ca! } });
            pipeline.addPolicy(
                bearerTokenAuthenticationPolicy({ credential, scopes: "https://management.azure.com/.default" }),
            );
            const res = await pipeline.sendRequest(
                createDefaultHttpClient(),
                createPipelineRequest({ url: `${remote.url}${FLEET}/gates/${guid(7)}?${V}` }),
            );
            expect(res.status).toBe(200);
            expect(JSON.parse(res.bodyAsText!).properties.state).toBe("Pending");
            expect(await remote.requests()).toEqual([{ route: "gates.get", status: 200 }]);
        } finally {
            await remote.stop();
        }
    });

    it("@azure/monitor-query-metrics MetricsClient.queryResources parses the emulator's answer", async () => {
        const emu = await start({ tls: true });
        emu.addMember(FLEET, {
            name: "a",
            clusterResourceId: clusterId("a"),
            group: "blue",
            updateState: "NotStarted",
        });
        emu.setMetric(clusterId("a"), "node_cpu_usage_percentage", 37);
        const client = new MetricsClient(emu.url, credential, { tlsOptions: { ca: emu.ca } } as any);
        const [result] = await client.queryResources(
            [clusterId("a")],
            ["node_cpu_usage_percentage", "kube_pod_status_ready"],
            "Microsoft.ContainerService/managedClusters",
            { aggregation: "Average,Maximum", interval: "PT5M" },
        );
        expect(result!.resourceId).toBe(clusterId("a"));
        expect(result!.granularity).toBe("PT5M");
        const cpu = result!.getMetricByName("node_cpu_usage_percentage")!;
        expect(cpu.timeseries[0]!.data![0]).toMatchObject({ average: 37, maximum: 37 });
        expect(cpu.timeseries[0]!.data![0]!.timeStamp).toBeInstanceOf(Date);
        expect(result!.getMetricByName("kube_pod_status_ready")!.timeseries[0]!.data).toEqual([]);
        expect(emu.requests[0]).toMatchObject({
            method: "POST",
            route: "metrics.batch",
            status: 200,
            authorized: true,
        });
    });
});

describe("malformed input", () => {
    it("rejects traversal, encoded slashes, bad escapes and over-long paths with 400", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const paths = [
            `${FLEET}/gates/../gates/${g.name}?${V}`,
            `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerService/fleets/flt-dev/gates/./${g.name}?${V}`,
            `${FLEET}/gates/${g.name}%2F..%2F..?${V}`,
            `${FLEET}%2Fgates%2F${g.name}?${V}`,
            `${FLEET}/gates/%2e%2e?${V}`,
            `${FLEET}/gates/%E0%A4%A?${V}`,
            `${FLEET}/gates/${"a".repeat(5000)}?${V}`,
        ];
        for (const path of paths) {
            const res = await rawPath(emu, path);
            expect(res.status, path.slice(0, 120)).toBe(400);
            expect(res.body.error.code).toEqual(expect.any(String));
        }
        expect(emu.gate(g.id)?.state).toBe("Pending");
    });

    it("answers 404/405/400 for unknown routes, wrong methods and invalid ids, and survives garbage", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        expect((await get(emu, "/")).status).toBe(404);
        expect((await get(emu, `/subscriptions/${SUB}/resourceGroups/${RG}?${V}`)).status).toBe(404);
        const put = await fetch(`${emu.url}${FLEET}/gates/${g.name}?${V}`, {
            method: "PUT",
            headers: AUTH,
            body: "{}",
        });
        expect(put.status).toBe(405);
        expect(put.headers.get("allow")).toContain("GET");
        const del = await fetch(`${emu.url}${FLEET}/gates/${g.name}?${V}`, { method: "DELETE", headers: AUTH });
        expect(del.status).toBe(405);
        const badSub = FLEET.replace(SUB, "not-a-guid");
        expect((await get(emu, `${badSub}/gates/${g.name}?${V}`)).status).toBe(400);
        // a body above 1 MB
        const big = await fetch(`${emu.url}${FLEET}/gates/${g.name}?${V}`, {
            method: "PATCH",
            headers: AUTH,
            body: JSON.stringify({ properties: { state: "Completed", pad: "x".repeat(1_100_000) } }),
        }).catch(() => undefined);
        if (big) expect(big.status).toBe(413);
        // raw garbage over a socket: the parser answers or closes; the server stays up
        for (const line of [
            "GARBAGE",
            "GET /%%%%/%00 HTTP/1.1",
            "GET http://evil/x HTTP/1.1",
            `GET /${"x/".repeat(20_000)} HTTP/1.1`,
            "PATCH * HTTP/1.1",
        ]) {
            const status = await rawStatus(emu, line);
            expect(status === "closed" || (status >= 400 && status < 500), `${line.slice(0, 40)} -> ${status}`).toBe(
                true,
            );
        }
        expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status).toBe(200);
        expect(emu.gate(g.id)?.state).toBe("Pending");
    });

    it("survives random paths, methods and bodies (fuzz) and keeps answering", async () => {
        const emu = await start({ seed: 3 });
        const g = addGate(emu, 1);
        let x = 12345;
        const rnd = (n: number) => {
            x = (x * 1103515245 + 12345) & 0x7fffffff;
            return x % n;
        };
        const pieces = [
            "subscriptions",
            SUB,
            "resourceGroups",
            RG,
            "providers",
            "Microsoft.ContainerService",
            "fleets",
            "flt-dev",
            "gates",
            g.name,
            "updateRuns",
            "..",
            "%2F",
            "%ZZ",
            "metrics:getBatch",
            "",
            "\u00e9",
            "locations",
            "operationresults",
        ];
        const methods = ["GET", "PATCH", "POST", "PUT", "DELETE", "OPTIONS"];
        for (let i = 0; i < 150; i++) {
            const segs = Array.from({ length: 1 + rnd(12) }, () => encodeURI(pieces[rnd(pieces.length)]!));
            const path = `/${segs.join("/")}?${rnd(2) ? V : "api-version=x"}&$filter=${rnd(3)}`;
            const method = methods[rnd(methods.length)]!;
            const body =
                method === "GET" || method === "OPTIONS"
                    ? undefined
                    : ["{", "[]", '{"properties":{"state":1}}', "null", ""][rnd(5)];
            const status = await new Promise<number>((resolve) => {
                const headers = { ...AUTH, "content-length": String(Buffer.byteLength(body ?? "")) };
                const req = httpRequest(`${emu.url}/`, { method, path, headers }, (res) => {
                    res.resume();
                    res.on("end", () => resolve(res.statusCode ?? 0));
                });
                req.on("error", () => resolve(-1));
                req.end(body);
            });
            expect(status, `${method} ${path}`).toBeGreaterThanOrEqual(200);
            expect(status, `${method} ${path}`).toBeLessThan(500);
        }
        expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status).toBe(200);
        expect(emu.gate(g.id)?.state).toBe("Pending");
    });

    it("addGate and addMember reject inputs the service would never produce", async () => {
        const emu = await start();
        const base = {
            fleetId: FLEET,
            gateType: "Approval" as const,
            state: "Pending" as const,
            target: { id: RUN, updateRunProperties: { name: "run-1", stage: "dev", timing: "Before" as const } },
        };
        expect(() => emu.addGate({ ...base, name: "gate-1" })).toThrow(/GUID/);
        expect(() => emu.addGate({ ...base, name: guid(0xabc).toUpperCase() })).toThrow(/GUID/);
        expect(() =>
            emu.addGate({ ...base, name: guid(1), target: { ...base.target, id: `${OTHER_FLEET}/updateRuns/run-1` } }),
        ).toThrow();
        expect(() => emu.addGate({ ...base, name: guid(1), fleetId: "/subscriptions/x/../fleets/f" })).toThrow();
        emu.addGate({ ...base, name: guid(1) });
        expect(() => emu.addGate({ ...base, name: guid(1) })).toThrow(/exists/);
        expect(() =>
            emu.addMember(FLEET, {
                name: "m",
                clusterResourceId: `${FLEET}/gates/${guid(1)}`,
                group: "g",
                updateState: "NotStarted",
            }),
        ).toThrow(/managedClusters/);
        expect(() => emu.setGateState(`${FLEET}/gates/${guid(9)}`, "Completed")).toThrow();
        expect(() => emu.setMember("nobody", { updateState: "Failed" })).toThrow();
    });
});

describe("request log and lifecycle", () => {
    it("logs every request with method, path, query, route, status, time and authorization", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const before = Date.now();
        await get(emu, `${FLEET}/gates/${g.name}?${V}`);
        await patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve);
        await get(emu, `${FLEET}/gates?${V}&$filter=${encodeURIComponent("properties/state eq 'Pending'")}`, {});
        await get(emu, "/nowhere");
        expect(emu.requests).toEqual([
            {
                method: "GET",
                path: `${FLEET}/gates/${g.name}`,
                query: V,
                route: "gates.get",
                status: 200,
                at: expect.any(Number),
                authorized: true,
            },
            {
                method: "PATCH",
                path: `${FLEET}/gates/${g.name}`,
                query: V,
                route: "gates.patch",
                status: 200,
                at: expect.any(Number),
                authorized: true,
            },
            {
                method: "GET",
                path: `${FLEET}/gates`,
                query: `${V}&$filter=properties%2Fstate%20eq%20%27Pending%27`, // as fetch sends it
                route: "gates.list",
                status: 401,
                at: expect.any(Number),
                authorized: false,
            },
            {
                method: "GET",
                path: "/nowhere",
                query: "",
                route: "unknown",
                status: 404,
                at: expect.any(Number),
                authorized: true,
            },
        ]);
        expect(emu.requests.every((r) => r.at >= before && r.at <= Date.now())).toBe(true);
        emu.resetLog();
        expect(emu.requests).toEqual([]);
        expect(emu.patchCount).toBe(1);
    });

    it("maxLogEntries keeps the newest entries", async () => {
        const emu = await start({ maxLogEntries: 2 });
        for (const p of ["/a", "/b", "/c"]) await get(emu, p);
        expect(emu.requests.map((r) => r.path)).toEqual(["/b", "/c"]);
    });

    it("latencyMs delays every answer", async () => {
        const emu = await start({ latencyMs: 120 });
        const t0 = Date.now();
        expect((await get(emu, "/x")).status).toBe(404);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
    });

    it("stop() closes idle keep-alive connections promptly and is idempotent", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        for (let i = 0; i < 5; i++) expect((await get(emu, `${FLEET}/gates/${g.name}?${V}`)).status).toBe(200);
        const t0 = Date.now();
        await emu.stop();
        await emu.stop();
        expect(Date.now() - t0).toBeLessThan(1000);
        await expect(get(emu, `${FLEET}/gates/${g.name}?${V}`)).rejects.toThrow();
    });

    it("answers concurrent requests (keep-alive, 500 in flight)", async () => {
        const emu = await start();
        const g = addGate(emu, 1);
        const results = await Promise.all(
            Array.from({ length: 500 }, (_, i) =>
                i % 5 === 0
                    ? patch(emu, `${FLEET}/gates/${g.name}?${V}`, approve)
                    : get(emu, `${FLEET}/gates/${g.name}?${V}`),
            ).map((p) => p.then((r) => r.status)),
        );
        expect(results.every((s) => s === 200)).toBe(true);
        expect(emu.requests).toHaveLength(500);
        expect(emu.patchCount).toBe(1);
    });
});
