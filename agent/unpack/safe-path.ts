/**
 * Entry paths from a tar stream are hostile. `parseEntryPath` turns one into
 * the list of components below the root or throws; `resolveParent` walks the
 * components from the root with lstat, refusing to pass through a symbolic
 * link, so no write can land outside the staging directory (ANCHORS.md,
 * "Known tar-layer attacks").
 */
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { BootfleetError } from '../../protocol/index.js';
import type { UnpackOptions } from './limits.js';

/** Components of an entry path below the root; empty for the root itself (`./`, `.`). */
export function parseEntryPath(raw: string, limits: Pick<UnpackOptions, 'maxDepth' | 'maxPathBytes'>): string[] {
  if (raw.includes('\0')) throw unsafe(raw, 'nul');
  if (raw.startsWith('/')) throw unsafe(raw, 'absolute');
  if (Buffer.byteLength(raw) > limits.maxPathBytes) {
    throw new BootfleetError('BOOTFLEET_UNPACK_TOO_DEEP', `entry ${JSON.stringify(raw.slice(0, 200))} is longer than ${limits.maxPathBytes} bytes`, {
      details: { entry: raw.slice(0, 200), rule: 'max-path-bytes', limit: limits.maxPathBytes },
    });
  }
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw unsafe(raw, 'dot-dot');
  if (parts.length > limits.maxDepth) {
    throw new BootfleetError('BOOTFLEET_UNPACK_TOO_DEEP', `entry ${JSON.stringify(raw.slice(0, 200))} has ${parts.length} components`, {
      details: { entry: raw.slice(0, 200), rule: 'max-depth', limit: limits.maxDepth },
    });
  }
  return parts;
}

function unsafe(entry: string, rule: string): BootfleetError {
  return new BootfleetError('BOOTFLEET_UNPACK_PATH_UNSAFE', `entry ${JSON.stringify(entry.slice(0, 200))} breaks rule ${rule}`, {
    details: { entry: entry.slice(0, 200), rule },
  });
}

export function throughSymlink(entry: string, at: string): BootfleetError {
  return new BootfleetError('BOOTFLEET_UNPACK_THROUGH_SYMLINK', `entry ${JSON.stringify(entry)} would be written through the symlink ${at}`, {
    details: { entry, rule: 'no-write-through-symlink', symlink: at },
  });
}

/**
 * The applier uses synchronous file system calls for metadata: each is a
 * few microseconds on a local disk, where an async call costs a thread-pool
 * round trip that made unpacking many small files 3 to 4 times slower than
 * GNU tar. The event loop still turns between entries, as the tar stream is
 * read asynchronously.
 */
export function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

/**
 * `<dir>/<name>` for a checked component (never empty, `.`, `..` or holding a
 * `/`) below a normalised absolute directory. Not `path.join`: it normalises
 * the whole path again, about 2.5 KiB of garbage strings per call, the largest
 * allocation of an unpack (docs/agent-content.md, "Memory").
 */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * Directories of the staging tree already checked to be real directories
 * (not symlinks) during this layer. Anything that removes a path clears it.
 */
export type VerifiedDirs = Set<string>;

/**
 * The absolute path of the directory holding `parts` (all but the last),
 * every component checked with lstat to be a real directory. Missing
 * directories are made (mode 0755, as tar and umoci do for implicit parents)
 * when `create` is set; otherwise undefined is returned.
 */
export function resolveParent(root: string, parts: readonly string[], entry: string, create: boolean, verified: VerifiedDirs): string | undefined {
  let dir = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i] ?? '';
    const next = childPath(dir, part);
    dir = next;
    if (verified.has(next)) continue;
    const stat = lstatOrUndefined(next);
    if (stat === undefined) {
      if (!create) return undefined;
      mkdirSync(next, { mode: 0o755 });
    } else if (stat.isSymbolicLink()) {
      throw throughSymlink(entry, parts.slice(0, i + 1).join('/'));
    } else if (!stat.isDirectory()) {
      throw new BootfleetError('BOOTFLEET_UNPACK_PATH_UNSAFE', `entry ${JSON.stringify(entry)} has a parent that is not a directory`, {
        details: { entry, rule: 'parent-not-directory', parent: part },
      });
    }
    verified.add(next);
  }
  return dir;
}
