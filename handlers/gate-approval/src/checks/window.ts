/**
 * `window`: the gate may pass only on the listed days, within the hours, in the rule's time zone,
 * and never on a freeze date. Pure: the instant comes from the injected clock.
 *
 * Semantics (local wall-clock time of `timeZone`, via Intl):
 * - `hours` "HH:MM-HH:MM" is half-open [start, end); "24:00" as the end means midnight.
 * - start > end is an overnight window (e.g. "22:00-06:00"): the early-morning part belongs to the
 *   window that opened the previous evening, so the *previous* local day must be an allowed day.
 * - start = end is an empty window (never open).
 * - A freeze date (local `YYYY-MM-DD`) closes the whole local day.
 * - DST: wall-clock time is what counts. On a spring-forward day the skipped hour never occurs; on
 *   a fall-back day the repeated hour is inside the window both times.
 */
import type { Weekday } from "../../../../core/rules";
import type { CheckOf, CheckRunner } from "./types";

const DAYS: readonly Weekday[] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
    let f = formatters.get(timeZone);
    if (!f) {
        f = new Intl.DateTimeFormat("en-US", {
            timeZone,
            year: "numeric",
            month: "2-digit",
            day: "2-digit",
            hour: "2-digit",
            minute: "2-digit",
            hourCycle: "h23",
        });
        formatters.set(timeZone, f);
    }
    return f;
}

export interface LocalTime {
    /** `YYYY-MM-DD` */
    readonly date: string;
    readonly weekday: Weekday;
    /** Minutes since local midnight. */
    readonly minutes: number;
}

/**
 * The last answer per time zone, keyed by the UTC second: tz offsets are whole seconds, so every
 * instant of one second has the same local date and minute.
 */
const lastLocalTime = new Map<string, { second: number; time: LocalTime }>();

/** Wall-clock date, weekday and minute of `epochMs` in `timeZone`. */
export function localTime(epochMs: number, timeZone: string): LocalTime {
    const second = Math.floor(epochMs / 1000);
    const last = lastLocalTime.get(timeZone);
    if (last !== undefined && last.second === second) return last.time;
    const time = Object.freeze(computeLocalTime(epochMs, timeZone));
    lastLocalTime.set(timeZone, { second, time });
    return time;
}

function computeLocalTime(epochMs: number, timeZone: string): LocalTime {
    const parts: Record<string, string> = {};
    for (const p of formatter(timeZone).formatToParts(new Date(epochMs))) parts[p.type] = p.value;
    const date = `${parts.year}-${parts.month}-${parts.day}`;
    // The weekday from the local calendar date (UTC arithmetic on a date has no DST).
    const weekday = DAYS[new Date(`${date}T00:00:00Z`).getUTCDay()]!;
    return { date, weekday, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

function previousDate(date: string): { date: string; weekday: Weekday } {
    const d = new Date(`${date}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() - 1);
    return { date: d.toISOString().slice(0, 10), weekday: DAYS[d.getUTCDay()]! };
}

function parseHours(hours: string): [number, number] {
    const m = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(hours);
    if (!m) throw new Error(`hours "${hours}" is not HH:MM-HH:MM`);
    return [Number(m[1]) * 60 + Number(m[2]), Number(m[3]) * 60 + Number(m[4])];
}

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;

/** The window verdict for one instant; exported for table tests. */
export function evaluateWindow(check: CheckOf<"window">, epochMs: number): { passed: boolean; observed: string } {
    const t = localTime(epochMs, check.timeZone);
    const where = `${t.weekday} ${t.date} ${hhmm(t.minutes)} ${check.timeZone}`;
    if ((check.freezeDates ?? []).includes(t.date)) return { passed: false, observed: `${where}: freeze date` };
    const [start, end] = parseHours(check.hours);
    let openDay: Weekday | undefined;
    if (start < end) {
        if (t.minutes >= start && t.minutes < end) openDay = t.weekday;
    } else if (start > end) {
        if (t.minutes >= start) openDay = t.weekday;
        else if (t.minutes < end) openDay = previousDate(t.date).weekday;
    }
    if (openDay === undefined) return { passed: false, observed: `${where}: outside ${check.hours}` };
    if (!check.days.includes(openDay))
        return { passed: false, observed: `${where}: ${openDay} is not one of ${check.days.join(",")}` };
    return { passed: true, observed: `${where}: inside ${check.hours} on ${check.days.join(",")}` };
}

export const windowCheck: CheckRunner<"window"> = async (check, ctx) => evaluateWindow(check, ctx.now);
