/**
 * A self-signed certificate for loopback TLS servers (the ARM emulator, test fakes of Azure
 * services): ECDSA P-256, valid for `127.0.0.1` and `localhost`, trusted by passing it as the
 * client's CA. One per process: generating it is the slow part of starting a server.
 */

export interface LoopbackCertificate {
    /** PEM private key (PKCS #8). */
    readonly key: string;
    /** PEM certificate: the server's, and the CA its clients trust. */
    readonly cert: string;
}

let shared: Promise<LoopbackCertificate> | undefined;

const DAY_MS = 86_400_000;

/**
 * The process's loopback certificate, generated on first use. Its X.509 library is loaded then, not
 * with this module: an emulator handed a certificate (a worker's) never loads it.
 */
export function loopbackCertificate(): Promise<LoopbackCertificate> {
    shared ??= import("selfsigned")
        .then(({ default: selfsigned }) =>
            selfsigned.generate([{ name: "commonName", value: "fleet-gates loopback" }], {
                keyType: "ec",
                curve: "P-256",
                algorithm: "sha256",
                notBeforeDate: new Date(Date.now() - DAY_MS),
                notAfterDate: new Date(Date.now() + 30 * DAY_MS),
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
    return shared;
}
