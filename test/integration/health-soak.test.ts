/**
 * The soak window of a probation (docs/protocol.md 7, `policy.soakSeconds`) with real deployments, real
 * commands (/bin/sh) and the `current` link: the first all-green round opens the window, the commit comes
 * at its end, a required failure inside it rolls back, and a restart continues the window from the time
 * recorded in the state file.
 */
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Deployer } from '../../agent/deploy/index.js';
import type { CommandRunner } from '../../agent/deploy/command-runner.js';
import { runProbation, startUp, type HealthCheck } from '../../agent/health/index.js';
import { eventually } from '../helpers/agent-daemon.js';
import { currentOsVersion, deviceOnProbation } from '../helpers/trees.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('bootfleet-soak-');
let data: string;

beforeEach(() => {
  data = join(dir(), 'data');
});

/** A device on 1.0 (committed) with 2.0 activated, on probation with a soak window. */
async function onProbation(healthTimeoutMs: number, soakMs: number, now?: () => number): Promise<Deployer> {
  return deviceOnProbation(data, dir(), { healthTimeoutMs, soakMs, ...(now === undefined ? {} : { now }) });
}

const currentVersion = (): Promise<string> => currentOsVersion(data);

/** Passes while `file` exists. */
const whileExists = (file: string): HealthCheck => ({ name: 'app', kind: 'command', argv: ['test', '-f', file], required: true, timeoutMs: 2_000 });

describe('soak window', () => {
  it('commits only at the end of the window, the checks green all along', async () => {
    const healthy = join(dir(), 'healthy');
    await writeFile(healthy, 'ok');
    // The deadline (300 ms) passes inside the window (800 ms): once the window is open it no longer applies.
    const d = await onProbation(300, 800);
    expect((await d.status()).probation?.soakMs).toBe(800);
    const started = Date.now();
    const out = await runProbation({ deployer: d, checks: [whileExists(healthy)], retryIntervalMs: 100 });
    expect(out.outcome).toBe('committed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(out.state.history.map((h) => h.action).slice(-2)).toEqual(['soak', 'commit']);
    expect(await currentVersion()).toBe('2.0');
  });

  it('gives the rounds at the end of the window their full timeout: a slow green check there commits', async () => {
    // A clock that moves only while a check runs (50 ms a check), so the last round starts 20 ms before
    // the window's end, as a round does on a loaded machine. A check given less than 50 ms times out.
    let clock = Date.now();
    const timeouts: number[] = [];
    const slowGreen: CommandRunner = (_argv, o) => {
      timeouts.push(o.timeoutMs);
      clock += 50;
      const timedOut = o.timeoutMs < 50;
      return Promise.resolve({ exitCode: timedOut ? null : 0, timedOut, stdout: '', stderr: '', durationMs: 50 });
    };
    const d = await onProbation(60_000, 120, () => clock);
    const out = await runProbation({ deployer: d, checks: [whileExists('/unused')], runner: slowGreen, retryIntervalMs: 100, now: () => clock });
    expect(out.outcome).toBe('committed');
    expect(timeouts.length).toBeGreaterThanOrEqual(3);
    // The first round (before the window) may be cut to the deadline's 60 s; none inside the window is cut.
    expect(timeouts.slice(1).every((t) => t === 2_000)).toBe(true);
    expect(await currentVersion()).toBe('2.0');
  });

  it('rolls back when a required check fails inside the window, before the probation deadline', async () => {
    const healthy = join(dir(), 'healthy');
    await writeFile(healthy, 'ok');
    const d = await onProbation(60_000, 30_000);
    const running = runProbation({ deployer: d, checks: [whileExists(healthy)], retryIntervalMs: 50 });
    await eventually(async () => (await d.status()).probation?.soakStartedAtMs, 'soak window open');
    await unlink(healthy);
    const out = await running;
    expect(out.outcome).toBe('rolled-back');
    expect(out.error).toMatchObject({ code: 'BOOTFLEET_HEALTH_CHECK_FAILED', details: { check: 'app', during: 'soak' } });
    expect(await currentVersion()).toBe('1.0');
    expect(out.state.probation).toBeUndefined();
  });

  it('a restart continues the window from the time on disk instead of opening it again', async () => {
    const healthy = join(dir(), 'healthy');
    await writeFile(healthy, 'ok');
    // The window opened 5 s ago (a clock 5 s behind), lasting 3 s: after a restart the first green round commits.
    const d = await onProbation(60_000, 3_000, () => Date.now() - 5_000);
    await d.startSoak();
    const opened = (await d.status()).probation?.soakStartedAtMs;
    const started = Date.now();
    const result = await startUp({ deployer: d, checks: [whileExists(healthy)], retryIntervalMs: 50 });
    expect(result.probation.outcome).toBe('committed');
    expect(Date.now() - started).toBeLessThan(3_000);
    const actions = result.probation.state.history.map((h) => h.action);
    expect(actions.slice(-3)).toEqual(['soak', 'boot', 'commit']);
    expect(opened).toBeLessThan(started - 4_000);
  });

  it('a restart inside the window still rolls back at once on a failing check', async () => {
    const d = await onProbation(60_000, 60_000);
    await d.startSoak();
    const sick = await startUp({ deployer: d, checks: [whileExists(join(dir(), 'missing'))], retryIntervalMs: 50 });
    expect(sick.probation).toMatchObject({ outcome: 'rolled-back', error: { code: 'BOOTFLEET_HEALTH_CHECK_FAILED', details: { during: 'soak' } } });
    expect(await currentVersion()).toBe('1.0');
  });
});
