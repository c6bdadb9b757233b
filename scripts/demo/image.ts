/**
 * The demo's sample OS image, built here from a few files (no download):
 * uncompressed tar layers (POSIX ustar, written by hand: node-tar is our
 * parser only), an OCI config carrying `org.opencontainers.image.version`,
 * and the manifest, pushed to the embedded registry over HTTP
 * (distribution spec, "Single POST" blob uploads, then PUT of the manifest).
 */
import { createHash } from 'node:crypto';
import { MediaType } from '../../protocol/index.js';

export interface Blob {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly size: number;
}

export function blobOf(bytes: Buffer): Blob {
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.byteLength };
}

/** One ustar header block (POSIX.1-1988 layout: name, mode, uid, gid, size, mtime, checksum, typeflag, magic). */
function header(path: string, size: number, directory: boolean): Buffer {
  if (Buffer.byteLength(path) > 99) throw new Error(`demo layer path too long: ${path}`);
  const buf = Buffer.alloc(512);
  const octal = (value: number, offset: number, width: number): void => {
    buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1');
  };
  buf.write(path, 0, 'utf8');
  octal(directory ? 0o755 : 0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(1_700_000_000, 136, 12);
  buf.write(directory ? '5' : '0', 156, 'latin1');
  buf.write('ustar\u000000', 257, 'latin1');
  // The checksum is computed with its own field read as eight spaces.
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return buf;
}

/** An uncompressed tar layer holding `files` (paths relative to the root; parent directories added). */
export function layerOf(files: Record<string, string>): Blob {
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i += 1) dirs.add(`${parts.slice(0, i).join('/')}/`);
  }
  const chunks: Buffer[] = [...dirs].sort().map((dir) => header(dir, 0, true));
  for (const [path, text] of Object.entries(files)) {
    const body = Buffer.from(text);
    chunks.push(header(path, body.length, false));
    const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
    body.copy(padded);
    chunks.push(padded);
  }
  chunks.push(Buffer.alloc(1024));
  return blobOf(Buffer.concat(chunks));
}

export interface SampleImage {
  readonly version: string;
  readonly layers: readonly Blob[];
  readonly config: Blob;
  readonly manifest: Blob;
}

/** The sample OS at `version`: a base layer, a runtime layer, and an app layer (the one v2 changes). */
export function sampleImage(version: string, app: Record<string, string>): SampleImage {
  const layers = [
    layerOf({ 'etc/os-release': 'NAME="bootfleet demo OS"\nID=bootfleet-demo\n', 'usr/bin/demo-init': '#!/bin/sh\necho booting\n' }),
    layerOf({ 'usr/lib/demo/runtime.conf': 'threads=2\n' }),
    layerOf({ 'etc/demo/version': `${version}\n`, ...app }),
  ];
  const config = blobOf(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'org.opencontainers.image.version': version } },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
  );
  const manifest = blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: MediaType.ociLayerTar, digest: l.digest, size: l.size })),
        annotations: { 'org.opencontainers.image.version': version },
      }),
    ),
  );
  return { version, layers, config, manifest };
}

async function expectStatus(response: Response, status: number, what: string): Promise<void> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`${what} answered ${String(response.status)}: ${text.slice(0, 300)}`);
}

/** Pushes the blobs (a HEAD first: the base layers are shared), then the manifest under `tag`. */
export async function pushImage(base: string, repo: string, image: SampleImage, tag: string, token: string): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  for (const blob of [...image.layers, image.config]) {
    const head = await fetch(`${base}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD', headers: auth });
    if (head.status === 200) continue;
    const url = `${base}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`;
    await expectStatus(await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: blob.bytes }), 201, `blob upload ${blob.digest}`);
  }
  const put = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { ...auth, 'content-type': MediaType.ociManifest }, body: image.manifest.bytes });
  await expectStatus(put, 201, `manifest ${repo}:${tag}`);
}
