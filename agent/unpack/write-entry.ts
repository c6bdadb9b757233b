/**
 * Materialises one tar entry at a path whose parent was already checked by
 * safe-path. Invariants: an existing entry is removed, never opened for
 * writing (so a hardlink or symlink planted earlier is never written
 * through); files are opened with O_EXCL|O_NOFOLLOW and their owner, mode and
 * times are set on the descriptor; symlinks get lchown/lutimes, never chmod.
 * Metadata calls are synchronous (see safe-path.ts for why).
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { promisify } from 'node:util';
import type { ReadEntry } from 'tar';
import { BootfleetError } from '../../protocol/index.js';
import { lstatOrUndefined, type VerifiedDirs } from './safe-path.js';

const run = promisify(execFile);

export interface EntryMeta {
  readonly entry: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: Date;
  readonly chown: boolean;
}

export function metaOf(entry: ReadEntry, name: string, chownEnabled: boolean): EntryMeta {
  return {
    entry: name,
    mode: (entry.mode ?? 0o644) & 0o7777,
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    mtime: entry.mtime ?? new Date(0),
    chown: chownEnabled,
  };
}

/** Removes whatever is at `path` unless it is a directory and `keepDirectory` is set; true when a directory was kept. */
function clearPath(path: string, keepDirectory: boolean, verified: VerifiedDirs): boolean {
  const stat = lstatOrUndefined(path);
  if (stat === undefined) return false;
  if (keepDirectory && stat.isDirectory()) return true;
  rmSync(path, { recursive: true, force: true });
  verified.clear();
  return false;
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function openNew(path: string, verified: VerifiedDirs): number {
  try {
    return openSync(path, CREATE_FLAGS, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // Something is there (a duplicate entry or a lower layer's file): remove it, never write through it.
  clearPath(path, false, verified);
  return openSync(path, CREATE_FLAGS, 0o600);
}

export async function writeFile(path: string, entry: ReadEntry, meta: EntryMeta, verified: VerifiedDirs): Promise<void> {
  const fd = openNew(path, verified);
  try {
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
    }
    // chown first: it clears setuid/setgid bits, which chmod then sets.
    if (meta.chown) fchownSync(fd, meta.uid, meta.gid);
    fchmodSync(fd, meta.mode);
    futimesSync(fd, meta.mtime, meta.mtime);
  } finally {
    closeSync(fd);
  }
}

/** Makes or keeps a directory; its mtime is set by the caller after its children are written. */
export function writeDirectory(path: string, meta: EntryMeta, verified: VerifiedDirs): void {
  const existed = clearPath(path, true, verified);
  if (!existed) mkdirSync(path, { mode: 0o700 });
  // `path` was just made, or lstat saw a real directory: chmod/chown cannot follow a link here.
  if (meta.chown) chownSync(path, meta.uid, meta.gid);
  chmodSync(path, meta.mode);
  verified.add(path);
}

export function writeSymlink(path: string, target: string, meta: EntryMeta, verified: VerifiedDirs): void {
  clearPath(path, false, verified);
  // Verbatim, absolute targets included: the link is resolved on the booted system, never by us.
  symlinkSync(target, path);
  if (meta.chown) lchownSync(path, meta.uid, meta.gid);
  lutimesSync(path, meta.mtime, meta.mtime);
}

/** `target` is an absolute path inside the tree that the caller checked exists and is no directory. */
export function writeHardlink(path: string, target: string, verified: VerifiedDirs): void {
  if (path === target) return;
  clearPath(path, false, verified);
  linkSync(target, path);
}

const MKNOD_TYPE: Readonly<Record<string, string>> = { CharacterDevice: 'c', BlockDevice: 'b', FIFO: 'p' };

/** Node has no mknod(2); the coreutils binary makes the node, then we set owner and times. */
export async function writeDevice(path: string, entry: ReadEntry, meta: EntryMeta, verified: VerifiedDirs): Promise<void> {
  const kind = MKNOD_TYPE[entry.type];
  if (kind === undefined) throw new BootfleetError('BOOTFLEET_UNPACK_TAR_INVALID', `entry ${meta.entry} has type ${entry.type}`);
  clearPath(path, false, verified);
  const mode = meta.mode.toString(8);
  const numbers = kind === 'p' ? [] : [String(entry.header.devmaj), String(entry.header.devmin)];
  await run('mknod', ['-m', mode, path, kind, ...numbers]);
  if (meta.chown) lchownSync(path, meta.uid, meta.gid);
  lutimesSync(path, meta.mtime, meta.mtime);
}
