/**
 * Pulls an image into the content store, fetching only what the store lacks:
 * resolve the reference → store the manifest → fetch the config → plan the
 * missing layers → download them → name the manifest in index.json. Each step
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
import { formatReference, parseReference } from '../registry/reference.js';
import { resolveImage, type Platform } from '../registry/resolve.js';
import { downloadBlob, type BlobSource, type DownloadOptions, type OverallProgress } from './download.js';
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
  readonly layers: readonly Descriptor[];
  /** Bytes of the blobs the store lacked when the pull started. */
  readonly missingBytes: number;
  /** Bytes of all the image's layers. */
  readonly totalBytes: number;
  /** Body bytes of blob downloads received over the network. */
  readonly wireBytes: number;
}

/** The layers the store does not hold yet, each once. */
export async function planMissing(store: ContentStore, manifest: ImageManifest): Promise<Descriptor[]> {
  const seen = new Set<string>();
  const missing: Descriptor[] = [];
  for (const layer of manifest.layers) {
    if (seen.has(layer.digest)) continue;
    seen.add(layer.digest);
    if (!(await store.has(layer))) missing.push(layer);
  }
  return missing;
}

async function fetchConfig(source: BlobSource, store: ContentStore, manifest: ImageManifest): Promise<void> {
  const bytes = (await store.has(manifest.config))
    ? await store.readBytes(manifest.config, MAX_CONFIG_BYTES)
    : await source.client.getBlobBytes(source.repository, manifest.config, MAX_CONFIG_BYTES);
  const config = parseImageConfig(bytes);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new BootfleetError('BOOTFLEET_OCI_INVALID', `manifest has ${manifest.layers.length} layers, config has ${config.rootfs.diff_ids.length} diff_ids`);
  }
  await store.putBytes(bytes, parseDigest(manifest.config.digest));
}

export async function pullImage(store: ContentStore, reference: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(reference);
  const progress = options.progress ?? ignoreProgress;
  const client = new RegistryClient(ref.registry, {
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.plainHttp === undefined ? {} : { plainHttp: options.plainHttp }),
    ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    ...(options.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: options.stallTimeoutMs }),
  });
  const source: BlobSource = { client, repository: ref.repository };
  try {
    const resolved = await withContextAsync(`Resolving ${formatReference(ref)}`, () => resolveImage(client, ref, options.platform));
    await store.putBytes(resolved.bytes, parseDigest(resolved.descriptor.digest));
    await withContextAsync('Fetching the image config', () => fetchConfig(source, store, resolved.manifest));
    const missing = await planMissing(store, resolved.manifest);
    const missingBytes = missing.reduce((sum, d) => sum + d.size, 0);
    const totalBytes = resolved.manifest.layers.reduce((sum, d) => sum + d.size, 0);
    progress({ event: 'pull-start', ref: reference, manifest: resolved.descriptor.digest, blobs: missing.length, totalBytes, missingBytes });
    const overall: OverallProgress = { done: 0, total: missingBytes };
    let wireBytes = 0;
    for (const layer of missing) {
      const result = await withContextAsync(`Fetching layer ${layer.digest}`, () => downloadBlob(source, store, layer, options, progress, overall));
      wireBytes += result.wireBytes;
    }
    await store.setRef(reference, resolved.descriptor);
    progress({ event: 'pull-done', manifest: resolved.descriptor.digest, fetchedBytes: missingBytes, wireBytes });
    return { manifest: resolved.descriptor, layers: resolved.manifest.layers, missingBytes, totalBytes, wireBytes };
  } finally {
    await client.close();
  }
}
