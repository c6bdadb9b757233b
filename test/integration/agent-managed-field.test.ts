/**
 * Managed mode and the field features, all real (a bootfleet server with its
 * broker and registry, the agent as a child process): an image that keeps
 * failing its health check is tried `policy.maxAttempts` times, then refused
 * before any download with BOOTFLEET_UPDATE_ATTEMPTS_EXHAUSTED in the report,
 * until a signed `check-now` command clears the count; a change to the booted
 * tree is reported with BOOTFLEET_INTEGRITY_MISMATCH and stored on the server
 * as an audit event.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDeviceMessage, type Command, type DesiredState, type Report } from '../../protocol/index.js';
import {
  AgentProcess,
  currentVersion,
  desiredFor,
  enrollDevice,
  eventually,
  layerOf,
  publishDesired,
  pushTestImage,
  startFleet,
  writeJson,
  type Fleet,
  type TestImage,
} from '../helpers/agent-daemon.js';
import { DEVICE_TOKEN } from '../helpers/registry.js';

const DEVICE = 'field-m';
const REPO = 'fleet/field-m';

describe('agent daemon, managed mode: attempt counter and runtime integrity', () => {
  let fleet: Fleet;
  let dir: string;
  let dataDir: string;
  let agent: AgentProcess | undefined;
  let good: TestImage;
  let bad: TestImage;

  const reportsAfter = (seq: number): Report[] => fleet.reports.filter((r) => r.device === DEVICE && r.seq > seq);
  const lastSeq = (): number => Math.max(0, ...fleet.reports.filter((r) => r.device === DEVICE).map((r) => r.seq));
  const waitReport = (after: number, pred: (r: Report) => boolean, what: string): Promise<Report> => eventually(() => reportsAfter(after).find(pred), what);
  const desired = (image: TestImage, seq: number, version: string): DesiredState => {
    const d = desiredFor(fleet, image, { device: DEVICE, seq, version, repo: REPO, healthTimeoutSeconds: 1 });
    return { ...d, policy: { ...d.policy, maxAttempts: 2 } };
  };
  const finished = (seq: number) => (r: Report) => r.desiredSeq === seq && ['succeeded', 'rolled-back', 'failed'].includes(r.phase);

  beforeAll(async () => {
    fleet = await startFleet();
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-managed-field-'));
    dataDir = join(dir, 'agent');
    good = await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '1', 'etc/healthy': 'yes' })]);
    bad = await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': 'bad' })]);
    const credentials = await enrollDevice(fleet, DEVICE, dir);
    await writeFile(join(dir, 'registry.token'), DEVICE_TOKEN, { mode: 0o600 });
    const configPath = join(dir, 'agent.json');
    await writeJson(configPath, {
      deviceId: DEVICE,
      deploy: { dataDir, healthChecks: [{ name: 'healthy', kind: 'command', required: true, timeoutMs: 2_000, argv: ['test', '-f', `${dataDir}/current/etc/healthy`] }] },
      server: { mqttUrl: fleet.t.mqttUrl, credentialsFile: credentials, trustedKeyFiles: [join(fleet.t.dir, 'keys', 'server.pub')], reconnectMinMs: 100, auditSyncIntervalMs: 100 },
      registry: { username: 'device', passwordFile: join(dir, 'registry.token'), plainHttp: true },
      healthRetryIntervalMs: 100,
      integrity: { intervalSeconds: 0.2, onMismatch: 'alert' },
    });
    agent = new AgentProcess(configPath);
  }, 30_000);
  afterAll(async () => {
    await agent?.kill();
    await fleet.t.destroy();
    await rm(dir, { recursive: true, force: true });
  });

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
    await fleet.t.server.control.plane.publish(`bootfleet/v1/devices/${DEVICE}/commands`, JSON.stringify(signDeviceMessage('command', command, fleet.key)), { qos: 1, retain: false });
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
