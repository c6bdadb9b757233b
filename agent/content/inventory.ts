/**
 * What the store holds, for the device's reports: the server computes each
 * device's missing bytes from it before a campaign starts. Only names that
 * are valid digests count; anything else in `blobs/` is ignored.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type DigestString } from '../../protocol/index.js';
import type { ContentStore } from './store.js';

export interface InventoryItem {
  readonly digest: DigestString;
  readonly size: number;
}

export async function listInventory(store: ContentStore): Promise<InventoryItem[]> {
  const items: InventoryItem[] = [];
  for (const algorithm of ['sha256', 'sha512']) {
    let names: string[];
    try {
      names = await readdir(join(store.root, 'blobs', algorithm));
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const digest = `${algorithm}:${name}`;
      if (!isDigest(digest)) continue;
      const info = await stat(join(store.root, 'blobs', algorithm, name));
      if (info.isFile()) items.push({ digest, size: info.size });
    }
  }
  return items;
}
