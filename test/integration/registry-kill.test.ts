/**
 * An upload survives `kill -9` of the server in the middle of a chunk: the
 * server runs as its own process (the built CLI, `npm test` builds it), is
 * killed while a PATCH is streaming, restarted on the same data directory,
 * and the client resumes from the offset the server reports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobOf, deviceAuth, operatorAuth, registryServerConfig, tempDir } from '../helpers/registry.js';
import { freePort, waitUntilReady } from '../helpers/ports.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const built = existsSync(CLI);
if (!built && process.env.CI === 'true') throw new Error(`${CLI} is missing: CI runs \`npm test\`, which builds first`);
if (!built) console.warn('SKIPPING registry-kill.test.ts: run `npm run build` first (npm test does)');



describe.skipIf(!built)('upload across kill -9 of the server', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    dir = await tempDir('bootfleet-reg-kill-');
  });
  afterEach(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    child = undefined;
    await dir.remove();
  });

  async function start(configFile: string, base: string): Promise<void> {
    child = spawn(process.execPath, [CLI, 'server', 'start', '--config', configFile], { stdio: 'ignore' });
    await waitUntilReady(base);
  }

  it('resumes from the acknowledged offset after the server was killed mid-chunk', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const configFile = join(dir.path, 'server.json');
    await writeFile(configFile, JSON.stringify({ ...registryServerConfig(join(dir.path, 'data')), http: { host: '127.0.0.1', port } }));
    const blob = blobOf(randomBytes(2 * 1024 * 1024 + 5));
    const half = 1024 * 1024;
    await start(configFile, base);

    const started = await fetch(`${base}/v2/fleet/os/blobs/uploads/`, { method: 'POST', headers: operatorAuth });
    const location = started.headers.get('location') ?? '';
    const first = await fetch(`${base}${location}`, { method: 'PATCH', headers: { ...operatorAuth, 'content-range': `0-${half - 1}` }, body: blob.bytes.subarray(0, half) });
    expect(first.status).toBe(202);

    // Stream part of the second chunk, then kill -9 the server while the request is open.
    const req = request(`${base}${location}`, { method: 'PATCH', headers: { ...operatorAuth, 'content-range': `${half}-${blob.size - 1}`, 'content-length': blob.size - half } });
    req.on('error', () => undefined);
    await new Promise<void>((resolve) => req.write(blob.bytes.subarray(half, half + 400_000), () => { resolve(); }));
    const killed = new Promise((r) => child?.once('exit', r));
    child?.kill('SIGKILL');
    await killed;
    req.destroy();

    await start(configFile, base);
    const status = await fetch(`${base}${location}`, { headers: operatorAuth });
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${half - 1}`);
    const rest = await fetch(`${base}${location}?digest=${blob.digest}`, {
      method: 'PUT',
      headers: { ...operatorAuth, 'content-range': `${half}-${blob.size - 1}` },
      body: blob.bytes.subarray(half),
    });
    expect(rest.status).toBe(201);
    const pulled = await fetch(`${base}/v2/fleet/os/blobs/${blob.digest}`, { headers: deviceAuth });
    expect(Buffer.from(await pulled.arrayBuffer()).equals(blob.bytes)).toBe(true);
  });
});
