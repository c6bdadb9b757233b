/**
 * Runtime integrity in the daemon (`integrity.onMismatch`): a real agent
 * process (autonomous mode, the embedded registry of a real server) whose
 * booted tree the test changes on disk. `alert` reports and audits the change
 * and keeps the deployment; `rollback` goes back to the rollback slot;
 * `refuse-commit` rolls back a deployment whose tree changed during its
 * probation instead of committing it. The first image is installed with
 * `bootfleet agent apply`, so the daemon's long poll interval leaves the
 * integrity check as the only thing it does after its first poll.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAudit } from '../../agent/deploy/index.js';
import { runCli } from '../../cli/program.js';
import { currentVersion, eventually, fileCheck, layerOf, pushTestImage, writeJson, type AgentProcess } from '../helpers/agent-daemon.js';
import { useDaemonFleet } from '../helpers/daemon-fleet.js';

const REPO = 'fleet/integrity';

describe('agent daemon, runtime integrity', () => {
  const harness = useDaemonFleet('bootfleet-integrity-', { stopAgentsAfterEach: true });

  /** Pushes v1 and v2 under their own tags, installs v1 with `agent apply`; the daemon tracks `tag`. */
  async function device(name: string, tag: 'v1' | 'v2', integrity: object, deploy: object = {}): Promise<{ dataDir: string; config: string }> {
    const { fleet, dir } = harness;
    const dataDir = join(dir, name);
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '1', 'usr/bin/app': 'one' })], `${name}-v1`);
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '2', 'usr/bin/app': 'two' })], `${name}-v2`);
    const config = join(dir, `${name}.json`);
    await writeJson(config, {
      deviceId: name,
      deploy: { dataDir, ...deploy },
      registry: harness.registryConfig(),
      autonomous: { image: `${fleet.registry}/${REPO}:${name}-${tag}`, pollIntervalSeconds: 3600, jitterSeconds: 0 },
      integrity,
      healthRetryIntervalMs: 50,
    });
    const applied = await runCli(['agent', 'apply', `${fleet.registry}/${REPO}:${name}-v1`, '--config', config], { out: () => undefined, err: () => undefined });
    expect(applied).toBe(0);
    expect(await currentVersion(dataDir)).toBe('1');
    return { dataDir, config };
  }

  function line(a: AgentProcess, event: string): Record<string, unknown> | undefined {
    return a.lines.find((l) => l.event === event);
  }

  it('alert: reports and audits a change to the booted tree, once, and keeps running it', async () => {
    const { dataDir, config } = await device('alert', 'v1', { intervalSeconds: 0.2, onMismatch: 'alert' });
    const running = harness.start(config);
    await eventually(() => (running.lines.some((l) => l.event === 'poll') ? true : undefined), 'first poll');
    await writeFile(join(dataDir, 'current', 'usr/bin/app'), 'tampered');
    const alert = await eventually(() => line(running, 'integrity-mismatch'), 'integrity alert');
    expect(alert).toMatchObject({ code: 'BOOTFLEET_INTEGRITY_MISMATCH' });
    const audit = await eventually(async () => (await readAudit(dataDir)).entries.find((e) => e.action === 'integrity'), 'audit line');
    expect(audit).toMatchObject({ actor: 'agent', result: 'failed', code: 'BOOTFLEET_INTEGRITY_MISMATCH' });
    // One alert per change, not per tick: a second, different change is the second alert.
    await writeFile(join(dataDir, 'current', 'usr/bin/app'), 'tampered again');
    await eventually(() => (running.lines.filter((l) => l.event === 'integrity-mismatch').length >= 2 ? true : undefined), 'second alert');
    expect(running.lines.filter((l) => l.event === 'integrity-mismatch')).toHaveLength(2);
    expect(await currentVersion(dataDir)).toBe('1');
    expect(line(running, 'integrity-rollback')).toBeUndefined();
  }, 40_000);

  it('rollback: a change to the booted tree rolls back to the rollback slot', async () => {
    const { dataDir, config } = await device('rollback', 'v2', { intervalSeconds: 0.2, onMismatch: 'rollback' });
    const running = harness.start(config);
    await eventually(() => (running.lines.some((l) => l.event === 'phase' && l.phase === 'succeeded') ? true : undefined), 'v2 committed');
    expect(await currentVersion(dataDir)).toBe('2');
    await writeFile(join(dataDir, 'current', 'etc', 'extra'), 'dropped in at runtime');
    await eventually(() => line(running, 'integrity-rollback'), 'integrity rollback');
    expect(await currentVersion(dataDir)).toBe('1');
    const agentAudit = async (): Promise<(string | null)[][]> => (await readAudit(dataDir)).entries.filter((e) => e.actor === 'agent').map((e) => [e.action, e.code ?? null]);
    // Polled: the daemon keeps running while the test reads its audit log.
    await eventually(async () => ((await agentAudit()).some(([action, code]) => action === 'rollback' && code === 'BOOTFLEET_INTEGRITY_MISMATCH') ? true : undefined), 'rollback audited');
    expect(await agentAudit()).toContainEqual(['rollback', 'BOOTFLEET_INTEGRITY_MISMATCH']);
  }, 40_000);

  it('refuse-commit: a deployment whose tree changed during probation is rolled back, not committed', async () => {
    const healthy = join(harness.dir, 'refuse-healthy');
    const { dataDir, config } = await device('refuse', 'v2', { intervalSeconds: 3600, onMismatch: 'refuse-commit' }, {
      healthTimeoutSeconds: 60,
      healthChecks: [fileCheck('gate', healthy, 1_000)],
    });
    await writeFile(healthy, '');
    const running = harness.start(config);
    await rm(healthy);
    await eventually(async () => ((await currentVersion(dataDir)) === '2' && (JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as { probation?: unknown }).probation !== undefined ? true : undefined), 'v2 on probation');
    await writeFile(join(dataDir, 'current', 'usr/bin/app'), 'patched during probation');
    await writeFile(healthy, '');
    const rolledBack = await eventually(() => running.lines.find((l) => l.event === 'phase' && l.phase === 'rolled-back'), 'rolled back');
    expect(rolledBack).toMatchObject({ code: 'BOOTFLEET_INTEGRITY_MISMATCH' });
    expect(await currentVersion(dataDir)).toBe('1');
    expect(running.lines.some((l) => l.event === 'phase' && l.phase === 'succeeded')).toBe(false);
  }, 40_000);
});
