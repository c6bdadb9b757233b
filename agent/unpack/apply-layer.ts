/**
 * Applies one layer to a staging tree (image spec v1.1, "Applying
 * Changesets"). node-tar is used only as a parser; every write is ours
 * (apply-entry.ts). The uncompressed stream is hashed on the way for the
 * config's diff_id, counted against the size limit, and fed to the parser
 * with backpressure, so a layer is never held in memory.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { BootfleetError, createDigester, parseDigest, type Digest, type LayerCompression } from '../../protocol/index.js';
import { garbagePacer } from '../content/garbage-pacer.js';
import { applyEntry, newLayerState, type LayerState } from './apply-entry.js';
import { setDirectoryTimes } from './layer-paths.js';
import { decompressLayer, type ZstdImplementation } from './decompress.js';
import { unpackOptions, type UnpackOptions } from './limits.js';
import { applyLayerXattrs } from './apply-xattrs.js';
import { XattrScanner, type EntryXattrs } from './pax-xattrs.js';

export interface ApplyLayerInput {
  /** The layer blob as stored (compressed as its media type says). */
  readonly blob: Readable;
  readonly compression: LayerCompression;
  /** The config's `rootfs.diff_ids` entry for this layer; checked when given. */
  readonly diffId?: Digest;
  readonly zstd?: ZstdImplementation;
}

export interface ApplyLayerResult {
  readonly diffId: Digest;
  readonly uncompressedBytes: number;
  readonly entries: number;
  /** Entries with `SCHILY.xattr.*` PAX records (docs/agent-content.md, "Extended attributes"). */
  readonly xattrs: readonly EntryXattrs[];
  /** True when `security.capability` and `user.*` among them were set (root with `setfattr`; apply-xattrs.ts). */
  readonly xattrsApplied: boolean;
}

/** PAX bodies larger than this are refused by the parser too (its maxMetaEntrySize). */
const MAX_META_BYTES = 1024 * 1024;
/** Old-space growth allowed between full collections while a layer is applied (garbage-pacer.ts). */
const UNPACK_OLD_GROWTH_BYTES = 1024 * 1024;

/**
 * A promise that rejects with the first failure reported by any step, and a
 * signal aborted then. Waits repeated per chunk use the signal: each
 * `Promise.race` with the never-settling latch promise left a reaction on it
 * until the layer's end (about 10 000 over a 1 GiB layer, 3 MiB of heap).
 */
function failureLatch(): { promise: Promise<never>; signal: AbortSignal; fail: (error: unknown) => void; failed: () => unknown } {
  let reject: (error: unknown) => void = () => undefined;
  let first: unknown;
  const abort = new AbortController();
  const promise = new Promise<never>((_, r) => {
    reject = r;
  });
  promise.catch(() => undefined);
  return {
    promise,
    signal: abort.signal,
    fail: (error) => {
      first ??= error;
      reject(error);
      abort.abort(error);
    },
    failed: () => first,
  };
}

function tarInvalid(message: string, rule: string): BootfleetError {
  return new BootfleetError('BOOTFLEET_UNPACK_TAR_INVALID', message, { details: { rule } });
}

function tooLarge(what: string, limit: number): BootfleetError {
  return new BootfleetError('BOOTFLEET_UNPACK_TOO_LARGE', `layer has more ${what} than the limit ${limit}`, { details: { rule: `max-${what}`, limit } });
}

/** Gzip and zstd magic: a "tar" that is compressed again would be unpacked by node-tar behind our limits' back. */
function isCompressedAgain(chunk: Buffer): boolean {
  return (chunk[0] === 0x1f && chunk[1] === 0x8b) || (chunk[0] === 0x28 && chunk[1] === 0xb5 && chunk[2] === 0x2f && chunk[3] === 0xfd);
}

function watchParser(parser: Parser, state: LayerState, latch: ReturnType<typeof failureLatch>, counts: { entries: number }): Promise<void> {
  let chain = Promise.resolve();
  parser.on('entry', (entry: ReadEntry) => {
    counts.entries++;
    chain = chain.then(async () => {
      if (latch.failed() !== undefined) return;
      if (counts.entries > state.options.maxEntries) throw tooLarge('entries', state.options.maxEntries);
      await applyEntry(state, entry);
      entry.resume();
    });
    chain.catch((error: unknown) => {
      latch.fail(error);
    });
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    latch.fail(tarInvalid(`entry ${JSON.stringify(entry.path)} has unsupported type ${entry.type}`, 'entry-type'));
  });
  parser.on('warn', (code: string, message: string) => {
    // An archive of only end blocks (an empty layer) is valid OCI; node-tar warns about it.
    if (code === 'TAR_BAD_ARCHIVE' && counts.entries === 0) return;
    latch.fail(tarInvalid(`tar stream is invalid: ${code}: ${message}`, code));
  });
  parser.on('error', (error: unknown) => {
    latch.fail(tarInvalid(`tar stream is invalid: ${error instanceof Error ? error.message : String(error)}`, 'parse'));
  });
  const ended = once(parser, 'end').then(() => chain);
  return Promise.race([ended, latch.promise]);
}

async function feed(stream: Readable, parser: Parser, scanner: XattrScanner, options: UnpackOptions, latch: ReturnType<typeof failureLatch>): Promise<{ digest: Digest; bytes: number }> {
  const hash = createDigester('sha256');
  const garbage = garbagePacer({ maxOldGrowthBytes: UNPACK_OLD_GROWTH_BYTES });
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (bytes === 0 && isCompressedAgain(chunk)) throw tarInvalid('layer content is compressed twice', 'nested-compression');
    bytes += chunk.length;
    if (bytes > options.maxUncompressedBytes) throw tooLarge('bytes', options.maxUncompressedBytes);
    hash.update(chunk);
    scanner.write(chunk);
    if (!parser.write(chunk)) await once(parser, 'drain', { signal: latch.signal });
    garbage.count(chunk.length);
  }
  parser.end();
  return { digest: parseDigest(`sha256:${hash.digest('hex')}`), bytes };
}

export async function applyLayer(root: string, input: ApplyLayerInput, partial: Partial<UnpackOptions> = {}): Promise<ApplyLayerResult> {
  const options = unpackOptions(partial);
  const state = newLayerState(root, options);
  const latch = failureLatch();
  const parser = new Parser({ zstd: false, brotli: false, maxMetaEntrySize: MAX_META_BYTES });
  const scanner = new XattrScanner(MAX_META_BYTES, options.maxEntries);
  const counts = { entries: 0 };
  const stream = decompressLayer(input.blob, input.compression, input.zstd);
  const parsed = watchParser(parser, state, latch, counts);
  try {
    const [fed] = await Promise.all([Promise.race([feed(stream, parser, scanner, options, latch), latch.promise]), parsed]);
    if (input.diffId !== undefined && input.diffId.value !== fed.digest.value) {
      throw new BootfleetError('BOOTFLEET_UNPACK_DIFF_ID_MISMATCH', `layer diff_id is ${fed.digest.value}, config says ${input.diffId.value}`, {
        details: { expected: input.diffId.value, actual: fed.digest.value },
      });
    }
    const xattrsApplied = await applyLayerXattrs(state.root, scanner.found, options);
    await setDirectoryTimes(state.root, state.written);
    return { diffId: fed.digest, uncompressedBytes: fed.bytes, entries: counts.entries, xattrs: scanner.found, xattrsApplied };
  } catch (error) {
    latch.fail(error);
    stream.destroy();
    input.blob.destroy();
    throw latch.failed();
  }
}
