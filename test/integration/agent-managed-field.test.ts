/**
 * Managed mode and the field features, all real (a bootfleet server with its
 * broker and registry, the agent as a child process): an image that keeps
 * failing its health check is tried `policy.maxAttempts` times, then refused
 * before any download with BOOTFLEET_UPDATE_ATTEMPTS_EXHAUSTED in the report,
 * until a signed `check-now` command clears the count; a change to the booted
 * tree is reported with BOOTFLEET_INTEGRITY_MISMATCH and stored on the server
 * as an audit event.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Command, DesiredState } from '../../protocol/index.js';
import { currentVersion, desiredFor, eventually, finished, layerOf, publishCommand, publishDesired, pushTestImage, type Fleet, type TestImage } from '../helpers/agent-daemon.js';
import { healthyFileConfig, useManagedDaemon } from '../helpers/daemon-fleet.js';

const DEVICE = 'field-m';
const REPO = 'fleet/field-m';

describe('agent daemon, managed mode: attempt counter and runtime integrity', () => {
  const daemon = useManagedDaemon({
    device: DEVICE,
    tmpPrefix: 'bootfleet-managed-field-',
    config: (dataDir) => ({ ...healthyFileConfig(dataDir), server: { auditSyncIntervalMs: 100 }, integrity: { intervalSeconds: 0.2, onMismatch: 'alert' } }),
  });
  const { reportsAfter, lastSeq, waitReport } = daemon;
  let fleet: Fleet;
  let dataDir: string;
  let good: TestImage;
  let bad: TestImage;

  const desired = (image: TestImage, seq: number, version: string): DesiredState => {
    const d = desiredFor(fleet, image, { device: DEVICE, seq, version, repo: REPO, healthTimeoutSeconds: 1 });
    return { ...d, policy: { ...d.policy, maxAttempts: 2 } };
  };

  beforeAll(async () => {
    ({ fleet, dataDir } = daemon);
    good = await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '1', 'etc/healthy': 'yes' })]);
    bad = await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': 'bad' })]);
  }, 30_000);

  it('stops trying an image after maxAttempts rollbacks, reports why, and tries again after check-now', async () => {
    await publishDesired(fleet, desired(good, 1, '1.0'));
    expect((await waitReport(0, finished(1), 'good installed')).phase).toBe('succeeded');
    for (const seq of [2, 3]) {
      const before = lastSeq();
      await publishDesired(fleet, desired(bad, seq, '2.0'));
      expect((await waitReport(before, finished(seq), `bad attempt ${seq}`)).phase).toBe('rolled-back');
    }
    let before = lastSeq();
    await publishDesired(fleet, desired(bad, 4, '2.0'));
    const refused = await waitReport(before, finished(4), 'bad refused');
    expect(refused).toMatchObject({ phase: 'failed', error: { code: 'BOOTFLEET_UPDATE_ATTEMPTS_EXHAUSTED' } });
    // Refused before anything was fetched or staged.
    expect(reportsAfter(before).filter((r) => r.desiredSeq === 4).map((r) => r.phase)).not.toContain('downloading');
    expect(await currentVersion(dataDir)).toBe('1');

    const now = Math.floor(Date.now() / 1000);
    const command: Command = { device: DEVICE, seq: 1, issuedAt: now - 5, expiresAt: now + 600, id: 'again-1', command: 'check-now', reason: 'fixed the health check' };
    before = lastSeq();
    await publishCommand(fleet, command);
    await waitReport(before, (r) => r.commandId === 'again-1', 'check-now answered');
    before = lastSeq();
    await publishDesired(fleet, desired(bad, 5, '2.0'));
    expect((await waitReport(before, finished(5), 'bad tried again')).phase).toBe('rolled-back');
  }, 60_000);

  it('reports a change to the booted tree, and the server keeps it as an audit event', async () => {
    const before = lastSeq();
    await writeFile(join(dataDir, 'current', 'etc', 'version'), 'tampered');
    const report = await waitReport(before, (r) => r.error?.code === 'BOOTFLEET_INTEGRITY_MISMATCH', 'integrity report');
    expect(report.slots.booted?.digest).toBe(good.manifest.digest);
    await eventually(async () => {
      const shown = await fleet.t.api('GET', `/api/v1/devices/${DEVICE}?events=200`);
      const events = (shown.body as { events: { kind: string; details: { action?: string; code?: string } }[] }).events;
      return events.find((e) => e.kind === 'audit' && e.details.action === 'integrity' && e.details.code === 'BOOTFLEET_INTEGRITY_MISMATCH');
    }, 'audit event on the server');
  }, 30_000);
});
