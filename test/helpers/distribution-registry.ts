/**
 * A real, independent OCI registry for tests: Debian's `docker-registry`
 * (CNCF Distribution 2.8) on 127.0.0.1, storage in a temporary directory,
 * optionally behind htpasswd basic auth (bcrypt, made with bcryptjs). Images
 * are pushed into it with real skopeo from OCI layouts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { request } from 'undici';
import { freePort } from './ports.js';

const run = promisify(execFile);

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly stop: () => Promise<void>;
}


async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}`);
    try {
      const response = await request(url);
      await response.body.dump();
      if (response.statusCode === 200 || response.statusCode === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('docker-registry did not become ready within 15 s');
}

export async function startRegistry(binary: string, auth?: { username: string; password: string }): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'bf-registry-'));
  const port = await freePort();
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}` },
  };
  if (auth !== undefined) {
    writeFileSync(join(dir, 'htpasswd'), `${auth.username}:${bcrypt.hashSync(auth.password, 6)}\n`);
    config.auth = { htpasswd: { realm: 'bootfleet-test', path: join(dir, 'htpasswd') } };
  }
  // JSON is YAML: the registry reads this file as its configuration.
  writeFileSync(join(dir, 'config.yml'), JSON.stringify(config));
  const child = spawn(binary, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.resume();
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(`http://127.0.0.1:${port}/v2/`, child);
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: `127.0.0.1:${port}`, stop };
}

/** `skopeo copy oci:<layout>:<tag> docker://<host>/<repo>:<tag>`, digests preserved; `all` copies a whole index. */
export async function pushLayout(skopeo: string, layout: string, tag: string, target: string, creds?: { username: string; password: string }, all = false): Promise<void> {
  const args = ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', ...(all ? ['--all'] : [])];
  if (creds !== undefined) args.push('--dest-creds', `${creds.username}:${creds.password}`);
  await run(skopeo, [...args, `oci:${layout}:${tag}`, `docker://${target}`], { timeout: 60_000 });
}
