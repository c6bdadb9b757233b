/**
 * A campaign's status as the API serves it: counts per device state, per
 * reported phase and per wave, the transfer cost still to come, and each
 * device's progress.
 */
import { Type, type Static } from 'typebox';
import { CampaignSchema, DeviceProgressSchema, type Campaign, type DeviceProgress } from './schemas.js';
import { countStates, waveEnd, type StateCounts } from './waves.js';

const CountsSchema = Type.Object({
  pending: Type.Integer(),
  issued: Type.Integer(),
  'in-progress': Type.Integer(),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  reverted: Type.Integer(),
});

export const CampaignStatusSchema = Type.Object({
  campaign: CampaignSchema,
  counts: CountsSchema,
  /** Devices per last reported phase (devices that never reported are not counted). */
  phases: Type.Record(Type.String(), Type.Integer()),
  waves: Type.Array(
    Type.Object({ index: Type.Integer(), percent: Type.Number(), devices: Type.Integer(), cumulative: Type.Integer(), counts: CountsSchema }),
  ),
  /** Sum of the bytes the campaign's devices lack, from their inventories when last issued or planned. */
  missingBytes: Type.Integer(),
  devices: Type.Array(DeviceProgressSchema),
});
export type CampaignStatus = Static<typeof CampaignStatusSchema>;

export function campaignStatus(campaign: Campaign, devices: readonly DeviceProgress[]): CampaignStatus {
  const phases: Record<string, number> = {};
  for (const device of devices) if (device.phase !== undefined) phases[device.phase] = (phases[device.phase] ?? 0) + 1;
  const waves = campaign.settings.waves.map((percent, index) => {
    const counts: StateCounts = countStates(devices.filter((d) => d.wave === index));
    const cumulative = waveEnd(campaign.deviceCount, campaign.settings.waves, index);
    return { index, percent, devices: Object.values(counts).reduce((a, b) => a + b, 0), cumulative, counts };
  });
  const sorted = [...devices].sort((a, b) => a.wave - b.wave || (a.device < b.device ? -1 : 1));
  return {
    campaign,
    counts: countStates(devices),
    phases,
    waves,
    missingBytes: devices.reduce((sum, d) => sum + d.missingBytes, 0),
    devices: sorted,
  };
}
