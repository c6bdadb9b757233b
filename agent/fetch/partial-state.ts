/**
 * The on-disk state of a download in progress, in the partial area:
 * `<alg>-<hex>` holds the bytes received so far, `<alg>-<hex>.json` the last
 * length known durable (fsynced). After a process crash the file length is
 * exact and the download resumes from it; after a power loss the bytes past
 * the durable length may be garbage, so if the final digest fails we retry
 * from the durable length before starting again from zero.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseJson, type Digest } from '../../protocol/index.js';

export interface PartialPaths {
  readonly data: string;
  readonly record: string;
}

export function partialPaths(partialDir: string, digest: Digest): PartialPaths {
  const base = join(partialDir, `${digest.algorithm}-${digest.hex}`);
  return { data: base, record: `${base}.json` };
}

export interface PartialRecord {
  readonly digest: string;
  readonly size: number;
  readonly durable: number;
}

export async function readPartialRecord(paths: PartialPaths, digest: Digest, size: number): Promise<PartialRecord> {
  try {
    const value = parseJson(await readFile(paths.record), 4096, 'partial record');
    if (typeof value === 'object' && value !== null) {
      const { digest: d, size: s, durable } = value as Record<string, unknown>;
      if (typeof d === 'string' && d === digest.value && s === size && typeof durable === 'number' && Number.isSafeInteger(durable) && durable >= 0 && durable <= size) {
        return { digest: d, size: s, durable };
      }
    }
  } catch {
    // Missing or damaged: nothing is known durable.
  }
  return { digest: digest.value, size, durable: 0 };
}

/** Synchronous, as the writes it accounts for (transfer.ts): write a sibling, fsync, rename. */
export function writePartialRecord(paths: PartialPaths, record: PartialRecord): void {
  const tmp = `${paths.record}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, JSON.stringify(record));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, paths.record);
}

/** Current length of the partial file, made empty when missing. */
export async function partialLength(paths: PartialPaths): Promise<number> {
  try {
    return (await stat(paths.data)).size;
  } catch {
    await (await open(paths.data, 'a')).close();
    return 0;
  }
}

export async function truncatePartial(paths: PartialPaths, length: number): Promise<void> {
  const handle = await open(paths.data, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function removePartial(paths: PartialPaths): Promise<void> {
  await rm(paths.data, { force: true });
  await rm(paths.record, { force: true });
  await rm(`${paths.record}.tmp`, { force: true });
}
