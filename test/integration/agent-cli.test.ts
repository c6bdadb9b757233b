/**
 * Field-technician commands through the real CLI code (`runCli`) on real
 * files, with no server and no network: status, rollback, factory reset,
 * history; every action lands in the audit log, refused ones included.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { readAudit } from '../../agent/deploy/index.js';
import { captureCli, type CliRun } from '../helpers/cli-capture.js';
import { currentOsVersion, deviceOnProbation } from '../helpers/trees.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('bootfleet-agent-cli-');
let data: string;

beforeEach(async () => {
  data = join(dir(), 'data');
  await (await deviceOnProbation(data, dir())).commit();
});

function cli(...args: string[]): Promise<CliRun> {
  return captureCli(args);
}

const currentVersion = (): Promise<string> => currentOsVersion(data);

describe('bootfleet agent (local, offline)', () => {
  it('status --json shows the slots like bootc status', async () => {
    const { code, out } = await cli('agent', 'status', '--json', '--data-dir', data);
    expect(code).toBe(0);
    const status = JSON.parse(out) as Record<string, { version: string; id: string } | null | string>;
    expect(status).toMatchObject({ kind: 'AgentStatus', backend: 'rootfs', booted: { version: '2.0' }, rollback: { version: '1.0' }, factory: { version: '1.0' }, staged: null });
    expect(status.current).toBe((status.booted as { id: string }).id);
    const readable = await cli('agent', 'status', '--data-dir', data);
    expect(readable.out).toMatch(/^booted: +2\.0 /m);
  });

  it('rolls back, factory-resets, undoes the reset, and audits each action', async () => {
    expect((await cli('agent', 'rollback', '--data-dir', data, '--reason', 'customer complaint')).code).toBe(0);
    expect(await currentVersion()).toBe('1.0');
    expect((await cli('agent', 'rollback', '--data-dir', data)).code).toBe(0);
    expect(await currentVersion()).toBe('2.0');
    const reset = await cli('agent', 'factory-reset', '--data-dir', data);
    expect(reset.code).toBe(0);
    expect(JSON.parse(reset.out)).toMatchObject({ booted: { version: '1.0' }, probation: { cause: 'factory-reset' } });
    expect(await currentVersion()).toBe('1.0');
    expect((await cli('agent', 'rollback', '--data-dir', data)).code).toBe(0);
    expect(await currentVersion()).toBe('2.0');
    const audit = await readAudit(data);
    expect(audit.entries.map((e) => [e.actor, e.action, e.result])).toEqual([
      ['local-cli', 'rollback', 'ok'],
      ['local-cli', 'rollback', 'ok'],
      ['local-cli', 'factory-reset', 'ok'],
      ['local-cli', 'rollback', 'ok'],
    ]);
    const history = await cli('agent', 'history', '--data-dir', data);
    expect(history.out.trim().split('\n').map((l) => (JSON.parse(l) as { kind: string }).kind)).toContain('audit');
  });

  it('refuses an impossible action with exit code 5, changes nothing, and audits the refusal', async () => {
    expect((await cli('agent', 'factory-reset', '--data-dir', data)).code).toBe(0);
    const before = await readFile(join(data, 'state.json'), 'utf8');
    const again = await cli('agent', 'factory-reset', '--data-dir', data);
    expect(again.code).toBe(5);
    expect(again.err).toContain('BOOTFLEET_TRANSITION_INVALID');
    expect(await readFile(join(data, 'state.json'), 'utf8')).toBe(before);
    expect((await readAudit(data)).entries.at(-1)).toMatchObject({ action: 'factory-reset', result: 'refused', code: 'BOOTFLEET_TRANSITION_INVALID' });
  });

  it('verify recomputes every kept tree and fails on an altered one', async () => {
    const ok = await cli('agent', 'verify', '--data-dir', data);
    expect(ok.code).toBe(0);
    expect(ok.out.trim().split('\n').map((l) => JSON.parse(l) as { slot: string; ok: boolean })).toEqual([
      expect.objectContaining({ slot: 'booted', ok: true }),
      expect.objectContaining({ slot: 'rollback', ok: true }),
      expect.objectContaining({ slot: 'factory', ok: true }),
    ]);
    await writeFile(join(data, 'current/etc/os-release'), 'VERSION_ID=evil\n');
    const bad = await cli('agent', 'verify', '--data-dir', data);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('BOOTFLEET_DEPLOYMENT_INCOMPLETE');
    expect(bad.out).toContain('"slot":"booted","id"');
    expect((await readAudit(data)).entries.at(-1)).toMatchObject({ action: 'verify', result: 'failed', code: 'BOOTFLEET_DEPLOYMENT_INCOMPLETE' });
  });

  it('reads the data directory from the deploy section of a configuration file and rejects a bad one', async () => {
    const config = join(dir(), 'agent.json');
    await writeFile(config, JSON.stringify({ deploy: { dataDir: data, healthTimeoutSeconds: 60 }, registry: { ignored: true } }));
    expect(JSON.parse((await cli('agent', 'status', '--json', '--config', config)).out)).toMatchObject({ booted: { version: '2.0' } });
    await writeFile(config, JSON.stringify({ deploy: { backend: 'floppy' } }));
    const bad = await cli('agent', 'status', '--config', config);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('BOOTFLEET_CONFIG_INVALID');
  });
});
