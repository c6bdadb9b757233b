/**
 * What one layer wrote, kept as a tree of path components for the whole layer:
 * whiteout semantics need it (whiteouts.ts), and directory mtimes are set from
 * it once the layer is done. A tree stores each component once; the former
 * sets of joined paths (`created`, `touched` with every ancestor, absolute
 * paths for mtimes) held two to three strings per entry and made the V8 heap
 * grow by about 20 MiB over a 76 800-entry layer (docs/agent-content.md,
 * "Memory").
 */
import { lutimes } from 'node:fs/promises';
import { join } from 'node:path';

/** A path this layer wrote as something other than a directory, with nothing below it. */
export const WRITTEN_LEAF = true;

/** A directory this layer wrote (`created`) or that holds something it wrote. */
export interface PathNode {
  created: boolean;
  /** Milliseconds since the epoch to set once the layer is done; NaN when none. */
  mtimeMs: number;
  children: Map<string, PathChild> | undefined;
}

export type PathChild = PathNode | typeof WRITTEN_LEAF;

export function newPathNode(created: boolean): PathNode {
  return { created, mtimeMs: Number.NaN, children: undefined };
}

/** The node of `parts` (root-relative components) when this layer touched it. */
export function findNode(root: PathNode, parts: readonly string[], count = parts.length): PathChild | undefined {
  let node: PathChild = root;
  for (let i = 0; i < count; i++) {
    if (node === WRITTEN_LEAF) return undefined;
    const next: PathChild | undefined = node.children?.get(parts[i] ?? '');
    if (next === undefined) return undefined;
    node = next;
  }
  return node;
}

function childDirectory(node: PathNode, name: string): PathNode {
  node.children ??= new Map();
  const existing = node.children.get(name);
  if (existing !== undefined && existing !== WRITTEN_LEAF) return existing;
  // A leaf this layer wrote that now has children below it is a directory again (tar order allows it).
  const dir = newPathNode(existing === WRITTEN_LEAF);
  node.children.set(name, dir);
  return dir;
}

/**
 * Records that this layer wrote `parts`: a directory with its mtime, or
 * anything else. A non-directory replaces whatever was recorded there: the
 * writer removed it from the disk, and a directory's mtime must never be set
 * through what took its place (a symlink could point outside the root).
 */
export function markWritten(root: PathNode, parts: readonly string[], directoryMtimeMs: number | undefined): void {
  let node = root;
  for (let i = 0; i < parts.length - 1; i++) node = childDirectory(node, parts[i] ?? '');
  const name = parts[parts.length - 1] ?? '';
  if (directoryMtimeMs === undefined) {
    node.children ??= new Map();
    node.children.set(name, WRITTEN_LEAF);
    return;
  }
  const dir = childDirectory(node, name);
  dir.created = true;
  dir.mtimeMs = directoryMtimeMs;
}

/**
 * Records a non-directory written at `parts` when nothing lies below this
 * layer (see LayerState.lowerEmpty): no leaf is kept, since no whiteout can
 * hide anything, but a directory recorded there is dropped, as markWritten
 * does, so that its mtime is never set through what replaced it.
 */
export function forgetReplaced(root: PathNode, parts: readonly string[]): void {
  const parent = findNode(root, parts, parts.length - 1);
  if (parent === undefined || parent === WRITTEN_LEAF) return;
  const name = parts[parts.length - 1] ?? '';
  if (parent.children?.get(name) !== undefined) parent.children.delete(name);
}

/**
 * Sets the recorded directory mtimes, children before their parent, so that
 * setting a parent's time is the last change to it. `lutimes` never follows
 * a final symlink; markWritten dropped every directory a non-directory replaced.
 */
export async function setDirectoryTimes(dir: string, node: PathNode): Promise<void> {
  if (node.children !== undefined) {
    for (const [name, child] of node.children) {
      if (child !== WRITTEN_LEAF) await setDirectoryTimes(join(dir, name), child);
    }
  }
  if (!Number.isNaN(node.mtimeMs)) {
    const time = node.mtimeMs / 1000;
    await lutimes(dir, time, time);
  }
}
