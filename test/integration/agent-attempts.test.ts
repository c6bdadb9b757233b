/**
 * The attempt counter (agent/pipeline/attempts.ts) with the real pipeline on
 * real files: an image whose required health check fails is rolled back each
 * time; after `maxAttempts` failures it is not tried again (not even staged)
 * and the outcome says so with BOOTFLEET_UPDATE_ATTEMPTS_EXHAUSTED; a newer
 * image is tried and its success clears the count; `bootfleet agent apply`
 * (an operator command) tries the exhausted image again.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { importArchive } from '../../agent/archive/index.js';
import { ContentStore } from '../../agent/content/store.js';
import { Deployer, rootfsBackend } from '../../agent/deploy/index.js';
import type { HealthCheck } from '../../agent/health/checks.js';
import { attemptsFor, runUpdate, type PipelineContext, type PipelineEvent, type UpdateTarget } from '../../agent/pipeline/index.js';
import { runCli } from '../../cli/program.js';
import { runCliProcess } from '../helpers/cli-process.js';
import type { UpdatePolicy } from '../../protocol/index.js';
import { currentVersion } from '../helpers/agent-daemon.js';
import { writeArchiveLayout } from '../helpers/archive-layout.js';
import { makeTree, treeSource } from '../helpers/trees.js';
import { useTempDir } from '../helpers/temp-dir.js';

const BROKEN: HealthCheck = { name: 'broken', kind: 'command', argv: ['sh', '-c', 'echo unhealthy; exit 1'], required: true, timeoutMs: 5_000 };
const POLICY: UpdatePolicy = { downloadOnly: false, allowDowngrade: false, healthTimeoutSeconds: 1, maxAttempts: 2 };

const dir = useTempDir('bootfleet-attempts-');
let data: string;
let layout: string;

beforeEach(async () => {
  data = join(dir(), 'data');
  layout = join(dir(), 'layout');
  await mkdir(layout);
  writeArchiveLayout(layout, [
    { tag: 'v2', version: '2.0' },
    { tag: 'v3', version: '3.0' },
  ]);
  await new Deployer({ dataDir: data, backend: rootfsBackend({ dataDir: data }) }).provision(treeSource(await makeTree(join(dir(), 't1'), '1.0'), '1.0'));
});

async function context(checks: readonly HealthCheck[], events: PipelineEvent[]): Promise<PipelineContext> {
  return {
    store: await ContentStore.open(data),
    deployer: new Deployer({ dataDir: data, backend: rootfsBackend({ dataDir: data }), healthTimeoutMs: 600 }),
    pull: {},
    checks,
    emit: (event) => events.push(event),
    now: Date.now,
    healthRetryIntervalMs: 50,
  };
}

async function target(ctx: PipelineContext, name: string): Promise<UpdateTarget> {
  const imported = await importArchive(ctx.store, layout, { name });
  return { registry: 'oci-archive', repository: 'layout', digest: imported.manifest.digest, policy: POLICY, prepared: { manifest: imported.manifest, signatures: [] } };
}

function phases(events: readonly PipelineEvent[]): string[] {
  return events.flatMap((e) => (e.event === 'phase' ? [e.phase] : []));
}

describe('the attempt counter', () => {
  it('stops trying an image after maxAttempts rollbacks, until a newer image or an operator', async () => {
    const events: PipelineEvent[] = [];
    const ctx = await context([BROKEN], events);
    const v2 = await target(ctx, 'v2');
    for (let i = 1; i <= 2; i++) {
      const outcome = await runUpdate(ctx, v2);
      expect(outcome.phase).toBe('rolled-back');
      expect(outcome.error?.code).toMatch(/^BOOTFLEET_HEALTH_/);
      expect(await attemptsFor(data, v2.digest)).toBe(i);
    }
    events.length = 0;
    const exhausted = await runUpdate(ctx, v2);
    expect(exhausted.phase).toBe('failed');
    expect(exhausted.error?.code).toBe('BOOTFLEET_UPDATE_ATTEMPTS_EXHAUSTED');
    expect(exhausted.error?.details).toMatchObject({ attempts: 2, maxAttempts: 2 });
    // Not tried again: nothing verified, staged or activated; the failure is reported as a phase.
    expect(phases(events)).toEqual(['failed']);
    expect(await ctx.deployer.status()).toMatchObject({ booted: { version: '1.0' } });
    let out = '';
    expect(await runCli(['agent', 'status', '--json', '--data-dir', data], { out: (s) => (out += s), err: () => undefined })).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ attempts: { digest: v2.digest, failures: 2 } });

    const healthy = await context([], []);
    const v3 = await target(healthy, 'v3');
    expect((await runUpdate(healthy, v3)).phase).toBe('succeeded');
    expect(await currentVersion(data)).toBe('3.0');
    await expect(stat(join(data, 'attempts.json'))).rejects.toThrow();
  });

  it('counts a rollback at the daemon\'s next start (the probation it left open failed) as a failed attempt', async () => {
    const deployer = new Deployer({ dataDir: data, backend: rootfsBackend({ dataDir: data }), healthTimeoutMs: 300 });
    await deployer.stage(treeSource(await makeTree(join(dir(), 't2'), '2.0'), '2.0'));
    const onProbation = await deployer.activate();
    const digest = onProbation.booted?.manifestDigest ?? expect.fail('nothing booted');
    const config = join(dir(), 'daemon.json');
    // The tag cannot be resolved (nothing listens on port 1): the run is only its start-up.
    await writeFile(config, JSON.stringify({ deviceId: 'd1', deploy: { dataDir: data, healthChecks: [BROKEN] }, healthRetryIntervalMs: 50, autonomous: { image: '127.0.0.1:1/none:tag' } }));
    const run = await runCliProcess(['agent', 'run', '--once', '--config', config]);
    expect(run.stdout).toContain('"outcome":"rolled-back"');
    expect(await attemptsFor(data, digest)).toBe(1);
  });

  it('is cleared by bootfleet agent apply, which tries the image again', async () => {
    const ctx = await context([BROKEN], []);
    const v2 = await target(ctx, 'v2');
    await runUpdate(ctx, v2);
    await runUpdate(ctx, v2);
    expect((await runUpdate(ctx, v2)).error?.code).toBe('BOOTFLEET_UPDATE_ATTEMPTS_EXHAUSTED');
    const config = join(dir(), 'agent.json');
    await writeFile(config, JSON.stringify({ deploy: { dataDir: data, healthTimeoutSeconds: 1, healthChecks: [BROKEN] }, healthRetryIntervalMs: 50 }));
    let err = '';
    const code = await runCli(['agent', 'apply', '--archive', layout, '--name', 'v2', '--config', config], { out: () => undefined, err: (s) => (err += s) });
    expect(code).toBe(1);
    expect(err).toMatch(/BOOTFLEET_HEALTH_(CHECK_FAILED|DEADLINE)/);
    expect(err).not.toContain('ATTEMPTS_EXHAUSTED');
    expect(await attemptsFor(data, v2.digest)).toBe(1);
  });
});
