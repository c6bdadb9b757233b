/**
 * The campaign engine with a level database on disk, an in-memory publish
 * recorder instead of a broker, and an injected clock.
 */
import { join } from 'node:path';
import { Level } from 'level';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deviceTopic, generateSigningKey, parseDeviceId, TrustedKeys, verifySignedMessage, type SigningKey } from '../../protocol/index.js';
import { CampaignManager, type Campaign, type DeviceProgress } from '../../server/campaigns/index.js';
import { applyReport } from '../../server/campaigns/progress.js';
import { CampaignStore } from '../../server/campaigns/store.js';
import { DeviceRegistry } from '../../server/devices/registry.js';
import { openRegistry } from '../../server/registry/index.js';
import { SAMPLE_NOW, sampleCampaign } from '../helpers/campaigns.js';
import { SAMPLE_DIGESTS } from '../helpers/messages.js';
import { recorder } from '../helpers/publish-recorder.js';
import { useTempDir } from '../helpers/temp-dir.js';

const NOW = SAMPLE_NOW;
const TARGET = SAMPLE_DIGESTS.manifest;

function campaignRecord(overrides: Partial<Campaign> = {}): Campaign {
  const draft = sampleCampaign();
  return sampleCampaign({
    state: 'running',
    createdAt: NOW - 100,
    selector: { ids: ['d1', 'd2'] },
    settings: { ...draft.settings, waves: [50, 100] },
    deviceCount: 2,
    startedAt: NOW - 50,
    ...overrides,
  });
}

describe('campaign progress from reports', () => {
  const issued: DeviceProgress = { device: 'd1', wave: 0, state: 'issued', desiredSeq: 3, lastReportSeq: 4, missingBytes: 0, missingLayers: 0 };
  it('counts success only from the target image, ignores reports not above the last one, and keeps a result across idle', () => {
    expect(applyReport(issued, { seq: 4, phase: 'succeeded', bootedDigest: TARGET }, TARGET, NOW)).toBeUndefined();
    expect(applyReport(issued, { seq: 5, phase: 'succeeded', bootedDigest: SAMPLE_DIGESTS.layer2 }, TARGET, NOW)).toMatchObject({ state: 'in-progress' });
    const done = applyReport(issued, { seq: 5, phase: 'succeeded', bootedDigest: TARGET }, TARGET, NOW);
    expect(done).toMatchObject({ state: 'succeeded', lastReportSeq: 5 });
    expect(done === undefined ? undefined : applyReport(done, { seq: 6, phase: 'idle' }, TARGET, NOW)).toMatchObject({ state: 'succeeded', phase: 'idle' });
    expect(applyReport(issued, { seq: 5, phase: 'rolled-back' }, TARGET, NOW)).toMatchObject({ state: 'failed', reason: 'rolled-back' });
    expect(applyReport({ ...issued, state: 'pending' }, { seq: 9, phase: 'downloading' }, TARGET, NOW)).toBeUndefined();
  });
});

describe('CampaignManager', () => {
  const dir = useTempDir('bootfleet-campaign-unit-');
  let db: Level;
  let key: SigningKey;
  const published: { topic: string; payload: string; retain: boolean }[] = [];
  beforeEach(async () => {
    db = new Level<string, string>(join(dir(), 'state'), { valueEncoding: 'utf8' });
    await db.open();
    key = generateSigningKey('ecdsa-p256');
    published.length = 0;
  });
  afterEach(async () => {
    await db.close();
  });

  const recordPublished = recorder((topic, payload, options) => {
    published.push({ topic, payload: payload.toString(), retain: options.retain });
  });
  const manager = async (now: () => number, plane = recordPublished): Promise<CampaignManager> =>
    new CampaignManager({
      db,
      registry: await openRegistry({ dataDir: dir() }, db),
      devices: new DeviceRegistry(db, now),
      plane,
      key,
      logger: pino({ level: 'silent' }),
      now,
      tickMs: 60_000,
    });

  it('applies at start a report the registry stored while the campaign did not, then advances and issues the next wave', async () => {
    const devices = new DeviceRegistry(db);
    for (const id of ['d1', 'd2']) await devices.enroll(parseDeviceId(id), 'test');
    await devices.applyReport({ device: 'd2', seq: 1, sentAt: NOW, phase: 'idle', slots: {}, inventory: [SAMPLE_DIGESTS.layer1] });
    await devices.applyReport({ device: 'd1', seq: 7, sentAt: NOW, phase: 'succeeded', campaign: 'c1', slots: { booted: { digest: TARGET } } });
    await new CampaignStore(db).put(campaignRecord(), [
      { device: 'd1', wave: 0, state: 'issued', desiredSeq: 1, issuedAt: NOW - 40, expiresAt: NOW + 3000, lastActivityAt: NOW - 40, missingBytes: 1000, missingLayers: 1 },
      { device: 'd2', wave: 1, state: 'pending', missingBytes: 0, missingLayers: 0 },
    ]);
    const engine = await manager(() => NOW * 1000);
    await engine.open();
    const status = await engine.status('c1');
    await engine.close();
    expect(status.campaign.currentWave).toBe(1);
    expect(status.devices.map((d) => [d.device, d.state])).toEqual([
      ['d1', 'succeeded'],
      ['d2', 'issued'],
    ]);
    expect(published.map((p) => [p.topic, p.retain])).toEqual([[deviceTopic('d2', 'desired'), true]]);
    const verified = verifySignedMessage('desired-state', published[0]?.payload ?? '', { keys: new TrustedKeys([key]), device: 'd2', now: NOW });
    expect(verified.message).toMatchObject({ seq: 1, campaign: 'c1', layers: [{ digest: SAMPLE_DIGESTS.layer1, missing: false }], expiresAt: NOW + 3600 });
  });

  it('counts a silent device as failed after its timeout and pauses with the reason; nothing happens before startAt', async () => {
    let now = NOW;
    await new CampaignStore(db).put(campaignRecord({ currentWave: 1, settings: { ...campaignRecord().settings, deviceTimeoutSeconds: 30, startAt: NOW + 100 } }), [
      { device: 'd1', wave: 0, state: 'issued', desiredSeq: 1, issuedAt: NOW - 40, expiresAt: NOW + 3000, lastActivityAt: NOW - 40, missingBytes: 0, missingLayers: 0 },
      { device: 'd2', wave: 1, state: 'issued', desiredSeq: 1, issuedAt: NOW - 40, expiresAt: NOW + 3000, lastActivityAt: NOW, missingBytes: 0, missingLayers: 0 },
    ]);
    const engine = await manager(() => now * 1000);
    await engine.open();
    expect((await engine.status('c1')).counts.failed).toBe(0);
    now = NOW + 101;
    await engine.pause('c1', 'token:operator');
    await engine.resume('c1');
    const status = await engine.status('c1');
    await engine.close();
    expect(status.devices.map((d) => [d.device, d.state, d.reason])).toEqual([
      ['d1', 'failed', 'timeout'],
      ['d2', 'failed', 'timeout'],
    ]);
    expect(status.campaign).toMatchObject({ state: 'paused', pauseReason: { kind: 'failure-threshold', failed: 2, total: 2 } });
  });

  it('does not fail a device for silence that spans a server outage: one more timeout from the restart', async () => {
    let now = NOW;
    await new CampaignStore(db).put(campaignRecord({ settings: { ...campaignRecord().settings, deviceTimeoutSeconds: 30 } }), [
      { device: 'd1', wave: 0, state: 'issued', desiredSeq: 1, issuedAt: NOW - 1000, expiresAt: NOW + 3000, lastActivityAt: NOW - 1000, missingBytes: 0, missingLayers: 0 },
      { device: 'd2', wave: 1, state: 'pending', missingBytes: 0, missingLayers: 0 },
    ]);
    const engine = await manager(() => now * 1000);
    await engine.open();
    expect((await engine.status('c1')).devices[0]).toMatchObject({ device: 'd1', state: 'issued', lastActivityAt: NOW });
    now = NOW + 31;
    await engine.pause('c1', 'token:operator');
    await engine.resume('c1');
    expect((await engine.status('c1')).devices[0]).toMatchObject({ device: 'd1', state: 'failed', reason: 'timeout' });
    await engine.close();
  });

  it('keeps at most maxConcurrentActivations devices in flight, in rollout order, and issues the next one as one finishes', async () => {
    const ids = ['d1', 'd2', 'd3', 'd4', 'd5'];
    await new CampaignStore(db).putStarted(
      campaignRecord({ selector: { ids }, deviceCount: 5, settings: { ...campaignRecord().settings, waves: [100], maxConcurrentActivations: 2 } }),
      ['d4', 'd2', 'd5', 'd1', 'd3'].map((device) => ({ device, wave: 0, state: 'pending' as const, missingBytes: 0, missingLayers: 0 })),
    );
    const engine = await manager(() => NOW * 1000);
    await engine.open();
    const states = async (): Promise<string[][]> => (await engine.status('c1')).devices.map((d) => [d.device, d.state]);
    expect((await states()).filter(([, state]) => state === 'issued')).toEqual([
      ['d2', 'issued'],
      ['d4', 'issued'],
    ]);
    await engine.onReport({ device: 'd4', seq: 1, sentAt: NOW, phase: 'succeeded', campaign: 'c1', slots: { booted: { digest: TARGET } } });
    await engine.onReport({ device: 'd2', seq: 1, sentAt: NOW, phase: 'downloading', campaign: 'c1', slots: {} });
    const after = await states();
    await engine.close();
    expect(after).toEqual([
      ['d1', 'pending'],
      ['d2', 'in-progress'],
      ['d3', 'pending'],
      ['d4', 'succeeded'],
      ['d5', 'issued'],
    ]);
    expect(published.map((p) => p.topic)).toEqual(['d4', 'd2', 'd5'].map((d) => deviceTopic(d, 'desired')));
  });
  it('gives a status between two steps: not paused by the failure threshold with a revert still being sent', async () => {
    const devices = new DeviceRegistry(db);
    for (const id of ['d1', 'd2']) await devices.enroll(parseDeviceId(id), 'test');
    const draft = sampleCampaign();
    await new CampaignStore(db).put(campaignRecord({ settings: { ...draft.settings, waves: [100], failureThreshold: 0.5, revertOnFailure: true } }), [
      { device: 'd1', wave: 0, state: 'succeeded', desiredSeq: 1, lastReportSeq: 3, issuedAt: NOW - 40, expiresAt: NOW + 3000, lastActivityAt: NOW - 10, missingBytes: 0, missingLayers: 0 },
      { device: 'd2', wave: 0, state: 'issued', desiredSeq: 1, issuedAt: NOW - 40, expiresAt: NOW + 3000, lastActivityAt: NOW - 40, missingBytes: 0, missingLayers: 0 },
    ]);
    // The rollback command to d1 is held until the test lets it go: the step that pauses is then half done.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sent = { command: false };
    const engine = await manager(() => NOW * 1000, {
      ...recordPublished,
      publish: async (topic, payload, options) => {
        if (topic === deviceTopic('d1', 'commands')) {
          sent.command = true;
          await held;
        }
        await recordPublished.publish(topic, payload, options);
      },
    });
    await engine.open();
    const report = engine.onReport({ device: 'd2', seq: 1, sentAt: NOW, phase: 'failed', campaign: 'c1', slots: {}, error: { code: 'BOOTFLEET_HEALTH_CHECK_FAILED', message: 'the health check failed' } });
    for (let i = 0; i < 1_000 && !sent.command; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(sent.command).toBe(true);
    const status = engine.status('c1');
    release();
    const seen = await status;
    await report;
    await engine.close();
    expect(seen.campaign.state).toBe('paused');
    expect(seen.devices.map((d) => [d.device, d.state])).toEqual([
      ['d1', 'reverted'],
      ['d2', 'failed'],
    ]);
  });

  it('gives a watcher the status, then every later event of the campaign: none lost to a step queued behind it', async () => {
    const devices = new DeviceRegistry(db);
    for (const id of ['d1', 'd2']) await devices.enroll(parseDeviceId(id), 'test');
    const draft = sampleCampaign();
    await new CampaignStore(db).put(campaignRecord({ settings: { ...draft.settings, waves: [100] } }), [
      { device: 'd1', wave: 0, state: 'issued', desiredSeq: 1, issuedAt: NOW - 40, expiresAt: NOW + 3000, lastActivityAt: NOW - 40, missingBytes: 0, missingLayers: 0 },
      { device: 'd2', wave: 0, state: 'issued', desiredSeq: 1, issuedAt: NOW - 40, expiresAt: NOW + 3000, lastActivityAt: NOW - 40, missingBytes: 0, missingLayers: 0 },
    ]);
    const engine = await manager(() => NOW * 1000);
    await engine.open();
    const seen: string[] = [];
    // The report's step is queued right behind the watch: it runs as soon as the watch leaves the lock.
    const watching = engine.watch(
      'c1',
      (status) => seen.push(`status ${status.devices.map((d) => `${d.device}:${d.state}`).join(' ')}`),
      (event) => seen.push(event.type === 'device' ? `device ${event.device}:${event.state}` : event.type),
    );
    const report = engine.onReport({ device: 'd2', seq: 1, sentAt: NOW, phase: 'succeeded', campaign: 'c1', slots: { booted: { digest: TARGET } } });
    const stop = await watching;
    await report;
    stop();
    await engine.onReport({ device: 'd1', seq: 1, sentAt: NOW, phase: 'succeeded', campaign: 'c1', slots: { booted: { digest: TARGET } } });
    await engine.close();
    expect(seen).toEqual(['status d1:issued d2:issued', 'device d2:succeeded']);
    await expect(engine.watch('nope', () => undefined, () => undefined)).rejects.toMatchObject({ code: 'BOOTFLEET_CAMPAIGN_NOT_FOUND' });
  });
});
