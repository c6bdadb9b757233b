/**
 * The technician's CLI and the daemon on one data directory (docs/agent-deployment.md, "One writer at a
 * time"): real `bootfleet agent run` (autonomous mode, the server's embedded registry) held in a probation
 * by a failing health check, and real `bootfleet agent rollback` processes. The CLI waits for the daemon's
 * operation and gives up with BOOTFLEET_AGENT_BUSY (exit 6) leaving the state untouched; it goes ahead as
 * soon as the daemon's operation ends (the daemon does not hold the lock while idle); and a daemon killed
 * with SIGKILL in the middle of its probation does not block the technician.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentState } from '../../protocol/index.js';
import { readAudit } from '../../agent/deploy/index.js';
import { runCliProcess, spawnCli, waitForExit } from '../helpers/cli-process.js';
import { closedWindow, currentVersion, eventually, fileCheck, layerOf, pushTestImage, tracking, waitForVersion, writeJson } from '../helpers/agent-daemon.js';
import { useDaemonFleet } from '../helpers/daemon-fleet.js';

const REPO = 'fleet/locked';

describe('technician CLI against a working daemon', () => {
  const harness = useDaemonFleet('bootfleet-lock-cli-');

  it('waits for the daemon, fails with BOOTFLEET_AGENT_BUSY after --wait, proceeds once the daemon is idle or killed', async () => {
    const { fleet, dir } = harness;
    const dataDir = join(dir, 'agent');
    const healthy = join(dir, 'healthy');
    const state = async (): Promise<AgentState> => JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as AgentState;
    const rollback = (wait: number) => ['agent', 'rollback', '--data-dir', dataDir, '--wait', String(wait)];
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '1' })], 'stable');
    const configPath = join(dir, 'agent.json');
    await writeJson(configPath, {
      deviceId: 'locked-1',
      deploy: { dataDir, healthTimeoutSeconds: 120, healthChecks: [fileCheck('app', healthy)] },
      healthRetryIntervalMs: 200,
      registry: harness.registryConfig(),
      autonomous: tracking(`${fleet.registry}/${REPO}:stable`),
    });
    const daemon = harness.start(configPath);
    await waitForVersion(dataDir, '1', 'v1 installed');

    // v2 on probation, its check failing: the daemon is at work and holds the lock.
    const v2 = await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '2' })], 'stable');
    await eventually(async () => ((await state()).probation?.deployment === (await state()).booted?.id && (await currentVersion(dataDir)) === '2' ? true : undefined), 'v2 on probation');
    const before = await state();
    const refused = await runCliProcess(rollback(1));
    expect(refused.code, refused.stderr).toBe(6);
    expect(refused.stderr).toContain('BOOTFLEET_AGENT_BUSY');
    expect(await state()).toEqual(before);
    expect((await readAudit(dataDir)).entries.at(-1)).toMatchObject({ actor: 'local-cli', action: 'rollback', result: 'refused', code: 'BOOTFLEET_AGENT_BUSY' });

    // A technician who waits goes ahead once the daemon's operation (the probation) has ended.
    const waiting = spawnCli(rollback(60));
    const exited = waitForExit(waiting, 60_000);
    await writeFile(healthy, 'ok');
    const done = await exited;
    expect(done.code, done.stderr).toBe(0);
    const actions = (await state()).history.map((h) => h.action);
    // The daemon's commit came first, whole; the technician's rollback after it (the two slots swapped).
    expect(actions.slice(actions.lastIndexOf('commit'))).toContain('rollback');
    expect(actions.lastIndexOf('rollback')).toBeGreaterThan(actions.lastIndexOf('commit'));

    // The tag still names v2: the daemon applies it again, and commits (the check passes now).
    await eventually(async () => {
      const s = await state();
      return s.booted?.manifestDigest === v2.manifest.digest && s.probation === undefined ? true : undefined;
    }, 'v2 applied again');

    // v3 on probation, the daemon killed with SIGKILL in the middle: its lock is stale, the technician proceeds at once.
    await unlink(healthy);
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '3' })], 'stable');
    await eventually(async () => ((await currentVersion(dataDir)) === '3' && (await state()).probation !== undefined ? true : undefined), 'v3 on probation');
    await daemon.kill('SIGKILL');
    const started = Date.now();
    const after = await runCliProcess(rollback(5));
    expect(after.code, after.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await currentVersion(dataDir)).toBe('2');
    expect((await state()).probation).toBeUndefined();
  }, 90_000);

  it('does not hold the lock while it waits for a maintenance window: a technician command goes ahead at once', async () => {
    const { fleet, dir } = harness;
    const dataDir = join(dir, 'windowed');
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': 'w1' })], 'windowed');
    const configPath = join(dir, 'windowed.json');
    await writeJson(configPath, {
      deviceId: 'locked-2',
      deploy: { dataDir },
      registry: harness.registryConfig(),
      autonomous: tracking(`${fleet.registry}/${REPO}:windowed`, { maintenanceWindows: [closedWindow()] }),
    });
    const daemon = harness.start(configPath);
    await waitForVersion(dataDir, 'w1', 'w1 installed');
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': 'w2' })], 'windowed');
    await eventually(() => (daemon.lines.some((l) => l.event === 'phase' && l.phase === 'waiting') ? true : undefined), 'w2 staged, waiting for its window');
    const status = await runCliProcess(['agent', 'status', '--json', '--data-dir', dataDir]);
    const shown = JSON.parse(status.stdout) as { lock: unknown; staged: { version: string } | null };
    expect(shown.lock).toBeNull();
    expect(shown.staged?.version).toBeDefined();
    const gc = await runCliProcess(['agent', 'gc', '--data-dir', dataDir, '--wait', '0']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(daemon.exited).toBe(false);
  }, 60_000);
});
