/**
 * Probation with real health checks: real commands (/bin/sh), a real HTTP
 * server on 127.0.0.1 port 0, real deployments and the `current` link. A
 * failing required check must roll the device back by itself.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readAudit, type Deployer } from '../../agent/deploy/index.js';
import { runHealthCheck, runProbation, startUp, superviseProbation, type HealthCheck } from '../../agent/health/index.js';
import { currentOsVersion, deviceOnProbation, makeTree, treeSource } from '../helpers/trees.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('bootfleet-health-');
let data: string;
let server: Server | undefined;

beforeEach(() => {
  data = join(dir(), 'data');
});
afterEach(async () => {
  server?.closeAllConnections();
  if (server !== undefined) await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A device on 1.0 (committed) with 2.0 activated and on probation. */
async function onProbation(healthTimeoutMs: number, maxBoots = 3): Promise<Deployer> {
  return deviceOnProbation(data, dir(), { healthTimeoutMs, maxBoots });
}

const currentVersion = (): Promise<string> => currentOsVersion(data);

const sh = (name: string, script: string, required = true, timeoutMs = 5000): HealthCheck => ({ name, kind: 'command', argv: ['/bin/sh', '-c', script], required, timeoutMs });

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const s = createServer(handler);
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/health`;
}

describe('probation', () => {
  it('commits when every required check passes; a failing wanted check only warns', async () => {
    const d = await onProbation(10_000);
    const out = await runProbation({ deployer: d, checks: [sh('app', 'echo app ok'), sh('optional', 'echo meh; exit 1', false)], retryIntervalMs: 50 });
    expect(out.outcome).toBe('committed');
    expect(out.state).toMatchObject({ booted: { version: '2.0' }, rollback: { version: '1.0' } });
    expect(out.health).toEqual([
      expect.objectContaining({ name: 'app', required: true, ok: true, output: 'app ok\n' }),
      expect.objectContaining({ name: 'optional', required: false, ok: false }),
    ]);
    expect(await currentVersion()).toBe('2.0');
  });

  it('rolls back by itself when a required check keeps failing, naming the check and what it printed', async () => {
    const d = await onProbation(600);
    const out = await runProbation({ deployer: d, checks: [sh('database', 'echo connection refused >&2; exit 3')], retryIntervalMs: 100 });
    expect(out.outcome).toBe('rolled-back');
    expect(out.error).toMatchObject({ code: 'BOOTFLEET_HEALTH_CHECK_FAILED', details: { check: 'database' } });
    expect(out.error?.details.output).toContain('connection refused');
    expect(out.health[0]).toMatchObject({ name: 'database', ok: false });
    expect(await currentVersion()).toBe('1.0');
    expect(out.state.booted?.version).toBe('1.0');
    const audit = await readAudit(data);
    expect(audit.entries.at(-1)).toMatchObject({ actor: 'agent', action: 'rollback', code: 'BOOTFLEET_HEALTH_CHECK_FAILED' });
  });

  it('probes HTTP: 200 commits, 503 rolls back with the status in the output', async () => {
    let status = 503;
    const url = await listen((_req, res) => {
      res.writeHead(status).end(status === 200 ? 'ready' : 'warming up');
    });
    const check: HealthCheck = { name: 'http', kind: 'http', url, required: true, timeoutMs: 1000 };
    expect(await runHealthCheck(check)).toMatchObject({ ok: false, output: 'HTTP 503\nwarming up' });
    const d = await onProbation(600);
    expect((await runProbation({ deployer: d, checks: [check], retryIntervalMs: 100 })).outcome).toBe('rolled-back');
    status = 200;
    await d.stage(treeSource(await makeTree(join(dir(), 't3'), '3.0'), '3.0'));
    await d.activate();
    const out = await runProbation({ deployer: d, checks: [check], retryIntervalMs: 100 });
    expect(out).toMatchObject({ outcome: 'committed', health: [{ ok: true, output: 'HTTP 200\nready' }] });
  });

  it('times out a hanging command and a hanging HTTP endpoint', async () => {
    const url = await listen(() => undefined);
    const http = await runHealthCheck({ name: 'hang', kind: 'http', url, required: true, timeoutMs: 150 });
    expect(http).toMatchObject({ ok: false, output: '[timed out after 150 ms]' });
    const cmd = await runHealthCheck(sh('sleepy', 'sleep 5', true, 150));
    expect(cmd.ok).toBe(false);
    expect(cmd.output).toContain('timed out after 150 ms');
    expect(cmd.durationMs).toBeLessThan(2000);
  });

  it('rolls back after maxBoots starts without a commit (boot counter)', async () => {
    const d = await onProbation(60_000, 2);
    await d.countBoot();
    const out = await superviseProbation({ deployer: d, checks: [sh('never-run', 'exit 0')] });
    expect(out.outcome).toBe('rolled-back');
    expect(out.error?.code).toBe('BOOTFLEET_HEALTH_TOO_MANY_BOOTS');
    expect(await currentVersion()).toBe('1.0');
  });

  it('at start-up, recovers and then carries an open probation to its commit', async () => {
    const d = await onProbation(10_000);
    const result = await startUp({ deployer: d, checks: [sh('app', 'true')] });
    expect(result.recovery.outcome).toBe('none');
    expect(result.probation.outcome).toBe('committed');
    expect((await d.status()).history.map((h) => h.action).slice(-2)).toEqual(['boot', 'commit']);
  });

  it('checks once even when the agent starts after the deadline: commits when healthy, rolls back when not', async () => {
    const d = await onProbation(1000);
    const healthy = await runProbation({ deployer: d, checks: [sh('app', 'echo fine')], now: () => Date.now() + 60_000 });
    expect(healthy.outcome).toBe('committed');
    await d.stage(treeSource(await makeTree(join(dir(), 't3'), '3.0'), '3.0'));
    await d.activate();
    const sick = await runProbation({ deployer: d, checks: [sh('app', 'echo broken; exit 1')], now: () => Date.now() + 60_000 });
    expect(sick).toMatchObject({ outcome: 'rolled-back', error: { code: 'BOOTFLEET_HEALTH_CHECK_FAILED', details: { check: 'app' } } });
    expect(await currentVersion()).toBe('2.0');
  });
});
