/**
 * Superseding a running update (docs/agent-daemon.md, "Superseding a running update"), all real: a bootfleet
 * server (embedded broker and registry), the agent as a child process, desired states signed with the
 * server's key. The agent's bandwidth cap (1 MiB/s) makes the registry slow. A newer desired state stops
 * the download of the one in progress, the device ends on the newer image, and the shared layer's partial
 * file is resumed, not fetched again. A probation in progress is never stopped: it ends (here rolled back)
 * before the newer desired state runs. Last, the signed `policy.soakSeconds` holds the commit back.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, type AgentState, type Report } from '../../protocol/index.js';
import { currentVersion, desiredFor, eventually, finished, layerOf, publishDesired, pushTestImage, randomLayer, type Fleet } from '../helpers/agent-daemon.js';
import { healthyFileConfig, useManagedDaemon } from '../helpers/daemon-fleet.js';

const DEVICE = 'dev-supersede';
const REPO = 'fleet/supersede';

describe('agent daemon, a newer desired state supersedes a running update', () => {
  const daemon = useManagedDaemon({
    device: DEVICE,
    tmpPrefix: 'bootfleet-supersede-',
    config: (dataDir) => ({
      ...healthyFileConfig(dataDir),
      server: { progressIntervalMs: 0 },
      // 1 MiB/s: the shared 4 MiB layer takes about 4 s.
      registry: { maxBytesPerSecond: 1024 * 1024 },
    }),
  });
  let fleet: Fleet;
  let dataDir: string;
  const base = layerOf({ 'usr/bin/app': 'app' });

  const reports = (): Report[] => daemon.reportsAfter(0);
  const waitReport = (pred: (r: Report) => boolean, what: string, timeoutMs?: number): Promise<Report> => daemon.waitReport(0, pred, what, timeoutMs);
  const line = (pred: (l: Record<string, unknown>) => boolean) => daemon.agent.lines.findIndex(pred);

  beforeAll(() => {
    ({ fleet, dataDir } = daemon);
  });

  it('stops the download of the older one; the device ends on the newer image, resuming the shared layer', async () => {
    const v1 = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': '1', 'etc/healthy': 'y' })]);
    await publishDesired(fleet, desiredFor(fleet, v1, { device: DEVICE, seq: 1, version: '1.0', repo: REPO }));
    expect((await waitReport(finished(1), 'v1 installed')).phase).toBe('succeeded');

    const shared = randomLayer(4 * 1024 * 1024);
    const a = await pushTestImage(fleet, REPO, [base, shared, layerOf({ 'etc/version': 'a', 'etc/healthy': 'y' })]);
    const b = await pushTestImage(fleet, REPO, [base, shared, layerOf({ 'etc/version': 'b', 'etc/healthy': 'y' })]);
    await publishDesired(fleet, desiredFor(fleet, a, { device: DEVICE, seq: 2, version: '2.0', repo: REPO }));
    await eventually(() => (line((l) => l.event === 'blob-progress' && l.digest === shared.digest && (l.done as number) >= 512 * 1024) >= 0 ? true : undefined), 'A half-way through the shared layer');
    await publishDesired(fleet, desiredFor(fleet, b, { device: DEVICE, seq: 3, version: '3.0', repo: REPO }));

    const done = await waitReport(finished(3), 'B finished', 30_000);
    expect(done.phase).toBe('succeeded');
    expect(done.slots.booted?.digest).toBe(b.manifest.digest);
    expect(await currentVersion(dataDir)).toBe('b');
    // A never got past its download: no report of it beyond downloading, and it was logged superseded.
    expect(reports().filter((r) => r.desiredSeq === 2).map((r) => r.phase)).not.toContain('staging');
    const superseded = line((l) => l.event === 'desired-superseded' && l.seq === 2);
    expect(superseded).toBeGreaterThanOrEqual(0);
    expect(line((l) => l.event === 'desired-superseding' && l.seq === 2 && l.by === 3)).toBeGreaterThanOrEqual(0);
    // B resumed A's partial file of the shared layer from where A stopped.
    const resumed = daemon.agent.lines.slice(superseded).find((l) => l.event === 'blob-resume' && l.digest === shared.digest);
    expect(resumed?.offset).toBeGreaterThanOrEqual(512 * 1024);
  }, 60_000);

  it('lets a probation in progress end (here rolled back) before the newer desired state runs', async () => {
    const sick = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': 'sick' })]);
    const cured = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': 'cured', 'etc/healthy': 'y' })]);
    await publishDesired(fleet, desiredFor(fleet, sick, { device: DEVICE, seq: 4, version: '4.0', repo: REPO, healthTimeoutSeconds: 3 }));
    await waitReport((r) => r.desiredSeq === 4 && r.phase === 'probation', 'sick on probation');
    await publishDesired(fleet, desiredFor(fleet, cured, { device: DEVICE, seq: 5, version: '5.0', repo: REPO }));
    const cure = await waitReport(finished(5), 'cured finished', 30_000);
    expect(cure.phase).toBe('succeeded');
    expect(await currentVersion(dataDir)).toBe('cured');
    const sickEnd = reports().find(finished(4));
    expect(sickEnd?.phase).toBe('rolled-back');
    expect(sickEnd?.error?.code).toBe('BOOTFLEET_HEALTH_CHECK_FAILED');
    // Its end was reported before the newcomer started.
    expect(sickEnd?.seq).toBeLessThan(reports().find((r) => r.desiredSeq === 5)?.seq ?? 0);
    expect(line((l) => l.event === 'desired-superseded' && l.seq === 4)).toBe(-1);
  }, 60_000);

  it('is not stopped by a message that does not verify, nor by a re-issue of the same image', async () => {
    const big = randomLayer(3 * 1024 * 1024);
    const c = await pushTestImage(fleet, REPO, [base, big, layerOf({ 'etc/version': 'c', 'etc/healthy': 'y' })]);
    await publishDesired(fleet, desiredFor(fleet, c, { device: DEVICE, seq: 6, version: '6.0', repo: REPO }));
    await eventually(() => (line((l) => l.event === 'blob-progress' && l.digest === big.digest) >= 0 ? true : undefined), 'C downloading');
    const other = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': 'forged', 'etc/healthy': 'y' })]);
    // Another image, a higher seq, but signed by a key the device does not trust.
    await publishDesired(fleet, desiredFor(fleet, other, { device: DEVICE, seq: 7, version: '7.0', repo: REPO }), generateSigningKey('ecdsa-p256'));
    // The same image again with a higher seq, as a server re-issues a desired state before it expires.
    await publishDesired(fleet, desiredFor(fleet, c, { device: DEVICE, seq: 8, version: '6.0', repo: REPO }));
    const done = await waitReport(finished(6), 'C finished', 30_000);
    expect(done.phase).toBe('succeeded');
    expect(line((l) => l.event === 'desired-superseding' && l.seq === 6)).toBe(-1);
    expect(line((l) => l.event === 'desired-superseded' && l.seq === 6)).toBe(-1);
    // The re-issue is accepted afterwards and finds its image already booted.
    expect((await waitReport(finished(8), 'the re-issue finished')).phase).toBe('succeeded');
    expect(await currentVersion(dataDir)).toBe('c');
    expect(reports().some((r) => r.error?.code === 'BOOTFLEET_SIG_KEY_UNKNOWN')).toBe(true);
  }, 60_000);

  it('soaks for the signed policy.soakSeconds before it commits and reports succeeded', async () => {
    const soaked = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': 'soaked', 'etc/healthy': 'y' })]);
    const desired = desiredFor(fleet, soaked, { device: DEVICE, seq: 9, version: '9.0', repo: REPO });
    desired.policy = { ...desired.policy, soakSeconds: 2 };
    await publishDesired(fleet, desired);
    const probation = await eventually(async () => {
      const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as AgentState;
      return state.probation?.soakStartedAtMs === undefined ? undefined : state.probation;
    }, 'soak window open');
    expect(probation.soakMs).toBe(2_000);
    expect(reports().some((r) => r.desiredSeq === 9 && r.phase === 'succeeded')).toBe(false);
    expect((await waitReport(finished(9), 'soaked finished')).phase).toBe('succeeded');
    const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as AgentState;
    const commit = state.history.at(-1);
    expect(commit?.action).toBe('commit');
    expect(commit?.atMs).toBeGreaterThanOrEqual((probation.soakStartedAtMs ?? 0) + 2_000);
  }, 60_000);
});
