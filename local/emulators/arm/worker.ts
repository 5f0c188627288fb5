/**
 * The ARM emulator on its own thread: `ArmEmulatorRemote.start()` runs an `ArmEmulator` in a
 * `worker_threads` Worker and exposes, over messages, the async subset that `replay()` needs. The
 * handler under test and the emulator then use one core each instead of sharing one, so throughput
 * measurements (`npm run bench`) are not bounded by the emulator's own work.
 *
 * The worker loads this TypeScript file itself (through tsx's CommonJS register), whatever the
 * parent's `execArgv` (under `node --import tsx` the worker would inherit it, under vitest not).
 */
import { createRequire } from "node:module";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import type { AddGateSpec } from "./gates";
import { loopbackCertificate } from "../tls";
import { ArmEmulator } from "./server";
import type { ArmEmulatorOptions, EmulatorGate, MemberState, RequestLogEntry, UpdateRunSpec } from "./types";

interface Methods {
    start(options: ArmEmulatorOptions): { url: string; ca: string | undefined };
    addFleet(fleetId: string): string;
    addMember(fleetId: string, member: MemberState): void;
    putUpdateRun(spec: UpdateRunSpec): void;
    putUpdateStrategy(fleetId: string, name: string, stages: UpdateRunSpec["stages"]): string;
    addGate(gate: AddGateSpec): EmulatorGate;
    addGates(gates: AddGateSpec[]): number;
    requests(): { route: RequestLogEntry["route"]; status: RequestLogEntry["status"] }[];
    patchCount(): number;
    stop(): void;
}

type Method = keyof Methods;

interface Call {
    readonly id: number;
    readonly method: Method;
    readonly args: unknown[];
}

type Reply =
    | { readonly id: number; readonly ok: true; readonly value: unknown }
    | { readonly id: number; readonly ok: false; readonly name: string; readonly message: string };

const WORKER_MARK = "fleet-gates:arm-emulator-worker";

/** Evaluated as the worker's entry point: loads this file (TypeScript through tsx when needed). */
const BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
if (workerData.tsx) require(workerData.tsx).register();
require(workerData.file);
`;

/** An `ArmEmulator` running in a worker thread. */
export class ArmEmulatorRemote {
    /** Starts a worker hosting an emulator on 127.0.0.1 with an ephemeral port. */
    static async start(options: ArmEmulatorOptions = {}): Promise<ArmEmulatorRemote> {
        const worker = new Worker(BOOTSTRAP, {
            eval: true,
            execArgv: [],
            workerData: {
                mark: WORKER_MARK,
                file: __filename,
                tsx: __filename.endsWith(".ts") ? createRequire(__filename).resolve("tsx/cjs/api") : undefined,
            },
        });
        const remote = new ArmEmulatorRemote(worker);
        try {
            // This thread makes the certificate while the worker loads: the worker then never loads
            // the X.509 library (two hundred modules, most of its start-up).
            if (options.tls && options.certificate === undefined)
                options = { ...options, certificate: await loopbackCertificate() };
            const { url, ca } = await remote.call("start", options);
            remote.url = url;
            remote.ca = ca;
        } catch (e) {
            await worker.terminate();
            throw e;
        }
        return remote;
    }

    /** `https://127.0.0.1:<port>` (`http://` without `tls`). */
    url = "";
    /** With `tls: true`: the PEM certificate of the server, to trust as a CA. */
    ca: string | undefined;

    private nextId = 0;
    private readonly pending = new Map<number, { resolve(value: unknown): void; reject(e: Error): void }>();
    private exited: Error | undefined;

    private constructor(private readonly worker: Worker) {
        worker.on("message", (reply: Reply) => {
            const p = this.pending.get(reply.id);
            if (!p) return;
            this.pending.delete(reply.id);
            if (reply.ok) {
                p.resolve(reply.value);
            } else {
                const e = new Error(reply.message);
                e.name = reply.name;
                p.reject(e);
            }
        });
        const fail = (e: Error) => {
            this.exited ??= e;
            for (const p of this.pending.values()) p.reject(e);
            this.pending.clear();
        };
        worker.on("error", fail);
        worker.on("exit", (code) => fail(new Error(`ARM emulator worker exited (code ${code})`)));
    }

    private call<M extends Method>(method: M, ...args: Parameters<Methods[M]>): Promise<ReturnType<Methods[M]>> {
        if (this.exited) return Promise.reject(this.exited);
        const id = this.nextId++;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
            this.worker.postMessage({ id, method, args } satisfies Call);
        });
    }

    addFleet(fleetId: string): Promise<string> {
        return this.call("addFleet", fleetId);
    }

    addMember(fleetId: string, member: MemberState): Promise<void> {
        return this.call("addMember", fleetId, member);
    }

    putUpdateRun(spec: UpdateRunSpec): Promise<void> {
        return this.call("putUpdateRun", spec);
    }

    putUpdateStrategy(fleetId: string, name: string, stages: UpdateRunSpec["stages"]): Promise<string> {
        return this.call("putUpdateStrategy", fleetId, name, stages);
    }

    addGate(gate: AddGateSpec): Promise<EmulatorGate> {
        return this.call("addGate", gate);
    }

    /** Adds many gates in one message (seeding thousands of gates one message each costs seconds). */
    addGates(gates: AddGateSpec[]): Promise<number> {
        return this.call("addGates", gates);
    }

    /** Every request the emulator answered, in arrival order: route and status. */
    requests(): Promise<{ route: RequestLogEntry["route"]; status: RequestLogEntry["status"] }[]> {
        return this.call("requests");
    }

    /** Successful PATCHes that changed a gate's state. */
    patchCount(): Promise<number> {
        return this.call("patchCount");
    }

    /** Stops the emulator and ends the worker. */
    async stop(): Promise<void> {
        try {
            if (!this.exited) await this.call("stop");
        } finally {
            await this.worker.terminate();
        }
    }
}

/** The worker side: one emulator, driven by `Call` messages. */
function serve(port: NonNullable<typeof parentPort>): void {
    let emu: ArmEmulator | undefined;
    const running = (): ArmEmulator => {
        if (!emu) throw new Error("ARM emulator worker: not started");
        return emu;
    };
    const handlers: { [M in Method]: (...args: Parameters<Methods[M]>) => Promise<ReturnType<Methods[M]>> } = {
        async start(options) {
            if (emu) throw new Error("ARM emulator worker: already started");
            emu = await ArmEmulator.start(options);
            return { url: emu.url, ca: emu.ca };
        },
        addFleet: async (fleetId) => running().addFleet(fleetId),
        addMember: async (fleetId, member) => running().addMember(fleetId, member),
        putUpdateRun: async (spec) => running().putUpdateRun(spec),
        putUpdateStrategy: async (fleetId, name, stages) => running().putUpdateStrategy(fleetId, name, stages),
        addGate: async (gate) => running().addGate(gate),
        addGates: async (gates) => gates.map((g) => running().addGate(g)).length,
        requests: async () => running().requests.map((q) => ({ route: q.route, status: q.status })),
        patchCount: async () => running().patchCount,
        async stop() {
            await emu?.stop();
        },
    };
    port.on("message", (call: Call) => {
        const handler = handlers[call.method] as (...args: unknown[]) => Promise<unknown>;
        Promise.resolve()
            .then(() => handler(...call.args))
            .then(
                (value) => port.postMessage({ id: call.id, ok: true, value } satisfies Reply),
                (e: unknown) => {
                    const err = e instanceof Error ? e : new Error(String(e));
                    port.postMessage({ id: call.id, ok: false, name: err.name, message: err.message } satisfies Reply);
                },
            );
    });
}

if (!isMainThread && parentPort && (workerData as { mark?: unknown } | null)?.mark === WORKER_MARK) serve(parentPort);
