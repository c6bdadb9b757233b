/**
 * Garbage collection: removes every blob that no manifest named in
 * index.json (a deployment) reaches. Manifests are read back through the
 * store, which verifies them; a damaged one stops gc rather than letting it
 * delete what a deployment still needs.
 */
import { rm } from 'node:fs/promises';
import { MAX_MANIFEST_BYTES, parseDigest, parseManifestDocument, type Descriptor } from '../../protocol/index.js';
import { listInventory } from './inventory.js';
import type { ContentStore } from './store.js';

async function markReachable(store: ContentStore, descriptor: Descriptor, seen: Set<string>): Promise<void> {
  if (seen.has(descriptor.digest)) return;
  seen.add(descriptor.digest);
  if (!(await store.has(descriptor))) return;
  const bytes = await store.readBytes(descriptor, MAX_MANIFEST_BYTES);
  const doc = parseManifestDocument(bytes, descriptor.mediaType);
  if (doc.kind === 'index') {
    for (const child of doc.index.manifests) await markReachable(store, child, seen);
    return;
  }
  seen.add(doc.manifest.config.digest);
  for (const layer of doc.manifest.layers) seen.add(layer.digest);
}

export interface GcResult {
  readonly removed: readonly string[];
  readonly freedBytes: number;
}

export async function collectGarbage(store: ContentStore): Promise<GcResult> {
  const seen = new Set<string>();
  for (const root of (await store.readIndex()).manifests) {
    await markReachable(store, root, seen);
  }
  const removed: string[] = [];
  let freedBytes = 0;
  for (const item of await listInventory(store)) {
    if (seen.has(item.digest)) continue;
    await rm(store.blobPath(parseDigest(item.digest)), { force: true });
    removed.push(item.digest);
    freedBytes += item.size;
  }
  return { removed, freedBytes };
}
