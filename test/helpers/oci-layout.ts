/**
 * OCI image layouts written by the tests themselves (OCI image spec, "Image
 * Layout"): layers are tarballs made by the system `tar` from files the test
 * writes, gzipped by node:zlib; config, manifests and index.json by hand.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MediaType } from '../../protocol/index.js';
import { blobOf, imageOf, type Blob } from './registry.js';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { architecture: string; os: string };
}

async function writeBlob(layout: string, blob: Blob): Promise<void> {
  await writeFile(join(layout, 'blobs', 'sha256', blob.digest.slice('sha256:'.length)), blob.bytes);
}

/** A gzipped tar layer holding `files` (path → content). */
async function makeLayer(work: string, files: Record<string, string | Buffer>): Promise<Blob> {
  const root = join(work, `layer-${Math.random().toString(16).slice(2)}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const tar = execFileSync('tar', ['-C', root, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '-cf', '-', '.'], { maxBuffer: 256 * 1024 * 1024 });
  return blobOf(gzipSync(tar));
}

/** Writes a single-platform image with one layer per entry of `layers`; returns its manifest descriptor. */
export async function writeImage(layout: string, work: string, architecture: string, layers: readonly Record<string, string | Buffer>[]): Promise<Descriptor> {
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  const blobs: Blob[] = [];
  for (const files of layers) blobs.push(await makeLayer(work, files));
  const { config, manifest } = imageOf(blobs, {}, { architecture, layerMediaType: MediaType.ociLayerGzip });
  for (const blob of [...blobs, config, manifest]) await writeBlob(layout, blob);
  return { mediaType: MediaType.ociManifest, digest: manifest.digest, size: manifest.size, platform: { architecture, os: 'linux' } };
}

/** Writes an image index over `manifests` into the layout. */
export async function writeIndex(layout: string, manifests: readonly Descriptor[]): Promise<Descriptor> {
  const index = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  await writeBlob(layout, index);
  return { mediaType: MediaType.ociIndex, digest: index.digest, size: index.size };
}

/** `oci-layout` and `index.json` naming `top` as `tag`. */
export async function finishLayout(layout: string, top: Descriptor, tag: string): Promise<void> {
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.size };
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
}
