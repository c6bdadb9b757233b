/**
 * Materialises one tar entry at a path whose parent was already checked by
 * safe-path. Invariants: an existing entry is removed, never opened for
 * writing (so a hardlink or symlink planted earlier is never written
 * through); files are opened with O_EXCL|O_NOFOLLOW and their owner, mode and
 * times are set on the descriptor; symlinks get lchown/lutimes, never chmod.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, chown, lchown, link, lutimes, mkdir, open, rm, symlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ReadEntry } from 'tar';
import { BootfleetError } from '../../protocol/index.js';
import { lstatOrUndefined } from './safe-path.js';

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

/** Removes whatever is at `path` unless it is a directory and `keepDirectory` is set. */
async function clearPath(path: string, keepDirectory: boolean): Promise<boolean> {
  const stat = await lstatOrUndefined(path);
  if (stat === undefined) return false;
  if (keepDirectory && stat.isDirectory()) return true;
  await rm(path, { recursive: true, force: true });
  return false;
}

export async function writeFile(path: string, entry: ReadEntry, meta: EntryMeta): Promise<void> {
  await clearPath(path, false);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(path, flags, 0o600);
  try {
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      await handle.write(chunk);
    }
    // chown first: it clears setuid/setgid bits, which chmod then sets.
    if (meta.chown) await handle.chown(meta.uid, meta.gid);
    await handle.chmod(meta.mode);
    await handle.utimes(meta.mtime, meta.mtime);
  } finally {
    await handle.close();
  }
}

/** Makes or keeps a directory; its mtime is set by the caller after its children are written. */
export async function writeDirectory(path: string, meta: EntryMeta): Promise<void> {
  const existed = await clearPath(path, true);
  if (!existed) await mkdir(path, { mode: 0o700 });
  // `path` was just made, or lstat saw a real directory: chmod/chown cannot follow a link here.
  if (meta.chown) await chown(path, meta.uid, meta.gid);
  await chmod(path, meta.mode);
}

export async function writeSymlink(path: string, target: string, meta: EntryMeta): Promise<void> {
  await clearPath(path, false);
  // Verbatim, absolute targets included: the link is resolved on the booted system, never by us.
  await symlink(target, path);
  if (meta.chown) await lchown(path, meta.uid, meta.gid);
  await lutimes(path, meta.mtime, meta.mtime);
}

/** `target` is an absolute path inside the tree that the caller checked exists and is no directory. */
export async function writeHardlink(path: string, target: string): Promise<void> {
  if (path === target) return;
  await clearPath(path, false);
  await link(target, path);
}

const MKNOD_TYPE: Readonly<Record<string, string>> = { CharacterDevice: 'c', BlockDevice: 'b', FIFO: 'p' };

/** Node has no mknod(2); the coreutils binary makes the node, then we set owner and times. */
export async function writeDevice(path: string, entry: ReadEntry, meta: EntryMeta): Promise<void> {
  const kind = MKNOD_TYPE[entry.type];
  if (kind === undefined) throw new BootfleetError('BOOTFLEET_UNPACK_TAR_INVALID', `entry ${meta.entry} has type ${entry.type}`);
  await clearPath(path, false);
  const mode = meta.mode.toString(8);
  const numbers = kind === 'p' ? [] : [String(entry.header.devmaj), String(entry.header.devmin)];
  await run('mknod', ['-m', mode, path, kind, ...numbers]);
  if (meta.chown) await lchown(path, meta.uid, meta.gid);
  await lutimes(path, meta.mtime, meta.mtime);
}
