/**
 * Downloads one blob into the content store, resumably. The partial file and
 * its record survive a crash or reboot (partial-state.ts); each attempt
 * continues from the partial file's length (transfer.ts); failures back off
 * with jitter within a retry budget (backoff.ts). The blob enters the store
 * only after its sha256 matched; a mismatch discards it and fetches again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { BootfleetError, parseDigest, type Descriptor } from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import type { RegistryClient } from '../registry/client.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep, type RetryPolicy } from './backoff.js';
import { partialLength, partialPaths, readPartialRecord, removePartial, truncatePartial, writePartialRecord } from './partial-state.js';
import { ignoreProgress, type ProgressSink } from './progress.js';
import { createRateLimiter } from './rate-limit.js';
import { TransientFailure, transferOnce, type TransferContext, type TransferState } from './transfer.js';

export interface DownloadOptions {
  /** No byte for this long (headers or body) counts as a cut. */
  readonly stallTimeoutMs: number;
  readonly retry: RetryPolicy;
  /** Bandwidth cap for metered links, bytes per second; undefined for none. */
  readonly bandwidthBytesPerSecond?: number;
  /** fsync the partial file and record its durable length every this many bytes. */
  readonly checkpointBytes: number;
  readonly random?: () => number;
  /** Stops the download at once (the partial file stays, for a later resume): a daemon stopping, a superseded update. */
  readonly signal?: AbortSignal;
}

export const DEFAULT_DOWNLOAD_OPTIONS: DownloadOptions = {
  stallTimeoutMs: 30_000,
  retry: DEFAULT_RETRY_POLICY,
  checkpointBytes: 8 * 1024 * 1024,
};

export interface BlobSource {
  readonly client: RegistryClient;
  readonly repository: string;
}

/** Shared byte counters for overall progress across the blobs of a pull. */
export interface OverallProgress {
  done: number;
  readonly total: number;
}

export interface DownloadResult {
  /** Body bytes received over the network for this blob, whether kept or not. */
  readonly wireBytes: number;
  /** Length of the partial file this call started from (a resume when above 0). */
  readonly resumedFrom: number;
}

async function rehash(state: TransferState, length: number): Promise<void> {
  state.hash = createHash('sha256');
  if (length > 0) {
    for await (const chunk of createReadStream(state.paths.data, { start: 0, end: length - 1, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      state.hash.update(chunk);
    }
  }
  state.hashedUpTo = length;
}

function progressContext(state: TransferState, source: BlobSource, options: DownloadOptions, progress: ProgressSink, overall: OverallProgress, start: number): TransferContext {
  let last = 0;
  let counted = start;
  return {
    client: source.client,
    repository: source.repository,
    stallTimeoutMs: options.stallTimeoutMs,
    checkpointBytes: options.checkpointBytes,
    onBytes: (position) => {
      overall.done += Math.max(0, position - counted);
      counted = Math.max(counted, position);
      const now = performance.now();
      if (now - last < 200 && position < state.size) return;
      last = now;
      progress({ event: 'blob-progress', digest: state.digest.value, done: position, total: state.size, overallDone: overall.done, overallTotal: overall.total });
    },
    onCheckpoint: (durable) => {
      state.durable = durable;
      writePartialRecord(state.paths, { digest: state.digest.value, size: state.size, durable });
    },
  };
}

/** After the last byte: commit when the digest matches, otherwise say where to continue from. */
async function verifyOrRewind(store: ContentStore, state: TransferState, tried: { durable: boolean; zero: number }): Promise<boolean> {
  if (state.hashedUpTo !== state.size) await rehash(state, state.size);
  const actual = state.hash.copy().digest('hex');
  if (actual === state.digest.hex) {
    await store.commitFile(state.paths.data, state.digest);
    await removePartial(state.paths);
    return true;
  }
  // Bytes past the durable mark may be garbage after a power loss: refetch those first.
  const rewindTo = !tried.durable && state.durable > 0 && state.durable < state.size ? state.durable : 0;
  if (rewindTo === 0) tried.zero++;
  else tried.durable = true;
  if (tried.zero > 1) {
    await removePartial(state.paths);
    throw new BootfleetError('BOOTFLEET_FETCH_DIGEST_MISMATCH', `blob ${state.digest.value} does not match its digest after refetching`, {
      details: { digest: state.digest.value, actual: `sha256:${actual}` },
    });
  }
  await truncatePartial(state.paths, rewindTo);
  state.hashedUpTo = -1;
  return false;
}

export async function downloadBlob(
  source: BlobSource,
  store: ContentStore,
  descriptor: Descriptor,
  partial: Partial<DownloadOptions> = {},
  progress: ProgressSink = ignoreProgress,
  overall: OverallProgress = { done: 0, total: descriptor.size },
): Promise<DownloadResult> {
  const options = { ...DEFAULT_DOWNLOAD_OPTIONS, ...partial };
  const digest = parseDigest(descriptor.digest);
  if (digest.algorithm !== 'sha256') throw new BootfleetError('BOOTFLEET_OCI_INVALID', `blob ${digest.value}: only sha256 blobs are fetched`);
  if (await store.has(descriptor)) return { wireBytes: 0, resumedFrom: descriptor.size };
  const paths = partialPaths(store.partialDir, digest);
  const record = await readPartialRecord(paths, digest, descriptor.size);
  let offset = await partialLength(paths);
  if (offset > descriptor.size) {
    await truncatePartial(paths, 0);
    offset = 0;
  }
  const resumedFrom = offset;
  if (offset > 0) progress({ event: 'blob-resume', digest: digest.value, offset });
  const state: TransferState = { digest, size: descriptor.size, paths, hash: createHash('sha256'), hashedUpTo: -1, wireBytes: 0, durable: record.durable };
  const ctx = progressContext(state, source, options, progress, overall, offset);
  await runAttempts(store, state, ctx, options, progress);
  progress({ event: 'blob-done', digest: digest.value, size: descriptor.size, wireBytes: state.wireBytes });
  return { wireBytes: state.wireBytes, resumedFrom };
}

async function runAttempts(store: ContentStore, state: TransferState, ctx: TransferContext, options: DownloadOptions, progress: ProgressSink): Promise<void> {
  const tried = { durable: false, zero: 0 };
  // With a bandwidth cap, each request asks for one second's worth of bytes and the bucket spaces them out.
  const cap = options.bandwidthBytesPerSecond;
  const limiter = createRateLimiter(cap);
  let consecutive = 0;
  let total = 0;
  for (;;) {
    const offset = await partialLength(state.paths);
    if (offset >= state.size) {
      if (await verifyOrRewind(store, state, tried)) return;
      continue;
    }
    if (state.hashedUpTo !== offset) await rehash(state, offset);
    const end = cap === undefined || cap <= 0 ? state.size : Math.min(state.size, offset + Math.max(64 * 1024, Math.floor(cap)));
    try {
      options.signal?.throwIfAborted();
      await limiter.take(end - offset, options.signal);
      await transferOnce(state, offset, ctx, end);
      consecutive = 0;
    } catch (error) {
      // An abort cuts the request too, which would otherwise look like a transient cut and be retried.
      options.signal?.throwIfAborted();
      if (!(error instanceof TransientFailure)) throw error;
      const now = await partialLength(state.paths);
      if (error.restart && now > 0) await truncatePartial(state.paths, 0);
      consecutive = now > offset && !error.restart ? 1 : consecutive + 1;
      total++;
      if (consecutive > options.retry.maxConsecutiveFailures || total > options.retry.maxTotalFailures) {
        throw new BootfleetError('BOOTFLEET_FETCH_RETRIES_EXHAUSTED', `blob ${state.digest.value}: giving up after ${total} failures (${error.message})`, {
          cause: error,
          details: { digest: state.digest.value, failures: total, received: now, size: state.size },
        });
      }
      const delayMs = backoffDelay(consecutive, options.retry, options.random);
      progress({ event: 'blob-retry', digest: state.digest.value, attempt: total, reason: error.message, delayMs });
      await sleep(delayMs, options.signal);
    }
  }
}
