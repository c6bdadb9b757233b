/**
 * `bootfleet image gc`: mark and sweep over the blob store. Marked: every
 * stored manifest, and every blob and child manifest a stored manifest names.
 * Swept: unmarked blobs older than the grace period (a push uploads its blobs
 * before its manifest, so a young unreferenced blob is a push in progress),
 * upload sessions older than `uploadMaxAgeMs`, and stray upload files.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Registry } from './registry.js';

export interface GcOptions {
  /** Unreferenced blobs younger than this stay, in milliseconds. */
  readonly graceMs: number;
  /** Upload sessions older than this are cancelled, in milliseconds. */
  readonly uploadMaxAgeMs: number;
  readonly dryRun: boolean;
  readonly now: number;
}

export interface GcResult {
  readonly removedBlobs: string[];
  readonly removedBytes: number;
  readonly keptBlobs: number;
  readonly removedUploads: number;
}

export async function collectGarbage(registry: Registry, options: GcOptions): Promise<GcResult> {
  const marked = await markReferenced(registry);
  const removedBlobs: string[] = [];
  let removedBytes = 0;
  let keptBlobs = 0;
  for await (const { digest, info } of registry.store.list()) {
    if (marked.has(digest.value) || options.now - info.mtimeMs < options.graceMs) {
      keptBlobs += 1;
      continue;
    }
    removedBlobs.push(digest.value);
    removedBytes += info.size;
    if (!options.dryRun) await registry.store.remove(digest);
  }
  if (!options.dryRun) await registry.meta.unlinkEverywhere(new Set(removedBlobs));
  const removedUploads = await sweepUploads(registry, options);
  return { removedBlobs, removedBytes, keptBlobs, removedUploads };
}

async function markReferenced(registry: Registry): Promise<Set<string>> {
  const marked = new Set<string>();
  for await (const record of registry.meta.manifests()) {
    marked.add(record.digest);
    for (const digest of [...record.blobs, ...record.children]) marked.add(digest);
  }
  return marked;
}

async function sweepUploads(registry: Registry, options: GcOptions): Promise<number> {
  const live = new Set<string>();
  let removed = 0;
  for await (const session of registry.meta.sessions()) {
    // Every session's file is handled here, kept or cancelled, never again as a stray.
    live.add(session.id);
    if (options.now - session.startedAt < options.uploadMaxAgeMs) continue;
    removed += 1;
    if (!options.dryRun) await registry.uploads.cancel(session.name, session.id);
  }
  const dir = join(registry.store.root, 'uploads');
  for (const name of await readdir(dir)) {
    if (live.has(name)) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || options.now - info.mtimeMs < options.graceMs) continue;
    removed += 1;
    if (!options.dryRun) await unlink(path).catch(() => undefined);
  }
  return removed;
}
