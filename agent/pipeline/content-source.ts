/**
 * Step "unpack", as the deployer's StageSource: the image is unpacked from
 * the content store with the safe layer applier (agent/unpack) straight into
 * the staging root the deployer hands over.
 */
import { rmdir, writeFile } from 'node:fs/promises';
import { addAbortSignal } from 'node:stream';
import { dirname, join } from 'node:path';
import type { Descriptor } from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import type { StageSource } from '../deploy/stage-source.js';
import type { ProgressSink } from '../fetch/progress.js';
import { unpackImage, xattrsRecord } from '../unpack/unpack-image.js';

export interface ContentSourceOptions {
  readonly manifest: Descriptor;
  readonly manifestBytes: Uint8Array;
  readonly version: string;
  readonly progress?: ProgressSink;
  /** A newer desired state or the daemon stopping: the unpack stops inside the layer it is at, its tree removed. */
  readonly signal?: AbortSignal;
}

export function contentStageSource(store: ContentStore, options: ContentSourceOptions): StageSource {
  return {
    manifestDigest: options.manifest.digest,
    manifestBytes: options.manifestBytes,
    version: options.version,
    async populate(rootDir) {
      // unpackImage creates its destination itself and refuses an existing one (a tree left from before):
      // the deployer's root is new and empty, so it is removed and made again by the unpacker.
      await rmdir(rootDir);
      const source = options.signal === undefined ? store : abortableStore(store, options.signal);
      const unpacked = await unpackImage(source, options.manifest, rootDir, options.progress === undefined ? {} : { progress: options.progress });
      // Beside the tree, inside the deployment's staging directory (published with it by one rename):
      // the extended attributes the image carried, applied or not (docs/agent-content.md, "Extended attributes").
      if (unpacked.layers.length > 0) await writeFile(join(dirname(rootDir), 'xattrs.json'), xattrsRecord(unpacked));
    },
  };
}

/**
 * The store as the unpacker sees it, every blob stream it opens tied to `signal`: an abort destroys the
 * stream, the layer being applied fails there (between two reads of the tar stream), and unpackImage
 * removes the half-made tree. A signal already aborted stops it before the next layer is opened.
 */
function abortableStore(store: ContentStore, signal: AbortSignal): ContentStore {
  const view = Object.create(store) as ContentStore;
  view.openRead = (descriptor) => addAbortSignal(signal, store.openRead(descriptor));
  return view;
}
