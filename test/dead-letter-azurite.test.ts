/**
 * Dead letters in Azure Storage, offline: Azurite (started by this file, loopback TLS) holds the
 * dead-letter container the rehearsal writes to, in Azure's path and format, readable with
 * `@azure/storage-blob`; `npm run replay -- --dead-letter CONTAINER-URL` lists and reads those blobs
 * and pushes their events through the handler again, as an operator would after an outage.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    ContainerClient,
    ContainerSASPermissions,
    StorageSharedKeyCredential,
    generateBlobSASQueryParameters,
    type StoragePipelineOptions,
} from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planStack, PROJECT_ROOT, type Plan } from "../local/plan/plan";
import { readDeadLetterBlobs, withoutDeliveryFields } from "../local/simulate/dead-letter-storage";
import { rehearse, type RehearsalResult } from "../local/simulate/rehearse";
import { replay } from "../local/simulate/replay";
import { AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY, azuriteCredential, startAzurite, type Azurite } from "./azurite";

/** Tuesday 10:00 in Berlin: inside the dev rule's window. */
const IN_WINDOW = new Date("2026-11-24T09:00:00Z");
const CONTAINER = "gate-events-deadletter";

let azurite: Azurite;
let rehearsal: RehearsalResult;
let work: string;

/** The dev stack with the sales-check subscription giving up after 2 attempts. */
function shortRetries(plan: Plan): Plan {
    return {
        ...plan,
        resources: plan.resources.map((res) =>
            res.type === "azure-native:eventgrid:SystemTopicEventSubscription" &&
            res.inputs.eventSubscriptionName === "gate-sales-check"
                ? {
                      ...res,
                      inputs: { ...res.inputs, retryPolicy: { maxDeliveryAttempts: 2, eventTimeToLiveInMinutes: 60 } },
                  }
                : res,
        ),
    };
}

function sharedKey(): StorageSharedKeyCredential {
    return new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY);
}

/** The container as an operator sees it with `@azure/storage-blob` and the account key. */
function operatorView(): ContainerClient {
    return new ContainerClient(`${azurite.blobEndpoint}/${CONTAINER}`, sharedKey(), {
        tlsOptions: { ca: azurite.ca },
    } as StoragePipelineOptions);
}

beforeAll(async () => {
    azurite = await startAzurite();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-gates-dead-letter-"));
    // An outage: ARM answers 503 to everything, so the sales-check event is dead-lettered.
    rehearsal = await rehearse({
        stack: "dev",
        plan: shortRetries(await planStack("dev")),
        now: IN_WINDOW,
        approveManual: true,
        horizonHours: 1,
        faults: [{ route: "*", kind: "503", retryAfterSeconds: 0 }],
        deadLetterStorage: { accountUrl: azurite.blobEndpoint, credential: azuriteCredential(), tlsCa: azurite.ca },
    });
}, 180_000);

afterAll(async () => {
    await azurite?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("the dead-letter container in Azurite", () => {
    it("holds the rehearsal's dead letters at Azure's path, as JSON arrays of events with the delivery fields", async () => {
        expect(rehearsal.deadLetters).toHaveLength(1);
        const written = rehearsal.deadLetters[0]!;
        const blobs: { name: string; contentType: string | undefined }[] = [];
        for await (const b of operatorView().listBlobsFlat())
            blobs.push({ name: b.name, contentType: b.properties.contentType });
        expect(blobs).toEqual([{ name: written.path.slice(CONTAINER.length + 1), contentType: "application/json" }]);
        expect(blobs[0]!.name).toMatch(/^GATE-SALES-CHECK\/2026\/11\/24\/9\/[0-9a-f-]{36}\.json$/);
        const content = JSON.parse(
            (await operatorView().getBlobClient(blobs[0]!.name).downloadToBuffer()).toString("utf8"),
        ) as Record<string, unknown>[];
        expect(content).toEqual(written.records);
        expect(content[0]).toMatchObject({
            eventType: "Microsoft.ResourceNotifications.AksResources.FleetGateCreated",
            deadLetterReason: "MaxDeliveryAttemptsExceeded",
            deliveryAttempts: 2,
            lastDeliveryOutcome: "Busy",
        });
    });

    it("reads back as the events that were published, which the handler then approves", async () => {
        const read = await readDeadLetterBlobs(`${azurite.blobEndpoint}/${CONTAINER}`, {
            credential: azuriteCredential(),
            tlsCa: azurite.ca,
        });
        expect(read.map((b) => [b.blob, b.reasons])).toEqual([
            [rehearsal.deadLetters[0]!.path.slice(CONTAINER.length + 1), ["MaxDeliveryAttemptsExceeded"]],
        ]);
        const event = read[0]!.events[0]!;
        expect(event).toEqual(withoutDeliveryFields(rehearsal.deadLetters[0]!.records[0]!));
        expect(Object.keys(event)).not.toContain("deadLetterReason");
        const r = await replay({ stack: "dev", events: read[0]!.events, now: IN_WINDOW });
        expect(r.decisions.map((d) => [d.outcome, d.rule])).toEqual([["approved", "sales-check"]]);
    });

    it("npm run replay -- --dead-letter CONTAINER-URL replays them (SAS URL, the emulator's CA trusted)", async () => {
        const sas = generateBlobSASQueryParameters(
            {
                containerName: CONTAINER,
                permissions: ContainerSASPermissions.parse("rl"),
                expiresOn: new Date(Date.now() + 3_600_000),
            },
            sharedKey(),
        ).toString();
        const caFile = path.join(work, "ca.pem");
        fs.writeFileSync(caFile, azurite.ca);
        const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
            const child = spawn(
                process.execPath,
                [
                    "--import",
                    "tsx",
                    "local/cli.ts",
                    "replay",
                    "--dead-letter",
                    `${azurite.blobEndpoint}/${CONTAINER}?${sas}`,
                    "--now",
                    IN_WINDOW.toISOString(),
                    "--json",
                ],
                { cwd: PROJECT_ROOT, env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile } },
            );
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
            child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
            child.on("error", reject);
            child.on("close", (code) => resolve({ code, stdout, stderr }));
        });
        expect(run.code, run.stderr).toBe(0);
        expect(run.stderr).toBe(
            `1 dead-lettered event(s) in 1 blob(s) of ${new URL(azurite.blobEndpoint).origin}/${AZURITE_ACCOUNT}/${CONTAINER}\n`,
        );
        const decisions = JSON.parse(run.stdout) as { eventId: string; outcome: string; rule: string }[];
        expect(decisions).toEqual([
            {
                eventId: rehearsal.deadLetters[0]!.records[0]!.id,
                gateId: expect.stringMatching(/\/fleets\/flt-dev\/gates\//),
                outcome: "approved",
                rule: "sales-check",
                reason: null,
            },
        ]);
    }, 180_000);
});
