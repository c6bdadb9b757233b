/**
 * Waves and thresholds, as pure functions of the campaign's settings and its
 * devices' states (docs/campaigns.md, "Waves"). Counts are always recomputed
 * from per-device states, never incremented: a report seen twice cannot
 * count twice, and a restart recomputes the same numbers.
 */
import type { DeviceCampaignState, DeviceProgress } from './schemas.js';

/** Number of devices covered by waves 0..`wave` (cumulative percentages, the last one 100). */
export function waveEnd(deviceCount: number, waves: readonly number[], wave: number): number {
  if (wave >= waves.length - 1) return deviceCount;
  const percent = waves[wave] ?? 100;
  // At least one device per wave, so a 1 % canary of a small fleet is still one device.
  return Math.min(deviceCount, Math.max(1, Math.ceil((deviceCount * percent) / 100)));
}

/** The wave each device (in rollout order) belongs to. */
export function assignWaves(deviceCount: number, waves: readonly number[]): number[] {
  const result: number[] = [];
  let wave = 0;
  for (let index = 0; index < deviceCount; index += 1) {
    while (index >= waveEnd(deviceCount, waves, wave)) wave += 1;
    result.push(wave);
  }
  return result;
}

export type StateCounts = Record<DeviceCampaignState, number>;

export function emptyCounts(): StateCounts {
  return { pending: 0, issued: 0, 'in-progress': 0, succeeded: 0, failed: 0, reverted: 0 };
}

/** Run at every step over up to 10,000 devices: local counters, not a record indexed by each state name. */
export function countStates(devices: Iterable<DeviceProgress>, upToWave = Number.MAX_SAFE_INTEGER): StateCounts {
  let pending = 0;
  let issued = 0;
  let inProgress = 0;
  let succeeded = 0;
  let failed = 0;
  let reverted = 0;
  for (const device of devices) {
    if (device.wave > upToWave) continue;
    switch (device.state) {
      case 'pending':
        pending += 1;
        break;
      case 'issued':
        issued += 1;
        break;
      case 'in-progress':
        inProgress += 1;
        break;
      case 'succeeded':
        succeeded += 1;
        break;
      case 'failed':
        failed += 1;
        break;
      case 'reverted':
        reverted += 1;
        break;
    }
  }
  return { pending, issued, 'in-progress': inProgress, succeeded, failed, reverted };
}

/** Failures that count against the threshold: failed and reverted devices (a revert follows a failure). */
export function failuresOf(counts: StateCounts): number {
  return counts.failed + counts.reverted;
}

export interface WaveVerdict {
  /** The failure threshold tripped: pause, and revert when configured. */
  readonly trip: boolean;
  /** Enough of the waves so far succeeded: the next wave may start. */
  readonly advance: boolean;
  /** Every device of every wave has finished. */
  readonly done: boolean;
  readonly counts: StateCounts;
  readonly total: number;
}

export interface WaveInput {
  readonly deviceCount: number;
  readonly waves: readonly number[];
  readonly currentWave: number;
  readonly successThreshold: number;
  readonly failureThreshold: number;
  readonly failuresAcknowledged: number;
}

/** Judges the waves rolled out so far (cumulative: a wave's devices still count in later waves). */
export function judgeWaves(input: WaveInput, devices: Iterable<DeviceProgress>): WaveVerdict {
  const counts = countStates(devices, input.currentWave);
  const total = waveEnd(input.deviceCount, input.waves, input.currentWave);
  const newFailures = failuresOf(counts) - input.failuresAcknowledged;
  // A threshold of 0 means "any failure"; a failure is needed to trip at all.
  const trip = newFailures > 0 && newFailures >= input.failureThreshold * total;
  const lastWave = input.currentWave >= input.waves.length - 1;
  const advance = !lastWave && counts.succeeded >= input.successThreshold * total;
  const finished = counts.succeeded + counts.failed + counts.reverted;
  return { trip, advance, done: lastWave && finished === total, counts, total };
}
