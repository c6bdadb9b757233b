/**
 * Sets the extended attributes a layer carries (found by pax-xattrs.ts) on
 * the entries it wrote, as `umoci unpack` does when it can. Node has no
 * setxattr(2): the `setfattr` tool (Debian `attr`) does it, with `-h` so that
 * a symlink's own attributes are set and no link is ever followed, and the
 * value as hex so that binary values (a file capability) survive argv.
 *
 * Only `security.capability` (file capabilities: a `ping` without setuid) and
 * `user.*` are applied, and only when running as root (the same condition as
 * ownership: a capability set by another user would not be honoured) with
 * `setfattr` on PATH, on files and directories (not symlinks); every attribute is also reported, applied or not, so
 * the deployment records what the image asked for (docs/agent-content.md,
 * "Extended attributes").
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BootfleetError } from '../../protocol/index.js';
import type { UnpackOptions } from './limits.js';
import type { EntryXattrs } from './pax-xattrs.js';
import { childPath, lstatOrUndefined, parseEntryPath, resolveParent, type VerifiedDirs } from './safe-path.js';

const run = promisify(execFile);

/** Bound on one setfattr call (10_000 ms). */
const SETFATTR_TIMEOUT_MS = 10_000;

export function isAppliedXattr(name: string): boolean {
  return name === 'security.capability' || (name.startsWith('user.') && name.length > 'user.'.length);
}

/**
 * Applies the attributes of `found` under `root`. The entry path goes through
 * the same checks as when it was written (no `..`, no symlink parent); an
 * entry that is gone (removed later in the same layer) is skipped.
 */
async function applyXattrs(root: string, found: readonly EntryXattrs[], options: UnpackOptions, setfattr: string): Promise<void> {
  const verified: VerifiedDirs = new Set();
  for (const entry of found) {
    const parts = parseEntryPath(entry.path, options);
    if (parts.length === 0) continue;
    const parent = resolveParent(root, parts, entry.path, false, verified);
    if (parent === undefined) continue;
    const target = childPath(parent, parts[parts.length - 1] ?? '');
    const stat = lstatOrUndefined(target);
    // Gone (removed later in the layer), or a symlink: Linux refuses user.* on links, and a capability on one means nothing.
    if (stat === undefined || stat.isSymbolicLink()) continue;
    for (const [name, value] of entry.xattrs) {
      if (!isAppliedXattr(name)) continue;
      try {
        await run(setfattr, ['-h', '-n', name, '-v', `0x${value.toString('hex')}`, '--', target], { timeout: SETFATTR_TIMEOUT_MS });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
        throw new BootfleetError('BOOTFLEET_UNPACK_XATTR_FAILED', `cannot set ${name} on ${JSON.stringify(entry.path)}`, { cause: error, details: { entry: entry.path, name } });
      }
    }
  }
}

/**
 * Applies what a layer carries when running as root; true when applied. No
 * `setfattr` on PATH (ENOENT) means not applied: the attributes are still
 * reported in the result, for the deployment to record.
 */
export async function applyLayerXattrs(root: string, found: readonly EntryXattrs[], options: UnpackOptions, setfattr = 'setfattr'): Promise<boolean> {
  if (found.length === 0 || !options.preserveOwnership) return false;
  try {
    await applyXattrs(root, found, options, setfattr);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
