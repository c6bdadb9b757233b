/**
 * Reads an oci-archive (a tar of an OCI image layout, as `skopeo copy ...
 * oci-archive:x.tar` writes) into a fresh directory of ours, with node-tar as
 * a parser only (ANCHORS.md: never extract blindly). Every entry's path is
 * checked against the layout (layout-paths.ts), only files and directories
 * are accepted, each path once, sizes are bounded, and a blob is kept only
 * after its bytes hashed to the digest its name states. A blob is streamed
 * to disk, never held in memory.
 */
import { once } from 'node:events';
import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { BootfleetError, createDigester, digestPath } from '../../protocol/index.js';
import { isCompressedAgain, openArchiveStream } from './archive-stream.js';
import { classifyLayoutPath, type LayoutPath } from './layout-paths.js';

export interface ArchiveLimits {
  /** Largest blob in bytes (default 32 GiB, the unpacker's limit for one layer). */
  readonly maxBlobBytes: number;
  /** Most bytes all entries together may have (default 64 GiB). */
  readonly maxTotalBytes: number;
  /** Most entries (default 100_000): a layout holds a few blobs per image. */
  readonly maxEntries: number;
  /** Largest `index.json` (default 4 MiB) and `oci-layout` (4 KiB) in bytes. */
  readonly maxIndexBytes: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxBlobBytes: 32 * 1024 ** 3,
  maxTotalBytes: 64 * 1024 ** 3,
  maxEntries: 100_000,
  maxIndexBytes: 4 * 1024 * 1024,
};

const FILE_TYPES: ReadonlySet<string> = new Set(['File', 'OldFile', 'ContiguousFile']);

function invalid(message: string, rule: string, details: Record<string, unknown> = {}): BootfleetError {
  return new BootfleetError('BOOTFLEET_ARCHIVE_INVALID', message, { details: { rule, ...details } });
}

function tooLarge(what: string, limit: number): BootfleetError {
  return new BootfleetError('BOOTFLEET_ARCHIVE_TOO_LARGE', `archive has more ${what} than the limit ${limit}`, { details: { rule: `max-${what}`, limit } });
}

interface ExtractState {
  readonly dest: string;
  readonly limits: ArchiveLimits;
  readonly seen: Set<string>;
  entries: number;
  totalBytes: number;
}

/** Streams one file entry to `target`, hashing it; returns the sha256 hex. */
async function writeEntry(entry: ReadEntry, target: string): Promise<string> {
  const hash = createDigester('sha256');
  const handle = await open(target, 'wx', 0o600);
  try {
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

function checkEntry(state: ExtractState, entry: ReadEntry): LayoutPath {
  state.entries += 1;
  if (state.entries > state.limits.maxEntries) throw tooLarge('entries', state.limits.maxEntries);
  const isDirectory = entry.type === 'Directory';
  if (!isDirectory && !FILE_TYPES.has(entry.type)) throw invalid(`entry ${JSON.stringify(entry.path.slice(0, 256))} has type ${entry.type}`, 'entry-type');
  const path = classifyLayoutPath(entry.path, isDirectory);
  const size = entry.size;
  if (path.kind === 'blob' && size > state.limits.maxBlobBytes) throw tooLarge('bytes in one blob', state.limits.maxBlobBytes);
  if (path.kind !== 'blob' && path.kind !== 'directory' && size > state.limits.maxIndexBytes) throw tooLarge(`bytes in ${path.kind}`, state.limits.maxIndexBytes);
  state.totalBytes += size;
  if (state.totalBytes > state.limits.maxTotalBytes) throw tooLarge('bytes', state.limits.maxTotalBytes);
  if (path.kind !== 'directory') {
    const key = path.kind === 'blob' ? path.digest.value : path.kind;
    // A second entry of the same name would silently replace what was checked first.
    if (state.seen.has(key)) throw invalid(`archive holds ${JSON.stringify(entry.path.slice(0, 256))} twice`, 'duplicate', { entry: entry.path.slice(0, 256) });
    state.seen.add(key);
  }
  return path;
}

async function handleEntry(state: ExtractState, entry: ReadEntry): Promise<void> {
  const path = checkEntry(state, entry);
  if (path.kind === 'directory') {
    entry.resume();
    return;
  }
  if (path.kind !== 'blob') {
    await writeEntry(entry, join(state.dest, path.kind === 'index' ? 'index.json' : 'oci-layout'));
    return;
  }
  const final = digestPath(state.dest, path.digest);
  const partial = `${final}.part`;
  const actual = await writeEntry(entry, partial);
  if (actual !== path.digest.hex) {
    throw new BootfleetError('BOOTFLEET_ARCHIVE_DIGEST_MISMATCH', `archive blob ${path.digest.value} hashes to sha256:${actual}`, {
      details: { digest: path.digest.value, actual: `sha256:${actual}` },
    });
  }
  await rename(partial, final);
}

/** Parses the tar at `archivePath` into `dest` (which this creates); throws the first failure. */
export async function extractOciArchive(archivePath: string, dest: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  await mkdir(join(dest, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
  const state: ExtractState = { dest, limits, seen: new Set(), entries: 0, totalBytes: 0 };
  const parser = new Parser({ zstd: false, brotli: false, maxMetaEntrySize: 64 * 1024 });
  let failure: Error | undefined;
  let chain = Promise.resolve();
  const fail = (error: unknown): void => {
    failure ??= error instanceof Error ? error : invalid(String(error), 'parse');
  };
  parser.on('entry', (entry: ReadEntry) => {
    chain = chain.then(() => (failure === undefined ? handleEntry(state, entry) : (entry.resume(), undefined))).catch((error: unknown) => {
      fail(error);
      entry.resume();
    });
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    fail(invalid(`entry ${JSON.stringify(entry.path.slice(0, 256))} has unsupported type ${entry.type}`, 'entry-type'));
  });
  parser.on('warn', (code: string, message: string) => {
    fail(invalid(`not a valid tar archive: ${code}: ${message}`, code));
  });
  parser.on('error', (error: unknown) => {
    fail(invalid(`not a valid tar archive: ${error instanceof Error ? error.message : String(error)}`, 'parse'));
  });
  const ended = once(parser, 'end').catch((error: unknown) => {
    fail(invalid(`not a valid tar archive: ${error instanceof Error ? error.message : String(error)}`, 'parse'));
  });
  try {
    await feed(archivePath, parser, limits, () => failure !== undefined);
  } catch (error) {
    fail(error);
  }
  await ended;
  await chain;
  if (failure !== undefined) throw failure;
}

/** Feeds the (decompressed) tar to the parser with backpressure, counting bytes against the archive limit. */
async function feed(archivePath: string, parser: Parser, limits: ArchiveLimits, failed: () => boolean): Promise<void> {
  // Tar headers and padding add to the entries' sizes: the stream may exceed maxTotalBytes by a little.
  const maxStreamBytes = limits.maxTotalBytes + limits.maxEntries * 1024 + 1024 * 1024;
  let bytes = 0;
  let stream: Readable | undefined;
  try {
    const opened = await openArchiveStream(archivePath);
    stream = opened.stream;
    const compressed = opened.compressed;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (failed()) break;
      if (bytes === 0 && compressed && isCompressedAgain(chunk)) throw invalid('the archive is compressed twice', 'nested-compression');
      bytes += chunk.length;
      if (bytes > maxStreamBytes) throw tooLarge('bytes', limits.maxTotalBytes);
      if (!parser.write(chunk)) await once(parser, 'drain');
    }
  } catch (error) {
    if (error instanceof BootfleetError) throw error;
    // Not a read error of ours: zlib refusing a damaged gzip stream.
    throw invalid(`the archive cannot be decompressed: ${error instanceof Error ? error.message : String(error)}`, 'gzip');
  } finally {
    // Ending the parser even when nothing was written lets the caller's wait for its 'end' finish.
    stream?.destroy();
    parser.end();
  }
}
