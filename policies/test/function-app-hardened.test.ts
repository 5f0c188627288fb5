/**
 * Policy function-app-hardened through the offline policy harness: the handler's function app serves
 * HTTPS with TLS 1.2 or later, has FTP and basic publishing credentials off and a managed identity; on Flex
 * Consumption it sends none of the site config fields Flex rejects.
 */
import { describe, expect, it } from "vitest";
import { T, compliantStack, mutate, urnOf, violation, violationsOf, without } from "./fixture";

const POLICY = "function-app-hardened";
const APP = urnOf(T.webApp, "handler-app");
const edit = (e: (i: Record<string, unknown>) => void) => mutate(compliantStack(), "handler-app", e);
const site = (i: Record<string, unknown>) => i.siteConfig as Record<string, unknown>;

describe(POLICY, () => {
    it("passes the hardened handler app", async () => {
        expect(await violationsOf(POLICY, compliantStack())).toEqual([]);
    });

    it.each([
        [
            "httpsOnly false",
            (i: Record<string, unknown>) => {
                i.httpsOnly = false;
            },
            'function app "func-gates" does not set httpsOnly: true',
        ],
        [
            "TLS 1.0",
            (i: Record<string, unknown>) => {
                site(i).minTlsVersion = "1.0";
            },
            'function app "func-gates" allows TLS 1.0 (siteConfig.minTlsVersion); set "1.2" or later',
        ],
        [
            "no minimum TLS",
            (i: Record<string, unknown>) => {
                delete site(i).minTlsVersion;
            },
            'function app "func-gates" does not set siteConfig.minTlsVersion; set "1.2" or later',
        ],
        [
            "FTPS only",
            (i: Record<string, unknown>) => {
                site(i).ftpsState = "FtpsOnly";
            },
            'function app "func-gates" has siteConfig.ftpsState "FtpsOnly"; set "Disabled" so neither FTP nor FTPS is served',
        ],
        [
            "no identity",
            (i: Record<string, unknown>) => {
                i.identity = { type: "None" };
            },
            'function app "func-gates" has no managed identity (identity.type "None"); give it a system- or user-assigned identity',
        ],
    ])("rejects %s", async (_, change, message) => {
        expect(await violationsOf(POLICY, edit(change))).toEqual([violation(POLICY, APP, message)]);
    });

    it("accepts TLS 1.3", async () => {
        const stack = edit((i) => {
            site(i).minTlsVersion = "1.3";
        });
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });

    it("rejects basic publishing credentials left on (no policy resource)", async () => {
        const stack = without(compliantStack(), "handler-scm-basic-auth");
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                APP,
                'function app "func-gates" allows basic publishing credentials for scm: add a WebAppScmAllowed resource for it with allow: false',
            ),
        ]);
    });

    it("rejects basic publishing credentials allowed explicitly", async () => {
        const stack = mutate(compliantStack(), "handler-ftp-basic-auth", (i) => {
            i.allow = true;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([
            violation(
                POLICY,
                urnOf(T.ftp, "handler-ftp-basic-auth"),
                'function app "func-gates" allows basic publishing credentials for ftp: its WebAppFtpAllowed "handler-ftp-basic-auth" sets allow: true; set allow: false',
            ),
        ]);
    });

    it("matches the credential policies by app name when there is no dependency", async () => {
        const stack = compliantStack().map((r) =>
            r.type === T.scm || r.type === T.ftp ? { ...r, propertyDependencies: {} } : r,
        );
        expect(await violationsOf(POLICY, stack)).toEqual([]);
        const renamed = mutate(stack, "handler-scm-basic-auth", (i) => {
            i.name = "func-other";
        });
        expect(await violationsOf(POLICY, renamed)).toHaveLength(1);
    });

    describe("on Flex Consumption", () => {
        const FLEX = { runtime: { name: "node", version: "22" } };
        const flex = (e: (i: Record<string, unknown>) => void = () => undefined) =>
            edit((i) => {
                i.functionAppConfig = FLEX;
                delete i.siteConfig;
                e(i);
            });

        it("passes an app with no siteConfig and FTP off through WebAppFtpAllowed", async () => {
            expect(await violationsOf(POLICY, flex())).toEqual([]);
        });

        it("refuses the siteConfig azure-native sends (its netFrameworkVersion default and ftpsState)", async () => {
            const stack = flex((i) => {
                i.siteConfig = {
                    minTlsVersion: "1.2",
                    ftpsState: "Disabled",
                    http20Enabled: true,
                    localMySqlEnabled: false,
                    netFrameworkVersion: "v4.6",
                };
            });
            expect(await violationsOf(POLICY, stack)).toEqual([
                violation(
                    POLICY,
                    APP,
                    'function app "func-gates" runs on Flex Consumption, which rejects siteConfig.netFrameworkVersion "v4.6", ' +
                        'siteConfig.ftpsState "Disabled"; send no siteConfig (azure-native adds netFrameworkVersion to any siteConfig) ' +
                        "and keep FTP off with WebAppFtpAllowed allow: false",
                ),
            ]);
        });

        it("refuses a null use32BitWorkerProcess too (Flex answers 400 even for null)", async () => {
            const stack = flex((i) => {
                i.siteConfig = { use32BitWorkerProcess: null };
            });
            expect((await violationsOf(POLICY, stack)).map((v) => v.message)).toEqual([
                expect.stringContaining("rejects siteConfig.use32BitWorkerProcess (not set)"),
            ]);
        });

        it("still requires FTP off through WebAppFtpAllowed", async () => {
            const stack = without(flex(), "handler-ftp-basic-auth");
            expect(await violationsOf(POLICY, stack)).toEqual([
                violation(
                    POLICY,
                    APP,
                    'function app "func-gates" allows basic publishing credentials for ftp: add a WebAppFtpAllowed resource for it with allow: false',
                ),
            ]);
        });

        it("recognises Flex by its FC1 plan when functionAppConfig is absent", async () => {
            const stack = [
                ...edit((i) => {
                    i.siteConfig = { netFrameworkVersion: "v4.6" };
                }).map((r) =>
                    r.name === "handler-app" ? { ...r, propertyDependencies: { serverFarmId: ["plan"] } } : r,
                ),
                {
                    type: "azure-native:web:AppServicePlan",
                    name: "plan",
                    inputs: { kind: "functionapp", sku: { name: "FC1", tier: "FlexConsumption" } },
                },
            ];
            expect((await violationsOf(POLICY, stack)).map((v) => v.message)).toEqual([
                expect.stringContaining(
                    'runs on Flex Consumption, which rejects siteConfig.netFrameworkVersion "v4.6"',
                ),
            ]);
        });
    });

    it("leaves web apps that are not function apps alone", async () => {
        const stack = edit((i) => {
            i.kind = "app,linux";
            i.httpsOnly = false;
        });
        expect(await violationsOf(POLICY, stack)).toEqual([]);
    });
});
