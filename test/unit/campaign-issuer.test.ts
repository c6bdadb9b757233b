/**
 * Desired states signed ahead (issuer.ts): created with the campaign,
 * published as they are at start only while still exactly what would be
 * signed then; otherwise signed again with a new sequence. Real level
 * database on disk, a publish recorder instead of a broker.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { generateSigningKey, TrustedKeys, verifySignedMessage, type DesiredState, type SigningKey } from '../../protocol/index.js';
import type { Campaign } from '../../server/campaigns/index.js';
import { Issuer } from '../../server/campaigns/issuer.js';
import { CampaignStore } from '../../server/campaigns/store.js';
import { DesiredStates } from '../../server/campaigns/desired-states.js';
import type { OutgoingMessage } from '../../server/broker/control-plane.js';
import { SAMPLE_NOW, sampleCampaign } from '../helpers/campaigns.js';
import { SAMPLE_DIGESTS } from '../helpers/messages.js';
import { recorder } from '../helpers/publish-recorder.js';
import { useLevelDb } from '../helpers/level-db.js';

const NOW = SAMPLE_NOW;
const campaign: Campaign = sampleCampaign();
const TTL = campaign.settings.desiredStateTtlSeconds;

describe('Issuer signing ahead', () => {
  const db = useLevelDb('bootfleet-issuer-unit-');
  let key: SigningKey;
  let store: CampaignStore;
  let desired: DesiredStates;
  let issuer: Issuer;
  const published = new Map<string, string>();
  /** The name each device's last desired state was published with as stored (signed ahead), or undefined. */
  const storedAs = new Map<string, string | undefined>();
  const plane = (): ReturnType<typeof recorder> => {
    const recording = recorder((topic, payload) => {
      published.set(topic.split('/')[3] ?? '', payload.toString());
    });
    return {
      ...recording,
      publishMany: async (messages: readonly OutgoingMessage[]) => {
        for (const m of messages) storedAs.set(m.topic.split('/')[3] ?? '', m.stored);
        await recording.publishMany(messages);
      },
    };
  };
  beforeEach(() => {
    key = generateSigningKey('ecdsa-p256');
    store = new CampaignStore(db());
    desired = new DesiredStates(db());
    published.clear();
    storedAs.clear();
    issuer = new Issuer({ key, store, desired, plane: plane() });
  });
  const opened = (device: string, now: number): DesiredState =>
    verifySignedMessage('desired-state', published.get(device) ?? '', { keys: new TrustedKeys([key]), device, now }).message;

  it('publishes what was signed ahead while still current, and signs anew a device whose inventory or sequence moved on', async () => {
    const none: readonly string[] = [];
    await issuer.prepare(campaign, ['d1', 'd2', 'd3'].map((device) => ({ device, inventory: none })), NOW);
    await store.nextSeq('d3', 'desired');
    const issued = await issuer.desiredStates(
      campaign,
      [
        { device: 'd1', inventory: none },
        { device: 'd2', inventory: [SAMPLE_DIGESTS.layer1] },
        { device: 'd3', inventory: none },
      ],
      NOW + 10,
    );
    expect(issued.map((i) => [i.seq, i.issuedAt])).toEqual([
      [1, NOW],
      [2, NOW + 10],
      [3, NOW + 10],
    ]);
    expect(opened('d1', NOW + 10)).toMatchObject({ seq: 1, issuedAt: NOW, layers: [{ missing: true }] });
    expect(opened('d2', NOW + 10)).toMatchObject({ seq: 2, layers: [{ missing: false }] });
    // A used record is kept until the campaign ends: issued again (a restart after a crash before the device
    // record was written), it is the very message the device was sent, same seq; at half-life it is signed anew.
    await store.putDevices(campaign.id, []);
    const again = await issuer.desiredStates(campaign, [{ device: 'd1', inventory: none }], NOW + 20);
    expect(again[0]).toMatchObject({ seq: 1, issuedAt: NOW });
    expect(opened('d1', NOW + 20).seq).toBe(1);
    // Signed ahead and still current: published by its stored name (the embedded broker points at it); signed now: bytes only.
    expect(storedAs.get('d1')).toBe(`1!${campaign.id}`);
    expect(storedAs.get('d2')).toBeUndefined();
    const reissued = await issuer.desiredStates(campaign, [{ device: 'd1', inventory: none }], NOW + TTL / 2);
    expect(reissued[0]?.seq).toBe(2);
    expect(storedAs.get('d1')).toBeUndefined();
  });

  it('publishes a desired state signed ahead by its stored name, from memory or, after a restart, from disk, as it was signed', async () => {
    await issuer.prepare(campaign, [{ device: 'd1', inventory: [] }, { device: 'd2', inventory: [] }], NOW);
    const [first] = await issuer.desiredStates(campaign, [{ device: 'd1', inventory: [] }], NOW + 10);
    expect(first).toMatchObject({ seq: 1, issuedAt: NOW });
    expect(storedAs.get('d1')).toBe(`1!${campaign.id}`);
    // A restart: fresh stores on the same database, nothing in memory.
    const restarted = new Issuer({ key, store: new CampaignStore(db()), desired: new DesiredStates(db()), plane: plane() });
    const signedBefore = published.get('d1');
    const [again] = await restarted.desiredStates(campaign, [{ device: 'd2', inventory: [] }], NOW + 20);
    expect(again).toMatchObject({ seq: 1, issuedAt: NOW });
    expect(storedAs.get('d2')).toBe(`1!${campaign.id}`);
    expect(opened('d2', NOW + 20)).toMatchObject({ device: 'd2', seq: 1, issuedAt: NOW, campaign: campaign.id });
    expect(published.get('d1')).toBe(signedBefore);
  });

  it('keeps the bundles of one signing in one allocation of exactly their size, none in a shared pool slab', async () => {
    const devices = Array.from({ length: 40 }, (_, i) => `d${String(i)}`);
    const none: readonly string[] = [];
    await issuer.prepare(campaign, devices.map((device) => ({ device, inventory: none })), NOW);
    const states = await desired.signedAhead(campaign.id, devices, devices.map(() => 1));
    const bundles = states.map((state) => state?.bundle ?? Buffer.alloc(0));
    const slab = bundles[0]?.buffer;
    expect(bundles.every((bundle) => bundle.length > 0 && bundle.buffer === slab)).toBe(true);
    // Node's pool slab is 8 KiB and shared with other buffers; these 40 bundles take more, and nothing else.
    expect(slab?.byteLength).toBe(bundles.reduce((sum, bundle) => sum + bundle.length, 0));
    expect(slab?.byteLength).toBeGreaterThan(8 * 1024);
    expect(new Set(bundles.map((bundle) => bundle.byteOffset)).size).toBe(devices.length);
    // Each is still its own signed message, for its own device.
    for (const [i, bundle] of bundles.entries()) {
      const device = devices[i] ?? '';
      expect(verifySignedMessage('desired-state', bundle.toString('utf8'), { keys: new TrustedKeys([key]), device, now: NOW }).message.device).toBe(device);
    }
  });

  it('signs anew when what was signed ahead has half its lifetime or less left', async () => {
    await issuer.prepare(campaign, [{ device: 'd1', inventory: [] }], NOW);
    const [issued] = await issuer.desiredStates(campaign, [{ device: 'd1', inventory: [] }], NOW + TTL / 2);
    expect(issued).toMatchObject({ seq: 2, issuedAt: NOW + TTL / 2, expiresAt: NOW + TTL / 2 + TTL });
    expect(opened('d1', NOW + TTL / 2).seq).toBe(2);
  });

  it("carries the campaign's soak window in each device's signed policy, and none when the campaign has none", async () => {
    const soaking: Campaign = { ...campaign, id: 'c2', settings: { ...campaign.settings, soakSeconds: 300 } };
    await issuer.desiredStates(soaking, [{ device: 'd1', inventory: [] }], NOW);
    expect(opened('d1', NOW).policy).toMatchObject({ soakSeconds: 300, healthTimeoutSeconds: 60 });
    await issuer.desiredStates(campaign, [{ device: 'd2', inventory: [] }], NOW);
    expect(opened('d2', NOW).policy).not.toHaveProperty('soakSeconds');
  });
});
