/**
 * OCI whiteouts (image spec v1.1, "Representing Changes", "Whiteouts"):
 * `.wh.<name>` hides `<name>` from lower layers, `.wh..wh..opq` hides every
 * lower-layer child of its directory. Both act only on lower layers: what the
 * same layer adds stays ("Files that are present in the same layer as a
 * whiteout file can only be hidden by whiteout files in subsequent layers").
 * The layer's path tree (layer-paths.ts) holds every path this layer wrote and their ancestors.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BootfleetError } from '../../protocol/index.js';
import { WRITTEN_LEAF, type PathChild } from './layer-paths.js';
import { lstatOrUndefined } from './safe-path.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type WhiteoutName = { readonly kind: 'none' } | { readonly kind: 'opaque' } | { readonly kind: 'whiteout'; readonly target: string };

/** Classifies the last component of an entry path; throws on the malformed forms. */
export function classifyWhiteout(name: string, entry: string): WhiteoutName {
  if (!name.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (name === OPAQUE_MARKER) return { kind: 'opaque' };
  const target = name.slice(WHITEOUT_PREFIX.length);
  // The prefix `.wh..wh.` is reserved for markers; `.wh.` alone names nothing; `.`/`..` would escape.
  const rule =
    target === '' ? 'bare-whiteout' : target.startsWith(WHITEOUT_PREFIX) ? 'reserved-prefix' : target === '.' || target === '..' ? 'whiteout-dot' : undefined;
  if (rule !== undefined) {
    throw new BootfleetError('BOOTFLEET_UNPACK_WHITEOUT_INVALID', `entry ${JSON.stringify(entry)} is an invalid whiteout (${rule})`, {
      details: { entry, rule },
    });
  }
  return { kind: 'whiteout', target };
}

/** Removes `<dir>/<name>` unless this layer made it; keeps what this layer put inside it. */
export function applyWhiteout(dir: string, parent: PathChild | undefined, name: string): void {
  const node = parent === undefined || parent === WRITTEN_LEAF ? undefined : parent.children?.get(name);
  if (node === WRITTEN_LEAF || node?.created === true) return;
  if (node !== undefined) {
    pruneLower(join(dir, name), node);
    return;
  }
  rmSync(join(dir, name), { recursive: true, force: true });
}

/** Removes every child of `dir` this layer did not write (recursively into touched directories). */
export function pruneLower(dir: string, node: PathChild | undefined): void {
  const stat = lstatOrUndefined(dir);
  if (stat === undefined || !stat.isDirectory()) return;
  const children = node === undefined || node === WRITTEN_LEAF ? undefined : node.children;
  for (const child of readdirSync(dir)) {
    const touched = children?.get(child);
    if (touched === undefined) {
      rmSync(join(dir, child), { recursive: true, force: true });
    } else {
      pruneLower(join(dir, child), touched);
    }
  }
}
