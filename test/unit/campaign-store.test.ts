/**
 * The campaign store's device records (server/campaigns/store.ts): a start
 * writes the devices as one frozen list, each device's own record
 * supersedes its entry once written, and a campaign started by an earlier
 * version (a record per device, no frozen list) reads the same. Real level
 * database on disk.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Campaign, DeviceProgress } from '../../server/campaigns/index.js';
import { CampaignStore } from '../../server/campaigns/store.js';
import { SAMPLE_NOW, sampleCampaign } from '../helpers/campaigns.js';
import { useLevelDb } from '../helpers/level-db.js';

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
  const db = useLevelDb('bootfleet-campaign-store-unit-');
  let store: CampaignStore;
  beforeEach(() => {
    store = new CampaignStore(db());
  });

  it('reads a start as its frozen list in rollout order, each device superseded by its own record once written', async () => {
    // Rollout order is not id order: the frozen list keeps it.
    await store.putStarted(campaign, [pending('z9', 0), pending('a1', 0), pending('m5', 1)]);
    expect(await store.get(campaign.id)).toEqual(campaign);
    expect(await store.devices(campaign.id)).toEqual([pending('z9', 0), pending('a1', 0), pending('m5', 1)]);
    await store.putDevices(campaign.id, [issued('a1', 0)]);
    expect(await store.devices(campaign.id)).toEqual([pending('z9', 0), issued('a1', 0), pending('m5', 1)]);
    expect(await new CampaignStore(db()).devices('other')).toEqual([]);
  });

  it('writes first issues compact after a frozen start, superseded by a later record of the device, and read back as written', async () => {
    const order = ['z9', 'a1', 'm5', 'b2'];
    await store.putStarted(campaign, order.map((id) => pending(id, 0)));
    // A first issue with a field beyond the compact form's is written whole.
    const odd: DeviceProgress = { ...issued('b2', 0), reason: 'kept whole' };
    await store.put({ ...campaign, currentWave: 0 }, [], [issued('z9', 0), issued('a1', 0), odd]);
    const later: DeviceProgress = { ...issued('a1', 0), state: 'in-progress', phase: 'downloading', lastReportSeq: 3 };
    await store.putDevices(campaign.id, [later]);
    const expected = [issued('z9', 0), later, pending('m5', 0), odd];
    expect(await store.devices(campaign.id)).toEqual(expected);
    expect(await new CampaignStore(db()).load(campaign.id)).toEqual({ devices: expected, frozen: true });
    const keys = await db().sublevel('campaigns').keys().all();
    expect(keys.filter((k) => k.startsWith('d!'))).toEqual([`d!${campaign.id}!a1`, `d!${campaign.id}!b2`]);
    expect(keys.filter((k) => k.startsWith('i!'))).toHaveLength(1);
  });

  it('reads a campaign started by an earlier version, a record per device and no frozen list, and writes its first issues as records', async () => {
    await store.put(campaign, [pending('a1', 0), issued('m5', 1), pending('z9', 1)]);
    const reader = new CampaignStore(db());
    expect(await reader.load(campaign.id)).toEqual({ devices: [pending('a1', 0), issued('m5', 1), pending('z9', 1)], frozen: false });
    await reader.putDevices(campaign.id, [], [issued('a1', 0)]);
    expect(await reader.devices(campaign.id)).toEqual([issued('a1', 0), issued('m5', 1), pending('z9', 1)]);
    expect((await db().sublevel('campaigns').keys().all()).filter((k) => k.startsWith('i!'))).toEqual([]);
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
    expect(await new CampaignStore(db()).currentSeqs(['a1', 'm5', 'z9'], 'desired')).toEqual([2, 1, 0]);
  });

  it("deletes the desired states an earlier version signed ahead for a campaign when it ends, and only that campaign's", async () => {
    const bytes = db().sublevel<string, Buffer>('campaigns', { valueEncoding: 'buffer' });
    await bytes.batch([
      { type: 'put', key: `p!${campaign.id}!a1`, value: Buffer.from('{"seq":1}\n{}') },
      { type: 'put', key: 'p!other!a1', value: Buffer.from('{"seq":2}\n{}') },
    ]);
    await store.dropLegacyPrepared(campaign.id);
    expect((await bytes.keys().all()).filter((k) => k.startsWith('p!'))).toEqual(['p!other!a1']);
  });
});
