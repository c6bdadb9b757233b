/**
 * Unpacks an image from the content store into a fresh directory: layers in
 * manifest order, each checked against the config's diff_id. On any error the
 * directory is removed, so a failed unpack leaves nothing behind.
 */
import { mkdir, rm } from 'node:fs/promises';
import {
  BootfleetError,
  layerCompression,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  parseDigest,
  parseImageConfig,
  parseImageManifest,
  withContextAsync,
  type Descriptor,
} from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import type { ProgressSink } from '../fetch/progress.js';
import { applyLayer } from './apply-layer.js';
import type { EntryXattrs } from './pax-xattrs.js';
import type { ZstdImplementation } from './decompress.js';
import type { UnpackOptions } from './limits.js';

export interface UnpackImageOptions extends Partial<UnpackOptions> {
  readonly zstd?: ZstdImplementation;
  readonly progress?: ProgressSink;
}

/** The extended attributes each layer carried, in layer order (layers without any are left out). */
export interface UnpackedXattrs {
  readonly layers: readonly { readonly index: number; readonly digest: string; readonly entries: readonly EntryXattrs[]; readonly applied: boolean }[];
}

/**
 * `xattrs.json` of a deployment: what the image asked for, values in base64
 * (binary: a file capability), and whether they were set.
 */
export function xattrsRecord(unpacked: UnpackedXattrs): string {
  const layers = unpacked.layers.map((l) => ({
    index: l.index,
    digest: l.digest,
    applied: l.applied,
    entries: l.entries.map((e) => ({ path: e.path, xattrs: Object.fromEntries([...e.xattrs].map(([name, value]) => [name, value.toString('base64')])) })),
  }));
  return `${JSON.stringify({ layers }, null, 2)}\n`;
}

export async function unpackImage(store: ContentStore, manifestDescriptor: Descriptor, dest: string, options: UnpackImageOptions = {}): Promise<UnpackedXattrs> {
  const manifest = parseImageManifest(await store.readBytes(manifestDescriptor, MAX_MANIFEST_BYTES));
  const config = parseImageConfig(await store.readBytes(manifest.config, MAX_CONFIG_BYTES));
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new BootfleetError('BOOTFLEET_OCI_INVALID', `manifest has ${manifest.layers.length} layers, config has ${diffIds.length} diff_ids`);
  }
  // `recursive: false`: the destination must be new, never a tree left from before.
  await mkdir(dest, { mode: 0o755 });
  const layers: UnpackedXattrs['layers'][number][] = [];
  try {
    for (const [i, layer] of manifest.layers.entries()) {
      const compression = layerCompression(layer.mediaType);
      if (compression === undefined) throw new BootfleetError('BOOTFLEET_OCI_INVALID', `layer ${i} has unsupported media type ${layer.mediaType}`);
      const diffId = parseDigest(diffIds[i]);
      options.progress?.({ event: 'unpack-layer', layer: layer.digest, index: i, count: manifest.layers.length });
      const applied = await withContextAsync(`Unpacking layer ${i} (${layer.digest})`, () =>
        applyLayer(dest, { blob: store.openRead(layer), compression, diffId, zstd: options.zstd }, options),
      );
      if (applied.xattrs.length > 0) layers.push({ index: i, digest: layer.digest, entries: applied.xattrs, applied: applied.xattrsApplied });
    }
    return { layers };
  } catch (error) {
    await rm(dest, { recursive: true, force: true });
    throw error;
  }
}
