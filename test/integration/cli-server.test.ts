import { stat } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH, runCliProcess, spawnCli, waitForExit, waitForStderr } from '../helpers/cli-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('bootfleet-server-');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

async function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnCli(['server', 'start', '--data-dir', dataDir, '--port', '0', '--mqtt-port', '0', '--host', '127.0.0.1', '--log-level', 'warn']);
  children.push(child);
  const match = await waitForStderr(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return { child, url: match[1] ?? '' };
}

describe('bootfleet executable', () => {
  it('runs from dist with stable exit codes', async () => {
    const help = await runCliProcess(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: bootfleet');
    const usage = await runCliProcess(['keys', 'generate']);
    expect(usage.code).toBe(2);
    const gen = await runCliProcess(['keys', 'generate', '-o', join(dir(), 'k')]);
    expect(gen.code).toBe(0);
    expect((await stat(join(dir(), 'k.key'))).mode & 0o777).toBe(0o600);
    expect((await runCliProcess(['keys', 'generate', '-o', join(dir(), 'k')])).code).toBe(4);
  });

  it('starts the server, answers health and key requests, stops on SIGTERM and keeps its key', async () => {
    const dataDir = join(dir(), 'data');
    const first = await startServer(dataDir);
    const health = await fetch(`${first.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${first.url}/readyz`)).json()).toEqual({ status: 'ready' });
    const keys = (await (await fetch(`${first.url}/api/v1/signing-keys`)).json()) as { keys: { keyId: string; publicKeyPem: string }[] };
    expect(keys.keys[0]?.publicKeyPem).toContain('BEGIN PUBLIC KEY');
    // Under /api/ a token comes first, so an unknown route reveals nothing to a stranger.
    expect((await fetch(`${first.url}/api/v1/nothing-here`)).status).toBe(401);
    // Metrics need a token like the API; the API document does not.
    expect((await fetch(`${first.url}/metrics`)).status).toBe(401);
    expect(await (await fetch(`${first.url}/docs/openapi.json`)).json()).toMatchObject({ openapi: '3.1.0' });
    const notFound = await fetch(`${first.url}/nothing-here`);
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ code: 'BOOTFLEET_NOT_FOUND' });
    first.child.kill('SIGTERM');
    expect((await waitForExit(first.child)).code).toBe(0);
    expect((await stat(join(dataDir, 'keys', 'server.key'))).mode & 0o777).toBe(0o600);

    const second = await startServer(dataDir);
    const again = (await (await fetch(`${second.url}/api/v1/signing-keys`)).json()) as { keys: { keyId: string }[] };
    expect(again.keys[0]?.keyId).toBe(keys.keys[0]?.keyId);
    second.child.kill('SIGINT');
    expect((await waitForExit(second.child)).code).toBe(0);
  });

  it('refuses an invalid configuration with a clear code', async () => {
    const result = await runCliProcess(['server', 'start', '--data-dir', join(dir(), 'd'), '--port', '70000', '--mqtt-port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('BOOTFLEET_CONFIG_INVALID');
  });
});

describe('bootfleet output into a closed pipe', () => {
  it('ends quietly when the reader goes away (`bootfleet keys verify ... | head -c 100`)', async () => {
    const { spawnSync } = await import('node:child_process');
    const { writeFile } = await import('node:fs/promises');
    // 3 MiB of payload: far more than a pipe buffer, so the writer is still writing when head exits.
    await writeFile(join(dir(), 'big.json'), JSON.stringify({ items: Array.from({ length: 30_000 }, (_, i) => `item-${i}-${'x'.repeat(90)}`) }));
    expect((await runCliProcess(['keys', 'generate', '-o', join(dir(), 'k')])).code).toBe(0);
    expect((await runCliProcess(['keys', 'sign', join(dir(), 'big.json'), '-k', join(dir(), 'k.key'), '-o', join(dir(), 'big.bundle')])).code).toBe(0);
    const cmd = `node ${JSON.stringify(CLI_PATH)} keys verify ${JSON.stringify(join(dir(), 'big.bundle'))} -k ${JSON.stringify(join(dir(), 'k.pub'))} | head -c 100; echo " status=\${PIPESTATUS:-}"`;
    const result = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { encoding: 'utf8', timeout: 20_000 });
    expect(result.stderr).not.toContain('EPIPE');
    expect(result.status).toBe(0);
    expect(result.stdout.startsWith('{"items":["item-0-')).toBe(true);
  });
});
