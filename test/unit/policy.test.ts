import { describe, expect, it } from 'vitest';
import { decideActivation, isWindowOpen, localMinuteOfWeek, nextWindowOpening, randomDelayMs } from '../../agent/policy/index.js';
import type { MaintenanceWindow, UpdatePolicy } from '../../protocol/index.js';

const at = (iso: string) => Date.parse(iso);
// 2026-11-28 is a Saturday; Paris is UTC+1 in November.
const saturdayNight: MaintenanceWindow = { days: ['sat'], start: '02:00', durationMinutes: 120, timeZone: 'Europe/Paris' };
const policy = (extra: Partial<UpdatePolicy> = {}): UpdatePolicy => ({ downloadOnly: false, allowDowngrade: false, healthTimeoutSeconds: 300, ...extra });

describe('maintenance windows (Intl, IANA time zones)', () => {
  it('opens and closes on the local clock of the window', () => {
    expect(isWindowOpen(saturdayNight, at('2026-11-28T00:59:00Z'))).toBe(false);
    expect(isWindowOpen(saturdayNight, at('2026-11-28T01:00:00Z'))).toBe(true);
    expect(isWindowOpen(saturdayNight, at('2026-11-28T02:59:00Z'))).toBe(true);
    expect(isWindowOpen(saturdayNight, at('2026-11-28T03:00:00Z'))).toBe(false);
    expect(localMinuteOfWeek(at('2026-11-30T00:00:00Z'), 'UTC')).toBe(0);
  });

  it('spans midnight and the end of the week', () => {
    const sundayLate: MaintenanceWindow = { days: ['sun'], start: '23:00', durationMinutes: 120, timeZone: 'UTC' };
    expect(isWindowOpen(sundayLate, at('2026-11-29T23:30:00Z'))).toBe(true);
    expect(isWindowOpen(sundayLate, at('2026-11-30T00:30:00Z'))).toBe(true);
    expect(isWindowOpen(sundayLate, at('2026-11-30T01:00:00Z'))).toBe(false);
  });

  it('follows daylight saving time (New York, 8 March 2026)', () => {
    const early: MaintenanceWindow = { days: ['sun'], start: '01:30', durationMinutes: 60, timeZone: 'America/New_York' };
    expect(isWindowOpen(early, at('2026-03-08T06:45:00Z'))).toBe(true); // 01:45 EST
    expect(isWindowOpen(early, at('2026-03-08T07:05:00Z'))).toBe(false); // 03:05 EDT
    expect(isWindowOpen(early, at('2026-03-15T05:45:00Z'))).toBe(true); // 01:45 EDT a week later
  });

  it('finds the next opening, to the minute', () => {
    expect(nextWindowOpening([saturdayNight], at('2026-11-25T12:00:30Z'))).toBe(at('2026-11-28T01:00:00Z'));
    expect(nextWindowOpening([saturdayNight], at('2026-11-28T01:30:00Z'))).toBe(at('2026-11-28T01:30:00Z'));
    expect(nextWindowOpening([], 0)).toBeUndefined();
  });

  it('refuses an unknown time zone with BOOTFLEET_POLICY_INVALID', () => {
    expect(() => isWindowOpen({ ...saturdayNight, timeZone: 'Mars/Olympus_Mons' }, 0)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_POLICY_INVALID' }));
  });
});

describe('decideActivation', () => {
  const now = at('2026-11-25T12:00:00Z');
  it('stages only under download-only, and gives up after the maximum attempts', () => {
    expect(decideActivation({ policy: policy({ downloadOnly: true }), nowMs: now, attempts: 0 })).toEqual({ action: 'stage-only' });
    expect(decideActivation({ policy: policy(), nowMs: now, attempts: 3 })).toEqual({ action: 'give-up', attempts: 3 });
    expect(decideActivation({ policy: policy(), nowMs: now, attempts: 1, maxAttempts: 5 })).toEqual({ action: 'activate' });
  });

  it('waits out the random delay, then for the window, unless the deadline has passed', () => {
    expect(decideActivation({ policy: policy(), nowMs: now, attempts: 0, readySinceMs: now - 1000, delayMs: 5000 })).toEqual({ action: 'wait', untilMs: now + 4000, reason: 'random-delay' });
    const windowed = policy({ maintenanceWindows: [saturdayNight] });
    expect(decideActivation({ policy: windowed, nowMs: now, attempts: 0 })).toEqual({ action: 'wait', untilMs: at('2026-11-28T01:00:00Z'), reason: 'maintenance-window' });
    const deadline = at('2026-11-26T00:00:00Z') / 1000;
    expect(decideActivation({ policy: { ...windowed, deadline }, nowMs: now, attempts: 0 })).toEqual({ action: 'wait', untilMs: deadline * 1000, reason: 'maintenance-window' });
    expect(decideActivation({ policy: { ...windowed, deadline }, nowMs: deadline * 1000, attempts: 0 })).toEqual({ action: 'activate' });
    expect(decideActivation({ policy: windowed, nowMs: at('2026-11-28T01:30:00Z'), attempts: 0 })).toEqual({ action: 'activate' });
  });

  it('draws random delays uniformly within bounds', () => {
    expect(randomDelayMs(7_200_000, 0)).toBe(0);
    expect(randomDelayMs(7_200_000, 0.999999999)).toBeLessThanOrEqual(7_200_000);
    expect(randomDelayMs(1000, 0.5)).toBe(500);
  });
});
