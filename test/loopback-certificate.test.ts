/**
 * The loopback certificate kept between processes (`local/emulators/tls.ts`): reused while whole and
 * valid for more than a day, replaced when it is about to expire, unreadable or not its key's, and
 * still made when it cannot be kept.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cachedCertificate } from "../local/emulators/tls";

const DAY_MS = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cacheFile(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-gates-cert-"));
    dirs.push(dir);
    return path.join(dir, "nested", "loopback-certificate.json");
}

describe("cachedCertificate", () => {
    it("keeps a new certificate for 127.0.0.1 in an owner-only file, and the next call reuses it", async () => {
        const file = cacheFile();
        const first = await cachedCertificate(file);
        const x509 = new X509Certificate(first.cert);
        expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
        expect(x509.checkHost("localhost")).toBe("localhost");
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(first);
        expect(await cachedCertificate(file)).toEqual(first);
    });

    it("replaces a certificate with less than a day to run", async () => {
        const file = cacheFile();
        const first = await cachedCertificate(file);
        const validTo = Date.parse(new X509Certificate(first.cert).validTo);
        expect(await cachedCertificate(file, validTo - 2 * DAY_MS)).toEqual(first);
        const later = validTo - DAY_MS / 2;
        const second = await cachedCertificate(file, later);
        expect(second.cert).not.toBe(first.cert);
        expect(Date.parse(new X509Certificate(second.cert).validTo)).toBeGreaterThan(later + 20 * DAY_MS);
        expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(second);
    });

    it.each([
        ["not JSON", () => "{"],
        ["no key", (c: { cert: string }) => JSON.stringify({ cert: c.cert })],
        ["a certificate that is not PEM", (c: { key: string }) => JSON.stringify({ key: c.key, cert: "nope" })],
    ])("replaces a kept file with %s", async (_what, damage) => {
        const file = cacheFile();
        const first = await cachedCertificate(file);
        writeFileSync(file, damage(first));
        const second = await cachedCertificate(file);
        expect(second.cert).not.toBe(first.cert);
        expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(second);
    });

    it("replaces a certificate kept with another certificate's key", async () => {
        const a = cacheFile();
        const b = cacheFile();
        const one = await cachedCertificate(a);
        const other = await cachedCertificate(b);
        writeFileSync(a, JSON.stringify({ key: other.key, cert: one.cert }));
        const again = await cachedCertificate(a);
        expect(again.cert).not.toBe(one.cert);
        expect(again.key).not.toBe(other.key);
    });

    it("still makes a certificate where none can be kept", async () => {
        const blocker = cacheFile();
        writeFileSync(path.join(path.dirname(path.dirname(blocker)), "nested"), "a file where the folder would be");
        const made = await cachedCertificate(blocker);
        expect(new X509Certificate(made.cert).checkIP("127.0.0.1")).toBe("127.0.0.1");
    });
});
