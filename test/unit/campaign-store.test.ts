/**
 * The campaign store's device records (server/campaigns/store.ts): a start
 * writes the devices as one frozen list, each device's own record
 * supersedes its entry once written, and a campaign started by an earlier
 * version (a record per device, no frozen list) reads the same. Real level
 * database on disk.
 */
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Campaign, DeviceProgress } from '../../server/campaigns/index.js';
import { CampaignStore } from '../../server/campaigns/store.js';
import { SAMPLE_NOW, sampleCampaign } from '../helpers/campaigns.js';
import { useTempDir } from '../helpers/temp-dir.js';

const campaign: Campaign = { ...sampleCampaign(), state: 'running', startedAt: SAMPLE_NOW, deviceCount: 3 };
const pending = (device: string, wave: number): DeviceProgress => ({ device, wave, state: 'pending', missingBytes: 10, missingLayers: 1 });
const issued = (device: string, wave: number): DeviceProgress => ({
  ...pending(device, wave),
  state: 'issued',
  desiredSeq: 4,
  issuedAt: SAMPLE_NOW,
  expiresAt: SAMPLE_NOW + 100,
  lastActivityAt: SAMPLE_NOW,
});

describe('CampaignStore device records', () => {
  const dir = useTempDir('bootfleet-campaign-store-unit-');
  let db: Level;
  let store: CampaignStore;
  beforeEach(async () => {
    db = new Level(join(dir(), 'state'));
    await db.open();
    store = new CampaignStore(db);
  });
  afterEach(async () => {
    await db.close();
  });

  it('reads a start as its frozen list in rollout order, each device superseded by its own record once written', async () => {
    // Rollout order is not id order: the frozen list keeps it.
    await store.putStarted(campaign, [pending('z9', 0), pending('a1', 0), pending('m5', 1)]);
    expect(await store.get(campaign.id)).toEqual(campaign);
    expect(await store.devices(campaign.id)).toEqual([pending('z9', 0), pending('a1', 0), pending('m5', 1)]);
    await store.putDevices(campaign.id, [issued('a1', 0)]);
    expect(await store.devices(campaign.id)).toEqual([pending('z9', 0), issued('a1', 0), pending('m5', 1)]);
    expect(await new CampaignStore(db).devices('other')).toEqual([]);
  });

  it('reads a campaign started by an earlier version, a record per device and no frozen list', async () => {
    await store.put(campaign, [pending('a1', 0), issued('m5', 1)]);
    expect(await store.devices(campaign.id)).toEqual([pending('a1', 0), issued('m5', 1)]);
  });

  it('refuses to freeze a device that is not pending, writing nothing', async () => {
    await expect(store.putStarted(campaign, [issued('a1', 0)])).rejects.toMatchObject({ code: 'BOOTFLEET_INTERNAL' });
    expect(await store.get(campaign.id)).toBeUndefined();
  });

  it('answers the current sequences it allocated or read as a fresh store reads them from disk', async () => {
    expect(await store.currentSeqs(['a1', 'm5'], 'desired')).toEqual([0, 0]);
    await store.nextSeqs(['a1', 'm5'], 'desired');
    await store.nextSeq('a1', 'desired');
    await store.nextSeq('a1', 'command');
    expect(await store.currentSeqs(['a1', 'm5', 'z9'], 'desired')).toEqual([2, 1, 0]);
    expect(await store.currentSeqs(['a1', 'm5', 'z9'], 'command')).toEqual([1, 0, 0]);
    expect(await new CampaignStore(db).currentSeqs(['a1', 'm5', 'z9'], 'desired')).toEqual([2, 1, 0]);
  });
});
