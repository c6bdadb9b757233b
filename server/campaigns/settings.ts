/**
 * A campaign's settings from the operator's request: defaults with units,
 * and the checks a schema cannot express (growing waves, coherent times).
 */
import { BootfleetError } from '../../protocol/index.js';
import { isDeepStrictEqual } from 'node:util';
import type { Campaign, CampaignSettings, CreateCampaign } from './schemas.js';

/** Waves a campaign may have (the schema's bound for `waves`). */
export const MAX_WAVES = 32;

export const CAMPAIGN_DEFAULTS = {
  waves: [1, 10, 50, 100],
  successThreshold: 0.9,
  failureThreshold: 0.1,
  /** Probation after activation, seconds. */
  healthTimeoutSeconds: 600,
  /** Silence after which a device counts as failed, seconds (6 h). */
  deviceTimeoutSeconds: 6 * 3600,
  /** Lifetime of a signed desired state, seconds (24 h); re-issued at half-life. */
  desiredStateTtlSeconds: 24 * 3600,
} as const;

export function settingsOf(request: CreateCampaign): CampaignSettings {
  if (request.waves !== undefined && request.waveGrowth !== undefined) throw new BootfleetError('BOOTFLEET_CAMPAIGN_INVALID', 'give waves or waveGrowth, not both');
  const waves = request.waveGrowth === undefined ? (request.waves ?? [...CAMPAIGN_DEFAULTS.waves]) : exponentialWaves(request.waveGrowth.first, request.waveGrowth.factor);
  for (let i = 1; i < waves.length; i += 1) {
    if ((waves[i] ?? 0) <= (waves[i - 1] ?? 0)) throw new BootfleetError('BOOTFLEET_CAMPAIGN_INVALID', `waves must grow strictly: ${JSON.stringify(waves)}`);
  }
  if (waves.at(-1) !== 100) throw new BootfleetError('BOOTFLEET_CAMPAIGN_INVALID', `the last wave must be 100 (percent), got ${JSON.stringify(waves)}`);
  if (request.startAt !== undefined && request.deadline !== undefined && request.deadline <= request.startAt) {
    throw new BootfleetError('BOOTFLEET_CAMPAIGN_INVALID', 'the deadline is not after the start time');
  }
  return {
    waves,
    successThreshold: request.successThreshold ?? CAMPAIGN_DEFAULTS.successThreshold,
    failureThreshold: request.failureThreshold ?? CAMPAIGN_DEFAULTS.failureThreshold,
    revertOnFailure: request.revertOnFailure ?? false,
    downloadOnly: request.downloadOnly ?? false,
    allowDowngrade: request.allowDowngrade ?? false,
    healthTimeoutSeconds: request.healthTimeoutSeconds ?? CAMPAIGN_DEFAULTS.healthTimeoutSeconds,
    deviceTimeoutSeconds: request.deviceTimeoutSeconds ?? CAMPAIGN_DEFAULTS.deviceTimeoutSeconds,
    desiredStateTtlSeconds: request.desiredStateTtlSeconds ?? CAMPAIGN_DEFAULTS.desiredStateTtlSeconds,
    ...(request.soakSeconds === undefined || request.soakSeconds === 0 ? {} : { soakSeconds: request.soakSeconds }),
    ...(request.startAt === undefined ? {} : { startAt: request.startAt }),
    ...(request.deadline === undefined ? {} : { deadline: request.deadline }),
    ...(request.maintenanceWindows === undefined ? {} : { maintenanceWindows: request.maintenanceWindows }),
    ...(request.maxConcurrentActivations === undefined ? {} : { maxConcurrentActivations: request.maxConcurrentActivations }),
  };
}

/** `first`, `first * factor`, ... below 100, then 100 (AWS IoT Jobs' exponential rollout rate, as percentages). */
export function exponentialWaves(first: number, factor: number): number[] {
  const waves: number[] = [];
  // factor >= 1.1 and first > 0 bound this loop; the cap keeps a tiny `first` from making hundreds of waves.
  for (let percent = first; percent < 100 && waves.length < MAX_WAVES - 1; percent *= factor) {
    const rounded = Math.round(percent * 1000) / 1000;
    if (rounded < 100) waves.push(rounded);
  }
  waves.push(100);
  return waves;
}

/** Whether `request` defines the campaign `existing` already is (apply is idempotent; a campaign never changes). */
export function sameDefinition(existing: Campaign, request: CreateCampaign): boolean {
  return (
    existing.image === request.image &&
    (request.version === undefined || request.version === existing.target.version) &&
    isDeepStrictEqual(existing.selector, request.selector) &&
    isDeepStrictEqual(existing.settings, settingsOf(request))
  );
}
