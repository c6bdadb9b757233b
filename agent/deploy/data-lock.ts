/**
 * One lock on the agent's data directory (docs/agent-deployment.md, "One writer at a time"), so that the
 * daemon and a technician's `bootfleet agent rollback|factory-reset|apply|...` never interleave their
 * transitions. The lock is the file `<data>/agent.lock`, naming its holder: pid, the process's start time
 * (field 22 of /proc/<pid>/stat) and the boot id. It appears whole or not at all: the holder writes a
 * private file and hard-links it to the lock's name (link(2) fails when the name exists, as O_EXCL).
 *
 * A lock is stale when its holder is gone: another boot, no such pid, or a pid reused by a process that
 * started at another time (a holder killed with SIGKILL leaves its file behind). Breaking a stale lock is
 * itself serialised by `<data>/agent.lock.break` (O_EXCL), under which the lock is read again and removed
 * only if it still holds the same bytes, so two takers never remove each other's fresh lock.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BootfleetError } from '../../protocol/index.js';

export const DATA_LOCK_FILE = 'agent.lock';
const BREAK_FILE = 'agent.lock.break';
/** A break file older than this was left by a taker killed while breaking (it takes milliseconds). */
const BREAK_STALE_MS = 10_000;
const LOCK_MAX_BYTES = 4096;

export interface LockHolder {
  readonly pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  readonly startTicks?: string;
  readonly bootId?: string;
  /** Who: `daemon`, or the CLI command (`agent rollback`). */
  readonly owner: string;
  readonly atMs: number;
  readonly nonce: string;
}

export interface AcquireOptions {
  readonly owner: string;
  /** How long to wait for a live holder before BOOTFLEET_AGENT_BUSY (0: do not wait). */
  readonly waitMs: number;
  /** Pause between two looks at a held lock (default 100 ms). */
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
}

export class DataLock {
  constructor(
    private readonly path: string,
    private readonly bytes: string,
  ) {}

  /** Removes the lock if it is still ours (it can only have been broken if this process was thought dead). */
  async release(): Promise<void> {
    const now = await readLock(this.path);
    if (now?.raw === this.bytes) await unlink(this.path).catch(ignoreMissing);
  }
}

/** Takes the lock, waiting up to `waitMs` for a live holder; stale locks are broken on the way. */
export async function acquireDataLock(dataDir: string, options: AcquireOptions): Promise<DataLock> {
  const path = join(dataDir, DATA_LOCK_FILE);
  const me: LockHolder = { pid: process.pid, ...(await identity(process.pid)), owner: options.owner, atMs: Date.now(), nonce: randomBytes(12).toString('hex') };
  const bytes = JSON.stringify(me);
  // A first `agent apply` may come before anything made the data directory.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + options.waitMs;
  const pollMs = options.pollMs ?? 100;
  // Bounded by the deadline; the count bound covers a clock that does not move.
  for (let attempt = 0; attempt < 1_000_000; attempt += 1) {
    if (await tryLock(dataDir, path, me.nonce, bytes)) return new DataLock(path, bytes);
    const held = await readLock(path);
    if (held === undefined) continue;
    if (held.holder === undefined || !(await isAlive(held.holder))) {
      await breakStale(dataDir, path, held.raw);
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw busy(dataDir, held.holder, options.waitMs);
    await sleep(Math.min(pollMs, left), undefined, options.signal === undefined ? {} : { signal: options.signal });
  }
  throw new BootfleetError('BOOTFLEET_AGENT_BUSY', `could not take the lock of ${dataDir}`);
}

/** One try: the holder's bytes in a private file, hard-linked to the lock's name; the private name is gone right after. */
async function tryLock(dataDir: string, path: string, nonce: string, bytes: string): Promise<boolean> {
  const temp = join(dataDir, `.${DATA_LOCK_FILE}.${nonce}`);
  await writeFile(temp, bytes, { mode: 0o600 });
  try {
    return await linkExclusive(temp, path);
  } finally {
    await unlink(temp).catch(ignoreMissing);
  }
}

/** Runs `fn` holding the lock; releases it whatever happens. */
export async function withDataLock<T>(dataDir: string, options: AcquireOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireDataLock(dataDir, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** The holder of the data directory's lock, if a live one holds it (for `agent status`). */
export async function dataLockHolder(dataDir: string): Promise<LockHolder | undefined> {
  const held = await readLock(join(dataDir, DATA_LOCK_FILE));
  return held?.holder !== undefined && (await isAlive(held.holder)) ? held.holder : undefined;
}

function busy(dataDir: string, holder: LockHolder, waitMs: number): BootfleetError {
  return new BootfleetError('BOOTFLEET_AGENT_BUSY', `${dataDir} is locked by ${holder.owner} (pid ${holder.pid}) since ${new Date(holder.atMs).toISOString()}; waited ${waitMs} ms`, {
    details: { pid: holder.pid, owner: holder.owner, sinceMs: holder.atMs, waitedMs: waitMs },
  });
}

async function linkExclusive(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function breakStale(dataDir: string, path: string, staleBytes: string): Promise<void> {
  const breaker = join(dataDir, BREAK_FILE);
  try {
    await writeFile(breaker, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const since = await stat(breaker).then((s) => s.mtimeMs, () => undefined);
    if (since !== undefined && Date.now() - since > BREAK_STALE_MS) await unlink(breaker).catch(ignoreMissing);
    else await sleep(10);
    return;
  }
  try {
    if ((await readLock(path))?.raw === staleBytes) await unlink(path).catch(ignoreMissing);
  } finally {
    await unlink(breaker).catch(ignoreMissing);
  }
}

/** The lock's bytes and, when they parse, its holder; undefined when there is no lock. Hostile bytes are only compared, never trusted. */
async function readLock(path: string): Promise<{ raw: string; holder?: LockHolder } | undefined> {
  let raw: string;
  try {
    raw = (await readFile(path)).subarray(0, LOCK_MAX_BYTES).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const holder = parseHolder(raw);
  return holder === undefined ? { raw } : { raw, holder };
}

function parseHolder(raw: string): LockHolder | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockHolder>;
    if (!Number.isSafeInteger(value.pid) || typeof value.owner !== 'string' || typeof value.nonce !== 'string' || typeof value.atMs !== 'number') return undefined;
    return value as LockHolder;
  } catch {
    return undefined;
  }
}

async function isAlive(holder: LockHolder): Promise<boolean> {
  const now = await identity(holder.pid);
  if (holder.bootId !== undefined && now.bootId !== undefined && holder.bootId !== now.bootId) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: the pid exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  return holder.startTicks === undefined || now.startTicks === undefined || holder.startTicks === now.startTicks;
}

/** The boot id and the process's start time, where /proc provides them (Linux). */
async function identity(pid: number): Promise<{ startTicks?: string; bootId?: string }> {
  const [statLine, bootId] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined), readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => undefined)]);
  // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
  const fields = statLine?.slice(statLine.lastIndexOf(')') + 2).split(' ');
  const startTicks = fields?.[19];
  return { ...(startTicks === undefined ? {} : { startTicks }), ...(bootId === undefined ? {} : { bootId: bootId.trim() }) };
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
