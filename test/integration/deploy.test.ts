/**
 * The deployment pipeline on real files: deployment directories, the state
 * file, the `current` symlink, a real activation command, garbage collection,
 * recovery of a written intent. In process; the crash harness kills real
 * processes (crash-consistency.test.ts).
 */
import { mkdtemp, readFile, readlink, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planActivate } from '../../protocol/index.js';
import { Deployer, readState, recover, rootfsBackend, treeDigest, verifyDeployment, writeState } from '../../agent/deploy/index.js';
import { makeTree, treeSource } from '../helpers/trees.js';

let dir: string;
let data: string;
const trees: Record<string, string> = {};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootfleet-deploy-'));
  data = join(dir, 'data');
  for (const v of ['1.0', '2.0', '3.0']) trees[v] = await makeTree(join(dir, `tree-${v}`), v);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function deployer(activation?: { argv: string[]; timeoutMs: number }): Deployer {
  return new Deployer({ dataDir: data, backend: rootfsBackend({ dataDir: data, ...(activation === undefined ? {} : { activation }) }), healthTimeoutMs: 60_000 });
}

async function currentVersion(): Promise<string> {
  return (await readFile(join(data, 'current/etc/os-release'), 'utf8')).split('VERSION_ID=')[1]?.trim() ?? '';
}

describe('deployments on disk with the rootfs backend', () => {
  it('provisions, stages, activates, commits, rolls back and factory-resets, switching the current link each time', async () => {
    const marker = join(dir, 'activations.log');
    const d = deployer({ argv: ['/bin/sh', '-c', `readlink ${join(data, 'current')} >> ${marker}`], timeoutMs: 5000 });
    await d.provision(treeSource(trees['1.0'] ?? '', '1.0'));
    expect(await currentVersion()).toBe('1.0');
    const staged = await d.stage(treeSource(trees['2.0'] ?? '', '2.0'));
    expect(staged.staged?.version).toBe('2.0');
    expect(await currentVersion()).toBe('1.0');
    const active = await d.activate();
    expect(await currentVersion()).toBe('2.0');
    expect(active.probation?.previous?.version).toBe('1.0');
    expect((await readFile(marker, 'utf8')).trim()).toMatch(/^deployments\/[^/]+\/root$/);
    const committed = await d.commit();
    expect(committed).toMatchObject({ booted: { version: '2.0' }, rollback: { version: '1.0' }, factory: { version: '1.0' } });
    await d.stage(treeSource(trees['3.0'] ?? '', '3.0'));
    await d.activate();
    const back = await d.rollback('health');
    expect(await currentVersion()).toBe('2.0');
    expect(back).toMatchObject({ booted: { version: '2.0' }, rollback: { version: '1.0' } });
    // The failed 3.0 deployment is collected: only booted, rollback and factory remain (1.0 is both).
    expect((await readdir(join(data, 'deployments'))).sort()).toEqual([back.booted?.id, back.rollback?.id].sort());
    const reset = await d.factoryReset();
    expect(await currentVersion()).toBe('1.0');
    expect(reset.probation).toMatchObject({ cause: 'factory-reset', previous: { version: '2.0' } });
    const undone = await d.rollback('technician');
    expect(await currentVersion()).toBe('2.0');
    expect(undone.booted?.version).toBe('2.0');
    expect((await readFile(marker, 'utf8')).trim().split('\n')).toHaveLength(5);
  });

  it('records the tree digest at staging and detects a changed tree', async () => {
    const d = deployer();
    const state = await d.provision(treeSource(trees['1.0'] ?? '', '1.0'));
    const booted = state.booted;
    if (booted === undefined) throw new Error('not provisioned');
    const record = await verifyDeployment(data, booted);
    expect(record.treeDigest).toBe((await treeDigest(trees['1.0'] ?? '')).value);
    await writeFile(join(data, 'current/usr/bin/app'), 'tampered');
    await expect(verifyDeployment(data, booted)).rejects.toMatchObject({ code: 'BOOTFLEET_DEPLOYMENT_INCOMPLETE' });
    await expect(d.factoryReset()).rejects.toMatchObject({ code: 'BOOTFLEET_TRANSITION_INVALID' });
  });

  it('refuses a manifest that does not match its digest, writing nothing', async () => {
    const d = deployer();
    await d.provision(treeSource(trees['1.0'] ?? '', '1.0'));
    const before = await readFile(join(data, 'state.json'), 'utf8');
    const source = { ...treeSource(trees['2.0'] ?? '', '2.0'), manifestBytes: Buffer.from('{}') };
    await expect(d.stage(source)).rejects.toMatchObject({ code: 'BOOTFLEET_DIGEST_INVALID' });
    expect(await readFile(join(data, 'state.json'), 'utf8')).toBe(before);
    expect(await readdir(join(data, 'deployments'))).toHaveLength(1);
  });

  it('reports a corrupt state file as BOOTFLEET_STATE_CORRUPT and never resets it', async () => {
    const d = deployer();
    await d.provision(treeSource(trees['1.0'] ?? '', '1.0'));
    await writeFile(join(data, 'state.json'), '{"schemaVersion":1,');
    await expect(readState(data)).rejects.toMatchObject({ code: 'BOOTFLEET_STATE_CORRUPT' });
    await expect(d.stage(treeSource(trees['2.0'] ?? '', '2.0'))).rejects.toMatchObject({ code: 'BOOTFLEET_STATE_CORRUPT' });
    expect(await readFile(join(data, 'state.json'), 'utf8')).toBe('{"schemaVersion":1,');
  });

  it('fails the activation with BOOTFLEET_ACTIVATION_FAILED when the command times out', async () => {
    const d = deployer({ argv: ['/bin/sleep', '5'], timeoutMs: 100 });
    await d.provision(treeSource(trees['1.0'] ?? '', '1.0'));
    await d.stage(treeSource(trees['2.0'] ?? '', '2.0'));
    await expect(d.activate()).rejects.toMatchObject({ code: 'BOOTFLEET_ACTIVATION_FAILED', details: { timedOut: true } });
  });

  it('recovery finishes an activation whose intent was written before a crash', async () => {
    const d = deployer();
    await d.provision(treeSource(trees['1.0'] ?? '', '1.0'));
    const staged = await d.stage(treeSource(trees['2.0'] ?? '', '2.0'));
    const pending = planActivate(staged, { nowMs: Date.now(), healthTimeoutMs: 1000, maxBoots: 3 });
    await writeState(data, staged, { ...staged, pending, generation: staged.generation + 1 }, 'test');
    const result = await recover(d);
    expect(result.outcome).toBe('finished');
    expect(await currentVersion()).toBe('2.0');
    expect((await readState(data)).booted?.version).toBe('2.0');
    expect((await recover(d)).outcome).toBe('none');
  });

  it('recovery repoints a current link that disagrees with the state', async () => {
    const d = deployer();
    await d.provision(treeSource(trees['1.0'] ?? '', '1.0'));
    const staged = await d.stage(treeSource(trees['2.0'] ?? '', '2.0'));
    await rm(join(data, 'current'));
    expect((await recover(d)).outcome).toBe('relinked');
    expect(await readlink(join(data, 'current'))).toBe(`deployments/${staged.booted?.id ?? ''}/root`);
  });

  it('persists accepted sequences across restarts and refuses a replay', async () => {
    await deployer().acceptSequences({ desired: 7, command: 3 });
    const restarted = deployer();
    expect(await restarted.status()).toMatchObject({ lastDesiredSeq: 7, lastCommandSeq: 3 });
    await expect(restarted.acceptSequences({ desired: 7 })).rejects.toMatchObject({ code: 'BOOTFLEET_SIG_REPLAYED' });
  });
});
