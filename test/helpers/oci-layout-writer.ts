/**
 * Writes OCI image layouts (image spec v1.1, "OCI Image Layout") for tests:
 * layer tars are compressed as asked, configs carry the real diff_ids, and
 * index.json names each image with `org.opencontainers.image.ref.name`, so
 * umoci and skopeo read them as `<dir>:<tag>`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { digestOf, MediaType, type Descriptor, type LayerCompression } from '../../protocol/index.js';

export interface TestLayer {
  readonly tar: Buffer;
  readonly compression: LayerCompression;
}

export interface TestImage {
  readonly tag: string;
  readonly layers: readonly TestLayer[];
  readonly architecture?: string;
}

export interface WrittenImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

const LAYER_MEDIA_TYPE: Record<LayerCompression, string> = {
  none: MediaType.ociLayerTar,
  gzip: MediaType.ociLayerGzip,
  zstd: MediaType.ociLayerZstd,
};

export function compress(tar: Buffer, compression: LayerCompression): Buffer {
  if (compression === 'gzip') return gzipSync(tar);
  if (compression === 'zstd') {
    const out = spawnSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1024 ** 3 });
    if (out.status !== 0) throw new Error(`zstd failed: ${out.stderr.toString()}`);
    return out.stdout;
  }
  return tar;
}

export function writeBlob(dir: string, data: Buffer | string, mediaType: string): Descriptor {
  const bytes = Buffer.from(data);
  const digest = digestOf(bytes);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'blobs', 'sha256', digest.hex), bytes);
  return { mediaType, digest: digest.value, size: bytes.length };
}

export function writeImage(dir: string, image: TestImage): WrittenImage {
  const layers = image.layers.map((layer) => writeBlob(dir, compress(layer.tar, layer.compression), LAYER_MEDIA_TYPE[layer.compression]));
  const config = writeBlob(
    dir,
    JSON.stringify({
      architecture: image.architecture ?? 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: image.layers.map((layer) => digestOf(layer.tar).value) },
    }),
    MediaType.ociConfig,
  );
  const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers }), MediaType.ociManifest);
  return { manifest, config, layers };
}

/** A layout holding `images`, each tagged in index.json. */
export function writeLayout(dir: string, images: readonly TestImage[]): WrittenImage[] {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const written = images.map((image) => writeImage(dir, image));
  const manifests = written.map((w, i) => ({ ...w.manifest, annotations: { 'org.opencontainers.image.ref.name': images[i]?.tag ?? '' } }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  return written;
}
