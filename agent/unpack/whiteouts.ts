/**
 * OCI whiteouts (image spec v1.1, "Representing Changes", "Whiteouts"):
 * `.wh.<name>` hides `<name>` from lower layers, `.wh..wh..opq` hides every
 * lower-layer child of its directory. Both act only on lower layers: what the
 * same layer adds stays ("Files that are present in the same layer as a
 * whiteout file can only be hidden by whiteout files in subsequent layers").
 * The `touched` set holds every path this layer wrote and their ancestors.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BootfleetError } from '../../protocol/index.js';
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
export function applyWhiteout(dir: string, dirKey: string, name: string, touched: ReadonlySet<string>, created: ReadonlySet<string>): void {
  const key = joinKey(dirKey, name);
  if (created.has(key)) return;
  if (touched.has(key)) {
    pruneLower(join(dir, name), key, touched);
    return;
  }
  rmSync(join(dir, name), { recursive: true, force: true });
}

/** Removes every child of `dir` this layer did not write (recursively into touched directories). */
export function pruneLower(dir: string, dirKey: string, touched: ReadonlySet<string>): void {
  const stat = lstatOrUndefined(dir);
  if (stat === undefined || !stat.isDirectory()) return;
  for (const child of readdirSync(dir)) {
    const key = joinKey(dirKey, child);
    if (!touched.has(key)) {
      rmSync(join(dir, child), { recursive: true, force: true });
    } else {
      pruneLower(join(dir, child), key, touched);
    }
  }
}

export function joinKey(dirKey: string, name: string): string {
  return dirKey === '' ? name : `${dirKey}/${name}`;
}
