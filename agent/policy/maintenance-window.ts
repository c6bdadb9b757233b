/**
 * Maintenance windows (protocol MaintenanceWindowSchema: days, local start
 * `HH:MM`, duration, IANA time zone), evaluated with Intl so that no time-zone
 * database ships with the agent. A window is measured in local wall-clock
 * time: "sat 02:00 for 120 minutes" is 02:00 to 04:00 on the clock of that
 * zone, also on a day the clocks change. Windows may span midnight and the
 * end of the week. Pure functions of the time given.
 */
import { BootfleetError, WEEKDAYS, type MaintenanceWindow } from '../../protocol/index.js';

const MINUTES_PER_WEEK = 7 * 24 * 60;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_POLICY_INVALID', `unknown time zone ${JSON.stringify(timeZone)}`, { cause: error, details: { timeZone } });
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Minutes since Monday 00:00 on the local clock of `timeZone` at `nowMs`. */
export function localMinuteOfWeek(nowMs: number, timeZone: string): number {
  const parts = formatter(timeZone).formatToParts(new Date(nowMs));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = WEEKDAYS.indexOf(get('weekday').toLowerCase() as (typeof WEEKDAYS)[number]);
  return day * 1440 + Number(get('hour')) * 60 + Number(get('minute'));
}

function startMinutes(window: MaintenanceWindow): number[] {
  const [hh = 0, mm = 0] = window.start.split(':').map(Number);
  return window.days.map((d) => WEEKDAYS.indexOf(d) * 1440 + hh * 60 + mm);
}

export function isWindowOpen(window: MaintenanceWindow, nowMs: number): boolean {
  const now = localMinuteOfWeek(nowMs, window.timeZone);
  return startMinutes(window).some((start) => (((now - start) % MINUTES_PER_WEEK) + MINUTES_PER_WEEK) % MINUTES_PER_WEEK < window.durationMinutes);
}

export function isAnyWindowOpen(windows: readonly MaintenanceWindow[], nowMs: number): boolean {
  return windows.some((w) => isWindowOpen(w, nowMs));
}

/**
 * When the next window opens (`nowMs` itself when one is open), to the minute.
 * Walks forward in steps that cannot skip a window opening: at most a week
 * plus the hour a clock change can add, so the loop is bounded.
 */
export function nextWindowOpening(windows: readonly MaintenanceWindow[], nowMs: number): number | undefined {
  if (windows.length === 0) return undefined;
  if (isAnyWindowOpen(windows, nowMs)) return nowMs;
  const minute = 60_000;
  let t = Math.floor(nowMs / minute) * minute + minute;
  for (let i = 0; i <= MINUTES_PER_WEEK + 120; i += 1) {
    if (isAnyWindowOpen(windows, t)) return t;
    t += minute;
  }
  return undefined;
}
