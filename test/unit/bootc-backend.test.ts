/**
 * The bootc backend against a RECORDED command runner: bootc is not installed
 * on the CI machine (it needs a bootc-booted host), so these tests replay
 * `bootc status --format=json` output in the host-v1 shape documented by
 * bootc (docs "bootc status", org.containers.bootc/v1 BootcHost) and record
 * the argv the backend runs. They check the commands and the parsing, not bootc.
 */
import { describe, expect, it } from 'vitest';
import { bootcBackend, type CommandResult, type CommandRunner } from '../../agent/deploy/index.js';

const data = '/var/lib/bootfleet-agent';
const ref = (id: string) => ({ id, manifestDigest: `sha256:${'a'.repeat(64)}`, version: '1.0' });
const image = (id: string) => ({ image: { image: { image: `${data}/deployments/${id}/root`, transport: 'oci' }, version: '1.0', imageDigest: `sha256:${'b'.repeat(64)}` }, pinned: false });

function host(status: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'org.containers.bootc/v1', kind: 'BootcHost', metadata: { name: 'host' }, spec: {}, status: { type: 'bootcHost', ...status } });
}

function recordedRunner(statusJson: string, exitCode = 0): { runner: CommandRunner; calls: string[][] } {
  const calls: string[][] = [];
  const runner: CommandRunner = (argv) => {
    calls.push([...argv]);
    const result: CommandResult = { exitCode, timedOut: false, stdout: argv[1] === 'status' ? statusJson : '', stderr: exitCode === 0 ? '' : 'error: boom', durationMs: 1 };
    return Promise.resolve(result);
  };
  return { runner, calls };
}

describe('bootc backend (recorded command runner; bootc is not on this machine)', () => {
  it('maps bootc status slots to deployment ids; staged wins as "current"', async () => {
    const { runner } = recordedRunner(host({ booted: image('a1'), staged: image('b2'), rollback: null }));
    const backend = bootcBackend({ dataDir: data, runner });
    expect(await backend.status()).toEqual({ booted: 'a1', staged: 'b2', rollbackQueued: false });
    expect(await backend.current()).toBe('b2');
  });

  it('switches with `bootc switch --transport oci <deployment root>`', async () => {
    const { runner, calls } = recordedRunner(host({ booted: image('a1'), staged: null, rollback: null }));
    await bootcBackend({ dataDir: data, runner }).switchTo(ref('b2'), 'activate');
    expect(calls.at(-1)).toEqual(['bootc', 'switch', '--transport', 'oci', `${data}/deployments/b2/root`]);
  });

  it('rolls back with `bootc rollback` when bootc\'s rollback slot is the target', async () => {
    const { runner, calls } = recordedRunner(host({ booted: image('b2'), staged: null, rollback: image('a1') }));
    await bootcBackend({ dataDir: data, runner }).switchTo(ref('a1'), 'rollback');
    expect(calls.at(-1)).toEqual(['bootc', 'rollback']);
  });

  it('reports a queued rollback as what runs next, so recovery does not roll back twice', async () => {
    const { runner, calls } = recordedRunner(host({ booted: image('b2'), staged: null, rollback: image('a1'), rollbackQueued: true }));
    const backend = bootcBackend({ dataDir: data, runner });
    expect(await backend.current()).toBe('a1');
    expect(calls.every((c) => c[1] === 'status')).toBe(true);
  });

  it('ignores images bootfleet did not deploy, and refuses malformed status with BOOTFLEET_ACTIVATION_STATUS_INVALID', async () => {
    const foreign = { image: { image: { image: 'quay.io/fedora/fedora-bootc:42', transport: 'registry' } } };
    expect(await bootcBackend({ dataDir: data, runner: recordedRunner(host({ booted: foreign })).runner }).current()).toBeUndefined();
    const broken = bootcBackend({ dataDir: data, runner: recordedRunner('{"apiVersion":"v0"}').runner });
    await expect(broken.current()).rejects.toMatchObject({ code: 'BOOTFLEET_ACTIVATION_STATUS_INVALID' });
  });

  it('turns a failing bootc into BOOTFLEET_ACTIVATION_FAILED with its output', async () => {
    const backend = bootcBackend({ dataDir: data, runner: recordedRunner('', 1).runner });
    await expect(backend.current()).rejects.toMatchObject({ code: 'BOOTFLEET_ACTIVATION_FAILED', details: { output: 'error: boom' } });
  });
});
