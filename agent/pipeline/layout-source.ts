/**
 * Step "stage" for the bootc backend, as the deployer's StageSource: the
 * deployment's `root/` becomes an OCI image layout of the one image (image
 * spec v1.1, "OCI Image Layout"), which `bootc switch --transport oci <root>`
 * reads and unpacks into its own ostree deployment (agent/deploy/bootc-backend.ts).
 * Blobs are hard links to the verified blobs of the content store when both
 * live on one filesystem (no copy of a layer), else streamed copies. Blobs
 * are immutable, so sharing their inode is safe; the tree digest recorded at
 * staging covers them, as it covers an unpacked tree.
 */
import { copyFile, link, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestPath, MAX_MANIFEST_BYTES, MediaType, parseDigest, parseImageManifest, type Descriptor } from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import { REF_NAME } from '../content/store.js';
import type { StageSource } from '../deploy/stage-source.js';
import type { ContentSourceOptions } from './content-source.js';

async function placeBlob(store: ContentStore, rootDir: string, descriptor: Pick<Descriptor, 'digest'>): Promise<void> {
  const digest = parseDigest(descriptor.digest);
  const from = store.blobPath(digest);
  const to = digestPath(rootDir, digest);
  try {
    await link(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'EXDEV' && code !== 'EPERM') throw error;
    await copyFile(from, to);
  }
}

export function layoutStageSource(store: ContentStore, options: ContentSourceOptions): StageSource {
  return {
    manifestDigest: options.manifest.digest,
    manifestBytes: options.manifestBytes,
    version: options.version,
    async populate(rootDir) {
      const manifest = parseImageManifest(await store.readBytes(options.manifest, MAX_MANIFEST_BYTES));
      await mkdir(join(rootDir, 'blobs', 'sha256'), { recursive: true });
      for (const blob of [options.manifest, manifest.config, ...manifest.layers]) await placeBlob(store, rootDir, blob);
      const top = { mediaType: options.manifest.mediaType || MediaType.ociManifest, digest: options.manifest.digest, size: options.manifest.size };
      await writeFile(join(rootDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      await writeFile(join(rootDir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...top, annotations: { [REF_NAME]: options.version } }] }));
    },
  };
}
