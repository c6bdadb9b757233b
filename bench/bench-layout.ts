/** An OCI layout around layer files already on disk (moved in, not copied), for the benchmarks. */
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf, MediaType, type Descriptor } from '../protocol/index.js';
import { sha256File } from './layer-fixtures.js';

export interface LayerFile {
  readonly path: string;
  readonly mediaType: string;
  readonly diffId: string;
}

function putJson(dir: string, value: unknown, mediaType: string): Descriptor {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = digestOf(bytes);
  writeFileSync(join(dir, 'blobs', 'sha256', digest.hex), bytes);
  return { mediaType, digest: digest.value, size: bytes.length };
}

export async function layoutFromFiles(dir: string, tag: string, layers: readonly LayerFile[]): Promise<Descriptor[]> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const descriptors: Descriptor[] = [];
  for (const layer of layers) {
    const digest = await sha256File(layer.path);
    const size = statSync(layer.path).size;
    renameSync(layer.path, join(dir, 'blobs', 'sha256', digest.slice(7)));
    descriptors.push({ mediaType: layer.mediaType, digest, size });
  }
  const config = putJson(dir, { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }, MediaType.ociConfig);
  const manifest = putJson(dir, { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: descriptors }, MediaType.ociManifest);
  const index = { schemaVersion: 2, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }] };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  return descriptors;
}
