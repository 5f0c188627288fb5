/**
 * The window check: a table of instants across time zones, DST changes, overnight windows and freeze
 * dates, and every minute of a DST-change week against Intl's wall-clock time.
 */
import { describe, expect, it } from "vitest";
import type { Weekday } from "../../../core/rules";
import { evaluateWindow, localTime } from "../src/checks/window";

type W = { days: Weekday[]; hours: string; timeZone: string; freezeDates?: string[] };
const ALL: Weekday[] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const check = (w: W) => ({ type: "window" as const, ...w });

const BERLIN_WORKDAYS: W = { days: ["Mon", "Tue", "Wed", "Thu"], hours: "09:00-16:00", timeZone: "Europe/Berlin" };
const BERLIN_2_TO_3: W = { days: ALL, hours: "02:00-03:00", timeZone: "Europe/Berlin" };
const NY_SUNDAY_NIGHT: W = { days: ["Sun"], hours: "01:00-02:30", timeZone: "America/New_York" };
const FREEZE: W = { days: ALL, hours: "00:00-24:00", timeZone: "Europe/Berlin", freezeDates: ["2026-12-24"] };
const OVERNIGHT: W = { days: ["Fri"], hours: "22:00-06:00", timeZone: "UTC" };

// [label, window, instant (UTC), expected pass, observed fragment]
const TABLE: [string, W, string, boolean, string][] = [
    ["Thu 09:00 CET opens", BERLIN_WORKDAYS, "2026-03-26T08:00:00Z", true, "Thu 2026-03-26 09:00"],
    ["Thu 08:59 CET is before", BERLIN_WORKDAYS, "2026-03-26T07:59:00Z", false, "outside 09:00-16:00"],
    ["Thu 15:59 CET is inside", BERLIN_WORKDAYS, "2026-03-26T14:59:00Z", true, "15:59"],
    ["Thu 16:00 CET closes (half-open)", BERLIN_WORKDAYS, "2026-03-26T15:00:00Z", false, "16:00"],
    ["07:30Z is 08:30 CET before the change", BERLIN_WORKDAYS, "2026-03-26T07:30:00Z", false, "08:30"],
    ["07:30Z is 09:30 CEST after the change", BERLIN_WORKDAYS, "2026-03-30T07:30:00Z", true, "Mon 2026-03-30 09:30"],
    ["Friday is not a listed day", BERLIN_WORKDAYS, "2026-03-27T10:00:00Z", false, "Fri is not one of Mon,Tue,Wed,Thu"],
    [
        "23:30Z Sunday is already Monday in Berlin",
        BERLIN_WORKDAYS,
        "2026-03-29T23:30:00Z",
        false,
        "Mon 2026-03-30 01:30",
    ],
    ["spring forward: 01:59 CET is before the window", BERLIN_2_TO_3, "2026-03-29T00:59:00Z", false, "01:59"],
    ["spring forward: 02:00-03:00 never happens", BERLIN_2_TO_3, "2026-03-29T01:00:00Z", false, "03:00"],
    ["the day before, 02:30 exists", BERLIN_2_TO_3, "2026-03-28T01:30:00Z", true, "02:30"],
    ["fall back: first 02:30 (CEST)", BERLIN_2_TO_3, "2026-10-25T00:30:00Z", true, "Sun 2026-10-25 02:30"],
    ["fall back: second 02:30 (CET)", BERLIN_2_TO_3, "2026-10-25T01:30:00Z", true, "Sun 2026-10-25 02:30"],
    ["fall back: 03:00 CET closes", BERLIN_2_TO_3, "2026-10-25T02:00:00Z", false, "03:00"],
    ["New York 01:59 EST on the change day", NY_SUNDAY_NIGHT, "2026-03-08T06:59:00Z", true, "Sun 2026-03-08 01:59"],
    ["New York jumps to 03:00 EDT", NY_SUNDAY_NIGHT, "2026-03-08T07:00:00Z", false, "03:00"],
    ["freeze: 23:59 the day before", FREEZE, "2026-12-23T22:59:00Z", true, "2026-12-23 23:59"],
    [
        "freeze: local midnight starts it (UTC still the 23rd)",
        FREEZE,
        "2026-12-23T23:00:00Z",
        false,
        "2026-12-24 00:00 Europe/Berlin: freeze date",
    ],
    ["freeze: 23:59 local on the date", FREEZE, "2026-12-24T22:59:00Z", false, "freeze date"],
    ["freeze: over at local midnight", FREEZE, "2026-12-24T23:00:00Z", true, "2026-12-25 00:00"],
    [
        "00:00-24:00 includes 23:59",
        { days: ALL, hours: "00:00-24:00", timeZone: "UTC" },
        "2026-05-05T23:59:00Z",
        true,
        "23:59",
    ],
    ["overnight: Friday 23:00", OVERNIGHT, "2026-03-27T23:00:00Z", true, "Fri"],
    [
        "overnight: Saturday 05:00 belongs to Friday's window",
        OVERNIGHT,
        "2026-03-28T05:00:00Z",
        true,
        "Sat 2026-03-28 05:00",
    ],
    ["overnight: Saturday 06:00 is closed", OVERNIGHT, "2026-03-28T06:00:00Z", false, "outside"],
    [
        "overnight: Thursday night is Thursday's window",
        OVERNIGHT,
        "2026-03-26T23:00:00Z",
        false,
        "Thu is not one of Fri",
    ],
    [
        "overnight: Saturday night is Saturday's window",
        OVERNIGHT,
        "2026-03-28T23:00:00Z",
        false,
        "Sat is not one of Fri",
    ],
    [
        "empty window (start = end)",
        { days: ALL, hours: "10:00-10:00", timeZone: "UTC" },
        "2026-03-26T10:00:00Z",
        false,
        "outside",
    ],
    [
        "half-hour offset: 09:00 IST",
        { days: ["Mon"], hours: "09:00-10:00", timeZone: "Asia/Kolkata" },
        "2026-03-30T03:30:00Z",
        true,
        "09:00",
    ],
    [
        "half-hour offset: 08:59 IST",
        { days: ["Mon"], hours: "09:00-10:00", timeZone: "Asia/Kolkata" },
        "2026-03-30T03:29:00Z",
        false,
        "08:59",
    ],
    [
        "UTC+14: Sunday 11:00Z is Monday",
        { days: ["Mon"], hours: "00:00-02:00", timeZone: "Pacific/Kiritimati" },
        "2026-03-29T11:00:00Z",
        true,
        "Mon 2026-03-30 01:00",
    ],
];

describe("window check", () => {
    it.each(TABLE)("%s", (_label, w, instant, expected, fragment) => {
        const r = evaluateWindow(check(w), Date.parse(instant));
        expect(r.passed).toBe(expected);
        expect(r.observed).toContain(fragment);
    });

    it("reports local time with the weekday of the local date", () => {
        expect(localTime(Date.parse("2026-01-01T00:30:00Z"), "America/Los_Angeles")).toEqual({
            date: "2025-12-31",
            weekday: "Wed",
            minutes: 16 * 60 + 30,
        });
    });

    it("every minute of a DST-change week agrees with a wall-clock reference", () => {
        // Reference: the hour and minute Intl reports with hour12 formatting, parsed independently.
        const ref = new Intl.DateTimeFormat("en-GB", {
            timeZone: "Europe/Berlin",
            hour: "2-digit",
            minute: "2-digit",
            hour12: false,
        });
        const start = Date.parse("2026-03-27T00:00:00Z");
        for (let t = start; t < start + 4 * 86_400_000; t += 7 * 60_000) {
            const [h, m] = ref.format(new Date(t)).split(":").map(Number);
            const minutes = ((h! % 24) * 60 + m!) as number;
            const expected =
                minutes >= 9 * 60 &&
                minutes < 16 * 60 &&
                ["Mon", "Tue", "Wed", "Thu"].includes(localTime(t, "Europe/Berlin").weekday);
            expect(evaluateWindow(check(BERLIN_WORKDAYS), t).passed).toBe(expected);
        }
    });
});
