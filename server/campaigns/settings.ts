/**
 * A campaign's settings from the operator's request: defaults with units,
 * and the checks a schema cannot express (growing waves, coherent times).
 */
import { BootfleetError } from '../../protocol/index.js';
import type { CampaignSettings, CreateCampaign } from './schemas.js';

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
  const waves = request.waves ?? [...CAMPAIGN_DEFAULTS.waves];
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
    ...(request.startAt === undefined ? {} : { startAt: request.startAt }),
    ...(request.deadline === undefined ? {} : { deadline: request.deadline }),
    ...(request.maintenanceWindows === undefined ? {} : { maintenanceWindows: request.maintenanceWindows }),
    ...(request.maxConcurrentActivations === undefined ? {} : { maxConcurrentActivations: request.maxConcurrentActivations }),
  };
}
