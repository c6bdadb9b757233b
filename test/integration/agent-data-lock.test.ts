/**
 * The data directory's lock (agent/deploy/data-lock.ts) between real processes: a second taker waits and
 * then fails with BOOTFLEET_AGENT_BUSY; a holder killed with SIGKILL leaves a stale file the next taker
 * breaks; a pid that now names another process (pid reuse), a lock from another boot and garbage are stale;
 * processes competing for it never overlap (a read-modify-write counter loses no increment).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireDataLock, DATA_LOCK_FILE, dataLockHolder } from '../../agent/deploy/data-lock.js';
import { waitForExit } from '../helpers/cli-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const LOCK_MODULE = fileURLToPath(new URL('../../dist/agent/deploy/data-lock.js', import.meta.url));

const scratch = useTempDir('bootfleet-lock-');
// `dir` is also the name the child processes' scripts below use.
let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = scratch();
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** A node process running `body` with `acquireDataLock` in scope; its stdout is collected. */
function nodeWith(body: string): ChildProcess & { out: () => string } {
  const script = `import { acquireDataLock } from ${JSON.stringify(LOCK_MODULE)};\nconst dir = ${JSON.stringify(dir)};\n${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { out: () => out });
}

async function until(probe: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('data directory lock', () => {
  it('makes a second process wait, then fail with BOOTFLEET_AGENT_BUSY naming the holder', async () => {
    const holder = nodeWith(`const lock = await acquireDataLock(dir, { owner: 'holder', waitMs: 0 }); console.log('locked'); setTimeout(async () => { await lock.release(); console.log('released'); }, 60_000);`);
    await until(() => holder.out().includes('locked'), 'the holder');
    const started = Date.now();
    await expect(acquireDataLock(dir, { owner: 'test', waitMs: 400, pollMs: 50 })).rejects.toMatchObject({
      code: 'BOOTFLEET_AGENT_BUSY',
      details: { pid: holder.pid, owner: 'holder' },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect((await dataLockHolder(dir))?.pid).toBe(holder.pid);
    holder.kill('SIGTERM');
    await waitForExit(holder);
  });

  it('a holder killed with SIGKILL leaves its file; the next taker breaks it at once', async () => {
    const holder = nodeWith(`await acquireDataLock(dir, { owner: 'doomed', waitMs: 0 }); console.log('locked'); setInterval(() => {}, 1000);`);
    await until(() => holder.out().includes('locked'), 'the holder');
    holder.kill('SIGKILL');
    await waitForExit(holder);
    expect(JSON.parse(await readFile(join(dir, DATA_LOCK_FILE), 'utf8'))).toMatchObject({ pid: holder.pid, owner: 'doomed' });
    expect(await dataLockHolder(dir)).toBeUndefined();
    const started = Date.now();
    const lock = await acquireDataLock(dir, { owner: 'next', waitMs: 0 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(JSON.parse(await readFile(join(dir, DATA_LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, owner: 'next' });
    await lock.release();
  });

  it('treats a reused pid, a lock from another boot and garbage as stale', async () => {
    const sleeper = spawn('sleep', ['30']);
    children.push(sleeper);
    const lockPath = join(dir, DATA_LOCK_FILE);
    // A live pid, but a process that started at another time than the one that wrote the lock: its pid was reused.
    await writeFile(lockPath, JSON.stringify({ pid: sleeper.pid, startTicks: '1', owner: 'old', atMs: 1, nonce: 'a' }));
    await (await acquireDataLock(dir, { owner: 'x', waitMs: 0 })).release();
    await writeFile(lockPath, JSON.stringify({ pid: process.pid, bootId: '00000000-0000-0000-0000-000000000000', owner: 'old', atMs: 1, nonce: 'b' }));
    await (await acquireDataLock(dir, { owner: 'x', waitMs: 0 })).release();
    await writeFile(lockPath, 'not json');
    await (await acquireDataLock(dir, { owner: 'x', waitMs: 0 })).release();
    // The live sleeper with no start time recorded is a live holder.
    await writeFile(lockPath, JSON.stringify({ pid: sleeper.pid, owner: 'live', atMs: 1, nonce: 'c' }));
    await expect(acquireDataLock(dir, { owner: 'x', waitMs: 0 })).rejects.toMatchObject({ code: 'BOOTFLEET_AGENT_BUSY' });
  });

  it('processes competing for the lock never overlap: a read-modify-write counter loses nothing', async () => {
    const counter = join(dir, 'counter');
    await writeFile(counter, '0');
    const rounds = 8;
    const body = `import { readFile, writeFile } from 'node:fs/promises';
for (let i = 0; i < ${rounds}; i++) {
  const lock = await acquireDataLock(dir, { owner: 'worker', waitMs: 20000, pollMs: 5 });
  const n = Number(await readFile(${JSON.stringify(counter)}, 'utf8'));
  await new Promise((r) => setTimeout(r, 2));
  await writeFile(${JSON.stringify(counter)}, String(n + 1));
  await lock.release();
}`;
    const workers = [0, 1, 2, 3].map(() => nodeWith(body));
    const done = await Promise.all(workers.map((w) => waitForExit(w, 30_000)));
    for (const d of done) expect(d.code, d.stderr).toBe(0);
    expect(Number(await readFile(counter, 'utf8'))).toBe(4 * rounds);
  }, 40_000);
});
