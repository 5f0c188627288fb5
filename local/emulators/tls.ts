/**
 * A self-signed certificate for loopback TLS servers (the ARM emulator, test fakes of Azure
 * services): ECDSA P-256, valid for `127.0.0.1` and `localhost`, trusted by passing it as the
 * client's CA. One per process, kept on disk for the next: generating it (loading an X.509 library of
 * two hundred modules) is the slow part of starting a server, about 0.2 s of every offline command.
 */
import { X509Certificate, createPrivateKey, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";

export interface LoopbackCertificate {
    /** PEM private key (PKCS #8). */
    readonly key: string;
    /** PEM certificate: the server's, and the CA its clients trust. */
    readonly cert: string;
}

let shared: Promise<LoopbackCertificate> | undefined;

const DAY_MS = 86_400_000;

/** Where the certificate is kept between processes: the project's own cache folder, never committed. */
export const CERTIFICATE_CACHE = path.resolve(
    __dirname,
    "../../node_modules/.cache/fleet-gates/loopback-certificate.json",
);

/** The process's loopback certificate: the kept one while it has a day to run, else a new one. */
export function loopbackCertificate(): Promise<LoopbackCertificate> {
    shared ??= cachedCertificate(CERTIFICATE_CACHE);
    return shared;
}

/**
 * The certificate kept in `file` when it is whole (its key matches it) and valid for more than a
 * day after `now`; otherwise a new one, written there (owner-only, atomically) for the next process.
 * A file that cannot be read or written costs only the time to make a certificate.
 */
export async function cachedCertificate(file: string, now: number = Date.now()): Promise<LoopbackCertificate> {
    const kept = readKept(file, now);
    if (kept) return kept;
    const made = await generateCertificate(now);
    try {
        mkdirSync(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
        writeFileSync(tmp, JSON.stringify(made), { mode: 0o600 });
        renameSync(tmp, file);
    } catch {
        // A read-only checkout still works, only slower.
    }
    return made;
}

function readKept(file: string, now: number): LoopbackCertificate | undefined {
    try {
        const { key, cert } = JSON.parse(readFileSync(file, "utf8")) as Partial<LoopbackCertificate>;
        if (typeof key !== "string" || typeof cert !== "string") return undefined;
        const x509 = new X509Certificate(cert);
        if (Date.parse(x509.validTo) - now < DAY_MS || Date.parse(x509.validFrom) > now) return undefined;
        if (!x509.checkPrivateKey(createPrivateKey(key))) return undefined;
        if (!x509.checkIP("127.0.0.1")) return undefined;
        return { key, cert };
    } catch {
        return undefined;
    }
}

/** A new certificate. Its X.509 library is loaded only here: an emulator handed one never loads it. */
function generateCertificate(now: number): Promise<LoopbackCertificate> {
    return import("selfsigned")
        .then(({ default: selfsigned }) =>
            selfsigned.generate([{ name: "commonName", value: "fleet-gates loopback" }], {
                keyType: "ec",
                curve: "P-256",
                algorithm: "sha256",
                notBeforeDate: new Date(now - DAY_MS),
                notAfterDate: new Date(now + 30 * DAY_MS),
                extensions: [
                    { name: "basicConstraints", cA: true, critical: true },
                    {
                        name: "subjectAltName",
                        altNames: [
                            { type: 7, ip: "127.0.0.1" },
                            { type: 2, value: "localhost" },
                        ],
                    },
                ],
            }),
        )
        .then((pems) => ({ key: pems.private, cert: pems.cert }));
}
