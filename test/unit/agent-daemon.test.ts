/**
 * Unit tests of the daemon's parts, on real files in a temporary directory:
 * the signed layer list check, accepting desired states (redelivery,
 * replay, durable seq), the persisted report sequence, and the reporter's
 * throttling. The whole daemon is tested as a process in
 * test/integration/agent-daemon-*.test.ts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContentStore } from '../../agent/content/store.js';
import { Reporter, ReportSequence } from '../../agent/daemon/index.js';
import { Deployer, rootfsBackend } from '../../agent/deploy/index.js';
import { acceptDesiredState } from '../../agent/managed/desired.js';
import { checkSignedLayers } from '../../agent/pipeline/index.js';
import { generateSigningKey, signDeviceMessage, TrustedKeys, type DesiredState, type ImageManifest, type Report } from '../../protocol/index.js';
import { sampleDesiredState } from '../helpers/messages.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('bootfleet-daemon-unit-');

const code = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e as { code?: string }).code,
  );

describe('checkSignedLayers', () => {
  const desired = sampleDesiredState();
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'d'.repeat(64)}`, size: 10 },
    layers: desired.layers.map(({ digest, size, mediaType }) => ({ digest, size, mediaType })),
  };

  it('accepts the same layers in the same order', () => {
    expect(() => checkSignedLayers(manifest, desired.layers)).not.toThrow();
  });

  it('refuses another order, size, media type or count with BOOTFLEET_UPDATE_LAYERS_MISMATCH', () => {
    const variants = [
      [...desired.layers].reverse(),
      desired.layers.map((l, i) => (i === 0 ? { ...l, size: l.size + 1 } : l)),
      desired.layers.map((l, i) => (i === 1 ? { ...l, mediaType: 'application/vnd.oci.image.layer.v1.tar' } : l)),
      desired.layers.slice(1),
    ];
    for (const signed of variants) {
      expect(() => checkSignedLayers(manifest, signed)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_UPDATE_LAYERS_MISMATCH' }) as Error);
    }
  });
});

describe('acceptDesiredState', () => {
  const key = generateSigningKey('ecdsa-p256');
  const keys = new TrustedKeys([key]);
  const now = 1_795_000_100;
  const envelope = (d: DesiredState): Buffer => Buffer.from(JSON.stringify(signDeviceMessage('desired-state', d, key)));

  it('makes the seq durable before returning; ignores a redelivery, the same payload signed again; refuses other payloads at or below the seq', async () => {
    const deployer = new Deployer({ dataDir: dir(), backend: rootfsBackend({ dataDir: dir() }) });
    const options = { deviceId: 'dev-1', keys, deployer, nowSeconds: now };
    const first = envelope(sampleDesiredState({ seq: 7 }));
    expect((await acceptDesiredState(first, options))?.seq).toBe(7);
    expect(JSON.parse(await readFile(join(dir(), 'state.json'), 'utf8'))).toMatchObject({ lastDesiredSeq: 7 });
    expect(await acceptDesiredState(first, options)).toBeUndefined();
    // ECDSA signatures are randomised: another envelope of the same payload, as a server re-publishing it.
    expect(await acceptDesiredState(envelope(sampleDesiredState({ seq: 7 })), options)).toBeUndefined();
    const state = await readFile(join(dir(), 'state.json'));
    expect(await code(acceptDesiredState(envelope(sampleDesiredState({ seq: 7, campaign: 'other' })), options))).toBe('BOOTFLEET_SIG_REPLAYED');
    expect(await code(acceptDesiredState(envelope(sampleDesiredState({ seq: 6 })), options))).toBe('BOOTFLEET_SIG_REPLAYED');
    expect(await code(acceptDesiredState(envelope(sampleDesiredState({ seq: 8, device: 'dev-2' })), options))).toBe('BOOTFLEET_SIG_WRONG_DEVICE');
    expect(await readFile(join(dir(), 'state.json'))).toEqual(state);
  });
});

describe('ReportSequence', () => {
  it('grows across reopenings and refuses a damaged file', async () => {
    const a = await ReportSequence.open(dir());
    expect([await a.next(), await a.next()]).toEqual([1, 2]);
    const b = await ReportSequence.open(dir());
    expect(await b.next()).toBe(3);
    await writeFile(join(dir(), 'report-seq.json'), '{"last":"x"}');
    expect(await code(ReportSequence.open(dir()))).toBe('BOOTFLEET_STATE_CORRUPT');
  });
});

describe('Reporter', () => {
  it('sends every phase, throttles progress (keeping the last), and numbers reports in order', async () => {
    const sent: Report[] = [];
    let nowMs = 1_795_000_000_000;
    const reporter = new Reporter({
      device: 'dev-1',
      store: await ContentStore.open(dir()),
      deployer: new Deployer({ dataDir: dir(), backend: rootfsBackend({ dataDir: dir() }) }),
      seq: await ReportSequence.open(dir()),
      send: (r) => {
        sent.push(r);
        return Promise.resolve();
      },
      log: () => undefined,
      now: () => nowMs,
      progressIntervalMs: 1_000,
    });
    reporter.subject = { campaign: 'c1', desiredSeq: 3 };
    const sink = reporter.sink();
    sink({ event: 'phase', phase: 'downloading' });
    for (const done of [10, 20, 30]) {
      nowMs += 100;
      sink({ event: 'progress', doneBytes: done, totalBytes: 40 });
    }
    nowMs += 100;
    sink({ event: 'progress', doneBytes: 40, totalBytes: 40 });
    await reporter.report('verifying');
    expect(sent.map((r) => [r.seq, r.phase, r.progress?.doneBytes])).toEqual([
      [1, 'downloading', undefined],
      [2, 'downloading', 10],
      [3, 'downloading', 40],
      [4, 'verifying', undefined],
    ]);
    expect(sent.every((r) => r.campaign === 'c1' && r.desiredSeq === 3)).toBe(true);
  });
});
