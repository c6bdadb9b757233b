/**
 * The soak window (docs/protocol.md 7) in the real daemon: `bootfleet agent run` as a child process in
 * autonomous mode against the server's embedded registry, `deploy.soakSeconds` set. The update commits only
 * at the window's end, a kill -9 inside the window is followed by a restart that continues the same window
 * (its start is on disk, the boot is counted), and a check that flips to failing inside the window rolls
 * the device back.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentState } from '../../protocol/index.js';
import { currentVersion, eventually, fileCheck, layerOf, pushTestImage, tracking, waitForVersion, writeJson } from '../helpers/agent-daemon.js';
import { useDaemonFleet } from '../helpers/daemon-fleet.js';

const REPO = 'fleet/soak';
const SOAK_SECONDS = 4;

describe('agent daemon, soak window', () => {
  const harness = useDaemonFleet('bootfleet-soak-daemon-');
  const state = async (dataDir: string): Promise<AgentState> => JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as AgentState;

  it('commits at the end of the window, across a kill -9 inside it; a check failing inside the window rolls back', async () => {
    const { fleet, dir } = harness;
    const dataDir = join(dir, 'agent');
    const healthy = join(dir, 'healthy');
    await writeFile(healthy, 'ok');
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '1' })], 'stable');
    const configPath = join(dir, 'agent.json');
    await writeJson(configPath, {
      deviceId: 'soak-1',
      deploy: { dataDir, healthTimeoutSeconds: 60, soakSeconds: SOAK_SECONDS, healthChecks: [fileCheck('app', healthy)] },
      healthRetryIntervalMs: 200,
      registry: harness.registryConfig(),
      autonomous: tracking(`${fleet.registry}/${REPO}:stable`),
    });
    const first = harness.start(configPath);
    await waitForVersion(dataDir, '1', 'v1 installed');

    const v2 = await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '2' })], 'stable');
    const opened = await eventually(async () => (await state(dataDir)).probation?.soakStartedAtMs, 'v2 soaking');
    // Killed inside the window: nothing committed yet.
    await first.kill('SIGKILL');
    expect((await state(dataDir)).probation).toMatchObject({ soakStartedAtMs: opened, soakMs: SOAK_SECONDS * 1000 });
    harness.start(configPath);
    const committed = await eventually(async () => {
      const s = await state(dataDir);
      return s.probation === undefined ? s : undefined;
    }, 'v2 committed after its window');
    expect(committed.booted?.manifestDigest).toBe(v2.manifest.digest);
    const history = committed.history.slice(-3);
    expect(history.map((h) => h.action)).toEqual(['soak', 'boot', 'commit']);
    // The restart continued the window opened before the kill: the commit comes at its end, not a window after the restart.
    expect(history[0]?.atMs).toBe(opened);
    expect(history[2]?.atMs).toBeGreaterThanOrEqual(opened + SOAK_SECONDS * 1000);
    expect(history[2]?.atMs).toBeLessThan((history[1]?.atMs ?? 0) + SOAK_SECONDS * 1000);

    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '3' })], 'stable');
    await eventually(async () => ((await state(dataDir)).probation?.soakStartedAtMs === undefined ? undefined : true), 'v3 soaking');
    await unlink(healthy);
    const second = harness.agent;
    await eventually(() => (second.lines.some((l) => l.event === 'phase' && l.phase === 'rolled-back' && l.code === 'BOOTFLEET_HEALTH_CHECK_FAILED') ? true : undefined), 'v3 rolled back');
    expect(await currentVersion(dataDir)).toBe('2');
    expect((await state(dataDir)).probation).toBeUndefined();
  }, 60_000);
});
