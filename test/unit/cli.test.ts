import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleDesiredState } from '../helpers/messages.js';
import { captureCli, type CliRun } from '../helpers/cli-capture.js';
import { useTempDir } from '../helpers/temp-dir.js';

function run(...argv: string[]): Promise<CliRun> {
  return captureCli(argv);
}

const dir = useTempDir('bootfleet-cli-');

describe('bootfleet CLI (in process)', () => {
  it('shows help for the program and every group', async () => {
    const top = await run('--help');
    expect(top.code).toBe(0);
    for (const group of ['server', 'agent', 'keys', 'image', 'campaign', 'device']) {
      expect(top.out).toContain(group);
      const help = await run(group, '--help');
      expect(help.code, group).toBe(0);
      expect(help.out).toContain(`Usage: bootfleet ${group}`);
    }
  });

  it('exits 2 on a wrong command line', async () => {
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('keys', 'generate')).code).toBe(2);
    expect((await run('agent')).code).toBe(2);
  });

  it('generates, signs and verifies; refuses to overwrite a key', async () => {
    const prefix = join(dir(), 'builder');
    const gen = await run('keys', 'generate', '-o', prefix, '-a', 'ed25519');
    expect(gen.code).toBe(0);
    expect(JSON.parse(gen.out)).toMatchObject({ algorithm: 'ed25519' });
    expect((await run('keys', 'generate', '-o', prefix)).code).toBe(4);

    await writeFile(join(dir(), 'm.json'), '{"b":2,"a":1}');
    const bundlePath = join(dir(), 'm.bundle');
    expect((await run('keys', 'sign', join(dir(), 'm.json'), '-k', `${prefix}.key`, '-o', bundlePath)).code).toBe(0);
    const verified = await run('keys', 'verify', bundlePath, '-k', `${prefix}.pub`);
    expect(verified.code).toBe(0);
    expect(verified.out).toBe('{"a":1,"b":2}\n');
    expect(verified.err).toContain('verified');

    const other = join(dir(), 'other');
    await run('keys', 'generate', '-o', other);
    const wrongKey = await run('keys', 'verify', bundlePath, '-k', `${other}.pub`);
    expect(wrongKey.code).toBe(3);
    expect(wrongKey.err).toContain('BOOTFLEET_SIG_KEY_UNKNOWN');

    const bundle = JSON.parse(await readFile(bundlePath, 'utf8')) as { dsseEnvelope: { payload: string } };
    bundle.dsseEnvelope.payload = Buffer.from('{"a":1,"b":3}').toString('base64');
    await writeFile(bundlePath, JSON.stringify(bundle));
    const tampered = await run('keys', 'verify', bundlePath, '-k', `${prefix}.pub`);
    expect(tampered.code).toBe(3);
    expect(tampered.err).toContain('BOOTFLEET_SIG_INVALID');
  });

  it('signs and verifies a device message with its claims', async () => {
    const prefix = join(dir(), 'server');
    await run('keys', 'generate', '-o', prefix);
    const message = sampleDesiredState();
    await writeFile(join(dir(), 'desired.json'), JSON.stringify(message));
    const signed = await run('keys', 'sign', join(dir(), 'desired.json'), '-k', `${prefix}.key`, '--kind', 'desired-state');
    expect(signed.code).toBe(0);
    await writeFile(join(dir(), 'desired.bundle'), signed.out);
    const base = ['keys', 'verify', join(dir(), 'desired.bundle'), '-k', `${prefix}.pub`, '--kind', 'desired-state'];
    const now = String(message.issuedAt + 60);
    expect((await run(...base, '--device', 'dev-1', '--now', now)).code).toBe(0);
    const other = await run(...base, '--device', 'dev-2', '--now', now);
    expect(other.code).toBe(3);
    expect(other.err).toContain('BOOTFLEET_SIG_WRONG_DEVICE');
    expect((await run(...base, '--device', 'dev-1', '--now', now, '--last-seq', '7')).err).toContain('BOOTFLEET_SIG_REPLAYED');
    expect((await run(...base, '--device', 'dev-1', '--now', String(message.expiresAt + 3600))).err).toContain('BOOTFLEET_SIG_EXPIRED');
    expect((await run(...base, '--now', now)).code).toBe(2);
    expect((await run(...base, '--device', 'dev-1', '--now', 'yesterday')).code).toBe(2);
    await writeFile(join(dir(), 'bad.json'), JSON.stringify({ ...message, seq: -1 }));
    const bad = await run('keys', 'sign', join(dir(), 'bad.json'), '-k', `${prefix}.key`, '--kind', 'desired-state');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('BOOTFLEET_MESSAGE_INVALID');
  });

  it('names unreadable input files', async () => {
    const result = await run('keys', 'sign', join(dir(), 'nope.json'), '-k', join(dir(), 'nope.key'));
    expect(result.code).toBe(1);
    expect(result.err).toContain('BOOTFLEET_FILE_UNREADABLE');
  });

  it('prints a device topic table', async () => {
    const result = await run('device', 'topics', 'dev-1');
    expect(result.code).toBe(0);
    const lines = result.out.trim().split('\n').map((l) => JSON.parse(l) as { topic: string; retain: boolean });
    expect(lines.map((l) => l.topic)).toContain('bootfleet/v1/devices/dev-1/desired');
    expect((await run('device', 'topics', '#')).code).toBe(1);
  });
});
