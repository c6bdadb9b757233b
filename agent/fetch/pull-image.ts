/**
 * Pulls an image into the content store, fetching only what the store lacks:
 * resolve the reference → store the manifest → plan the missing blobs →
 * download them → check the config → name the manifest in index.json. Each step
 * says what it was doing when it fails.
 */
import {
  BootfleetError,
  MAX_CONFIG_BYTES,
  parseDigest,
  parseImageConfig,
  withContextAsync,
  type Descriptor,
  type ImageManifest,
} from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import type { Credentials } from '../registry/auth.js';
import { RegistryClient } from '../registry/client.js';
import { formatReference, parseReference, type ImageReference } from '../registry/reference.js';
import { resolveImage, type Platform, type ResolvedImage } from '../registry/resolve.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep } from './backoff.js';
import { downloadBlob, type BlobSource, type DownloadOptions, type OverallProgress } from './download.js';
import { isTransientNetworkError } from './transfer.js';
import { ignoreProgress, type ProgressSink } from './progress.js';
import type { Dispatcher } from 'undici';

export interface PullOptions extends Partial<DownloadOptions> {
  readonly credentials?: Credentials;
  readonly platform?: Platform;
  readonly plainHttp?: boolean;
  readonly dispatcher?: Dispatcher;
  readonly progress?: ProgressSink;
}

export interface PullResult {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** Bytes of the blobs (config and layers) the store lacked when the pull started. */
  readonly missingBytes: number;
  /** Bytes of all the image's blobs (config and layers). */
  readonly totalBytes: number;
  /** Body bytes of blob downloads received over the network; equals missingBytes on a clean link. */
  readonly wireBytes: number;
}

/** The blobs (config, then layers) the store does not hold yet, each once. */
export async function planMissing(store: ContentStore, manifest: ImageManifest): Promise<Descriptor[]> {
  const seen = new Set<string>();
  const missing: Descriptor[] = [];
  for (const layer of [manifest.config, ...manifest.layers]) {
    if (seen.has(layer.digest)) continue;
    seen.add(layer.digest);
    if (!(await store.has(layer))) missing.push(layer);
  }
  return missing;
}

async function checkConfig(store: ContentStore, manifest: ImageManifest): Promise<void> {
  const config = parseImageConfig(await store.readBytes(manifest.config, MAX_CONFIG_BYTES));
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new BootfleetError('BOOTFLEET_OCI_INVALID', `manifest has ${manifest.layers.length} layers, config has ${config.rootfs.diff_ids.length} diff_ids`);
  }
}

/**
 * Manifests are small: a GET cut by the network or answered with a 5xx is
 * simply repeated, with the same backoff and budget as blobs. Every manifest
 * read of a pull goes through this (also the signed-layer check of
 * agent/pipeline/fetch-step.ts), so a registry restart never fails an update.
 */
export async function withManifestRetries<T>(read: () => Promise<T>, options: Pick<PullOptions, 'retry' | 'signal' | 'random'>): Promise<T> {
  const policy = options.retry ?? DEFAULT_RETRY_POLICY;
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const status = error instanceof BootfleetError ? error.details.status : undefined;
      const transient = isTransientNetworkError(error) || (typeof status === 'number' && status >= 500);
      options.signal?.throwIfAborted();
      if (!transient || attempt > policy.maxConsecutiveFailures) throw error;
      await sleep(backoffDelay(attempt, policy, options.random), options.signal);
    }
  }
}

function resolveWithRetries(client: RegistryClient, ref: ImageReference, options: PullOptions): Promise<ResolvedImage> {
  return withManifestRetries(() => resolveImage(client, ref, options.platform), options);
}

export async function pullImage(store: ContentStore, reference: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(reference);
  const progress = options.progress ?? ignoreProgress;
  const client = new RegistryClient(ref.registry, {
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.plainHttp === undefined ? {} : { plainHttp: options.plainHttp }),
    ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    ...(options.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: options.stallTimeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const source: BlobSource = { client, repository: ref.repository };
  try {
    const resolved = await withContextAsync(`Resolving ${formatReference(ref)}`, () => resolveWithRetries(client, ref, options));
    await store.putBytes(resolved.bytes, parseDigest(resolved.descriptor.digest));
    const missing = await planMissing(store, resolved.manifest);
    const missingBytes = missing.reduce((sum, d) => sum + d.size, 0);
    const totalBytes = [resolved.manifest.config, ...resolved.manifest.layers].reduce((sum, d) => sum + d.size, 0);
    progress({ event: 'pull-start', ref: reference, manifest: resolved.descriptor.digest, blobs: missing.length, totalBytes, missingBytes });
    const overall: OverallProgress = { done: 0, total: missingBytes };
    let wireBytes = 0;
    for (const blob of missing) {
      options.signal?.throwIfAborted();
      const what = blob.digest === resolved.manifest.config.digest ? 'the image config' : `layer ${blob.digest}`;
      const result = await withContextAsync(`Fetching ${what}`, () => downloadBlob(source, store, blob, options, progress, overall));
      wireBytes += result.wireBytes;
    }
    await withContextAsync('Checking the image config', () => checkConfig(store, resolved.manifest));
    await store.setRef(reference, resolved.descriptor);
    progress({ event: 'pull-done', manifest: resolved.descriptor.digest, fetchedBytes: missingBytes, wireBytes });
    return { manifest: resolved.descriptor, config: resolved.manifest.config, layers: resolved.manifest.layers, missingBytes, totalBytes, wireBytes };
  } finally {
    await client.close();
  }
}
