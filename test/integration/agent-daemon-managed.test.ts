/**
 * The agent daemon in managed mode, all real: a bootfleet server (HTTP API,
 * embedded aedes broker, embedded registry), the agent as a child process
 * (`bootfleet agent run`) enrolled through the API, desired states signed
 * with the server's own key and published retained as campaigns do. The
 * rootfs backend's `current` link and the state file are checked on disk.
 */
import { readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, type Command } from '../../protocol/index.js';
import {
  closedWindow,
  currentVersion,
  desiredFor,
  eventually,
  finished,
  layerOf,
  publishCommand,
  publishDesired,
  pushTestImage,
  randomLayer,
  type Fleet,
  type TestImage,
} from '../helpers/agent-daemon.js';
import { useManagedDaemon } from '../helpers/daemon-fleet.js';

const DEVICE = 'dev-a';
const REPO = 'fleet/os';

describe('agent daemon, managed mode', () => {
  const daemon = useManagedDaemon({
    device: DEVICE,
    tmpPrefix: 'bootfleet-daemon-',
    config: (dataDir) => ({
      deploy: {
        healthChecks: [
          { name: 'app-healthy', kind: 'command', required: true, timeoutMs: 2_000, argv: ['sh', '-c', `test -f ${dataDir}/current/etc/healthy || { echo "etc/healthy is missing"; exit 1; }`] },
        ],
      },
      server: { progressIntervalMs: 0 },
      // 1 MiB/s: the 3 MiB layer takes about 3 s, long enough to kill the agent in the middle of it.
      registry: { maxBytesPerSecond: 1024 * 1024 },
      healthRetryIntervalMs: 100,
    }),
  });
  const { reportsAfter, lastSeq, waitReport } = daemon;
  let fleet: Fleet;
  let dataDir: string;
  let v1: TestImage;
  let v2: TestImage;
  let bad: TestImage;
  let v3: TestImage;
  let v4: TestImage;
  const base = layerOf({ 'usr/bin/app': '#!/bin/sh\necho app\n' });

  beforeAll(async () => {
    ({ fleet, dataDir } = daemon);
    v1 = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': '1', 'etc/healthy': 'yes' })]);
    v2 = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': '2', 'etc/healthy': 'yes' })]);
    bad = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': 'bad' })]);
    v3 = await pushTestImage(fleet, REPO, [base, randomLayer(3 * 1024 * 1024), layerOf({ 'etc/version': '3', 'etc/healthy': 'yes' })]);
    v4 = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': '4', 'etc/healthy': 'yes' })]);
  }, 30_000);

  it('enrols through the API into a credentials file of mode 0600, and connects as the device', async () => {
    expect((await stat(daemon.credentials)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(daemon.credentials, 'utf8'))).toMatchObject({ deviceId: DEVICE, username: DEVICE });
    await eventually(async () => {
      const shown = await fleet.t.api('GET', `/api/v1/devices/${DEVICE}`);
      return (shown.body as { device: { online: boolean } }).device.online ? true : undefined;
    }, 'device online');
  });

  it('provisions the first image, then updates fetching only the missing layers, and reports succeeded from the committed new deployment', async () => {
    await publishDesired(fleet, desiredFor(fleet, v1, { device: DEVICE, seq: 1, version: '1.0', repo: REPO }));
    const first = await waitReport(0, (r) => r.desiredSeq === 1 && r.phase === 'succeeded', 'v1 succeeded');
    expect(first.slots.booted?.digest).toBe(v1.manifest.digest);
    expect(await currentVersion(dataDir)).toBe('1');

    const before = lastSeq();
    await publishDesired(fleet, desiredFor(fleet, v2, { device: DEVICE, seq: 2, version: '2.0', repo: REPO }));
    const done = await waitReport(before, (r) => r.desiredSeq === 2 && (r.phase === 'succeeded' || r.phase === 'failed'), 'v2 finished');
    expect(done.error).toBeUndefined();
    expect(done.phase).toBe('succeeded');
    expect(done.slots.booted).toEqual({ digest: v2.manifest.digest, version: '2.0' });
    expect(done.slots.rollback?.digest).toBe(v1.manifest.digest);
    expect(done.inventory).toContain(v2.layers[1]?.digest);
    expect(await currentVersion(dataDir)).toBe('2');
    // Phases in order, probation before success.
    const phases = reportsAfter(before).filter((r) => r.desiredSeq === 2 && r.progress === undefined).map((r) => r.phase);
    expect(phases).toEqual(['downloading', 'verifying', 'staging', 'staged', 'activating', 'probation', 'succeeded']);
    // Only the new layer and config were fetched: the shared base layer was in the store.
    const pullStart = await eventually(() => daemon.agent.lines.filter((l) => l.event === 'pull-start' && l.manifest === v2.manifest.digest).at(-1), 'pull-start line');
    expect(pullStart.blobs).toBe(2);
    expect(pullStart.missingBytes).toBe((pullStart.totalBytes as number) - base.size);
  }, 30_000);

  it('rolls back by itself when a required health check fails, and reports the check and its output', async () => {
    const before = lastSeq();
    await publishDesired(fleet, desiredFor(fleet, bad, { device: DEVICE, seq: 3, version: '2.1', repo: REPO, healthTimeoutSeconds: 1 }));
    const done = await waitReport(before, finished(3), 'bad image finished');
    expect(done.phase).toBe('rolled-back');
    expect(done.error?.code).toBe('BOOTFLEET_HEALTH_CHECK_FAILED');
    expect(done.error?.message).toContain('app-healthy');
    const check = done.health?.find((h) => h.name === 'app-healthy');
    expect(check?.ok).toBe(false);
    expect(check?.output).toContain('etc/healthy is missing');
    expect(done.slots.booted?.digest).toBe(v2.manifest.digest);
    expect(await currentVersion(dataDir)).toBe('2');
  }, 30_000);

  it('refuses a replayed, expired, foreign or wrongly signed desired state with its code, changing nothing on disk', async () => {
    const state = await readFile(join(dataDir, 'state.json'));
    const link = await readlink(join(dataDir, 'current'));
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, () => Promise<void>][] = [
      ['BOOTFLEET_SIG_REPLAYED', () => publishDesired(fleet, desiredFor(fleet, v1, { device: DEVICE, seq: 2, version: '2.0', repo: REPO }))],
      ['BOOTFLEET_SIG_EXPIRED', () => publishDesired(fleet, desiredFor(fleet, v1, { device: DEVICE, seq: 10, version: '2.0', repo: REPO, nowSeconds: now - 7200 }))],
      // The broker delivers only the device's own topic: a message for another device reaches it only if re-published there.
      ['BOOTFLEET_SIG_WRONG_DEVICE', () => publishDesired(fleet, desiredFor(fleet, v1, { device: 'dev-other', seq: 11, version: '2.0', repo: REPO }), fleet.key, DEVICE)],
      ['BOOTFLEET_SIG_KEY_UNKNOWN', () => publishDesired(fleet, desiredFor(fleet, v1, { device: DEVICE, seq: 12, version: '2.0', repo: REPO }), generateSigningKey('ecdsa-p256'))],
    ];
    for (const [code, publish] of cases) {
      const before = lastSeq();
      await publish();
      const refused = await waitReport(before, (r) => r.error !== undefined, `refusal ${code}`);
      expect(refused.error?.code).toBe(code);
      expect(await readFile(join(dataDir, 'state.json'))).toEqual(state);
      expect(await readlink(join(dataDir, 'current'))).toBe(link);
    }
  }, 30_000);

  it('resumes an update after kill -9 in the middle of a download, and completes it', async () => {
    const before = lastSeq();
    await publishDesired(fleet, desiredFor(fleet, v3, { device: DEVICE, seq: 20, version: '3.0', repo: REPO }));
    await waitReport(before, (r) => r.desiredSeq === 20 && r.progress !== undefined && r.progress.doneBytes > 512 * 1024, 'download under way');
    await daemon.agent.kill('SIGKILL');
    daemon.start(daemon.configPath);
    const done = await waitReport(before, finished(20), 'v3 finished', 30_000);
    expect(done.phase).toBe('succeeded');
    expect(done.slots.booted?.digest).toBe(v3.manifest.digest);
    expect(await currentVersion(dataDir)).toBe('3');
    // Stdout and the reports travel separately: wait for the line rather than assume it arrived first.
    const restarted = daemon.agent;
    const resumed = await eventually(() => restarted.lines.find((l) => l.event === 'blob-resume'), 'blob-resume line');
    expect(resumed.offset).toBeGreaterThan(0);
    // The report sequence went on across the restart: the server stored every report (none dropped as old).
    const seqs = fleet.reports.filter((r) => r.device === DEVICE).map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  }, 45_000);

  it('refuses a downgrade and a manifest whose layers differ from the signed list, before staging anything', async () => {
    const link = await readlink(join(dataDir, 'current'));
    let before = lastSeq();
    await publishDesired(fleet, desiredFor(fleet, v2, { device: DEVICE, seq: 21, version: '2.0', repo: REPO }));
    const downgrade = await waitReport(before, finished(21), 'downgrade refused');
    expect([downgrade.phase, downgrade.error?.code]).toEqual(['failed', 'BOOTFLEET_DOWNGRADE_REFUSED']);
    before = lastSeq();
    const swapped = { ...desiredFor(fleet, v2, { device: DEVICE, seq: 22, version: '3.1', repo: REPO }) };
    swapped.layers = [...swapped.layers].reverse();
    await publishDesired(fleet, swapped);
    const mismatch = await waitReport(before, finished(22), 'layer mismatch refused');
    expect([mismatch.phase, mismatch.error?.code]).toEqual(['failed', 'BOOTFLEET_UPDATE_LAYERS_MISMATCH']);
    expect(mismatch.slots.staged).toBeUndefined();
    expect(await readlink(join(dataDir, 'current'))).toBe(link);
  }, 30_000);

  it('waits outside the maintenance window and activates at the policy deadline', async () => {
    const before = lastSeq();
    const now = Math.floor(Date.now() / 1000);
    // A one-minute window twelve hours away: closed now; the deadline, six seconds away, comes first.
    // Six, not less: the agent must fetch and stage before the deadline to be seen waiting, on a loaded CI machine too.
    const desired = desiredFor(fleet, v4, { device: DEVICE, seq: 23, version: '4.0', repo: REPO });
    desired.policy = { ...desired.policy, deadline: now + 6, maintenanceWindows: [closedWindow(now * 1000)] };
    await publishDesired(fleet, desired);
    const waiting = await waitReport(before, (r) => r.desiredSeq === 23 && r.phase === 'waiting', 'waiting');
    expect(await currentVersion(dataDir)).toBe('3');
    expect(waiting.slots.staged?.digest).toBe(v4.manifest.digest);
    const done = await waitReport(before, finished(23), 'v4 finished');
    expect(done.phase).toBe('succeeded');
    expect(Date.now() / 1000).toBeGreaterThanOrEqual(now + 6);
    expect(await currentVersion(dataDir)).toBe('4');
  }, 30_000);

  const command = (seq: number, name: Command['command']): Command => {
    const now = Math.floor(Date.now() / 1000);
    return { device: DEVICE, seq, issuedAt: now - 5, expiresAt: now + 600, id: `cmd-${seq}`, command: name, reason: 'test' };
  };

  it('obeys signed rollback and factory-reset commands, answering with their command id, and refuses a replayed one', async () => {
    let before = lastSeq();
    await publishCommand(fleet, command(1, 'rollback'));
    const rolled = await waitReport(before, (r) => r.commandId === 'cmd-1' && (r.phase === 'rolled-back' || r.phase === 'failed'), 'rollback done');
    expect(rolled.phase).toBe('rolled-back');
    expect(rolled.slots.booted?.digest).toBe(v3.manifest.digest);
    expect(await currentVersion(dataDir)).toBe('3');

    before = lastSeq();
    await publishCommand(fleet, command(2, 'factory-reset'));
    const reset = await waitReport(before, (r) => r.commandId === 'cmd-2' && ['succeeded', 'rolled-back', 'failed'].includes(r.phase), 'factory reset done');
    expect(reset.phase).toBe('succeeded');
    expect(reset.slots.booted?.digest).toBe(v1.manifest.digest);
    expect(await currentVersion(dataDir)).toBe('1');
    const audit = await readFile(join(dataDir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"action":"factory-reset"');

    before = lastSeq();
    await publishCommand(fleet, command(2, 'rollback'));
    const replay = await waitReport(before, (r) => r.error !== undefined, 'replayed command refused');
    expect(replay.error?.code).toBe('BOOTFLEET_SIG_REPLAYED');
    expect(await currentVersion(dataDir)).toBe('1');
  }, 30_000);

  it('lets a newer desired state supersede one waiting for its maintenance window', async () => {
    const before = lastSeq();
    const waiting = desiredFor(fleet, v3, { device: DEVICE, seq: 24, version: '5.0', repo: REPO });
    waiting.policy = { ...waiting.policy, maintenanceWindows: [closedWindow()] };
    await publishDesired(fleet, waiting);
    await waitReport(before, (r) => r.desiredSeq === 24 && r.phase === 'waiting', 'seq 24 waiting');
    await publishDesired(fleet, desiredFor(fleet, v2, { device: DEVICE, seq: 25, version: '5.1', repo: REPO }));
    const done = await waitReport(before, finished(25), 'seq 25 finished');
    expect(done.phase).toBe('succeeded');
    expect(await currentVersion(dataDir)).toBe('2');
    await eventually(() => daemon.agent.lines.find((l) => l.event === 'desired-superseded' && l.seq === 24), 'desired-superseded line');
  }, 30_000);

  it('stops cleanly on SIGTERM and says it is offline', async () => {
    const online = await fleet.t.api('GET', `/api/v1/devices/${DEVICE}`);
    expect((online.body as { device: { online: boolean } }).device.online).toBe(true);
    expect(await daemon.agent.kill('SIGTERM')).toBe(0);
    await eventually(async () => {
      const shown = await fleet.t.api('GET', `/api/v1/devices/${DEVICE}`);
      return (shown.body as { device: { online: boolean } }).device.online ? undefined : true;
    }, 'device offline');
  }, 20_000);
});
