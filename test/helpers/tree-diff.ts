/**
 * A filesystem tree as comparable data: for every path its type, permission
 * bits (including setuid, setgid, sticky), link target and content hash.
 * Used to compare our unpack with umoci's.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface TreeEntry {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly mode: string;
  readonly target?: string;
  readonly sha256?: string;
}

export function describeTree(root: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const key = prefix === '' ? name : `${prefix}/${name}`;
      const stat = lstatSync(path);
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isSymbolicLink()) out[key] = { type: 'symlink', mode: 'link', target: readlinkSync(path) };
      else if (stat.isDirectory()) {
        out[key] = { type: 'dir', mode };
        walk(path, key);
      } else if (stat.isFile()) out[key] = { type: 'file', mode, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
      else out[key] = { type: 'other', mode };
    }
  };
  walk(root, '');
  return out;
}
