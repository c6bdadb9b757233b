/** Helpers for registry tests: a server config with known tokens, OCI documents built from bytes. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf, MediaType } from '../../protocol/index.js';
import { defaultServerConfig, type ServerConfig } from '../../server/config.js';
import { sha256Hex } from '../../server/registry/index.js';

export const OPERATOR_TOKEN = 'operator-token-for-tests';
export const DEVICE_TOKEN = 'device-token-for-tests';

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export function registryServerConfig(dataDir: string, registry: Partial<NonNullable<ServerConfig['registry']>> = {}): ServerConfig {
  return {
    ...defaultServerConfig(),
    dataDir,
    http: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
    // The embedded broker too listens on a free port: test files run in parallel.
    broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: 0 } },
    registry: {
      operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)],
      deviceTokenSha256: [sha256Hex(DEVICE_TOKEN)],
      ...registry,
    },
  };
}

export const operatorAuth = { authorization: `Bearer ${OPERATOR_TOKEN}` };
export const deviceAuth = { authorization: `Basic ${Buffer.from(`device:${DEVICE_TOKEN}`).toString('base64')}` };

export interface Blob {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly size: number;
}

export function blobOf(content: string | Buffer): Blob {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { bytes, digest: digestOf(bytes).value, size: bytes.byteLength };
}

export interface ImageOptions {
  /** Default amd64. */
  readonly architecture?: string;
  /** Fields of the config beside architecture, os and rootfs (a `config` with labels). */
  readonly configFields?: Record<string, unknown>;
  /** Default uncompressed tar. */
  readonly layerMediaType?: string;
}

export interface BuiltImage {
  readonly config: Blob;
  readonly manifest: Blob;
}

/** A config blob and the OCI image manifest naming it and `layers`, with `extra` fields in the manifest (subject, annotations). */
export function imageOf(layers: readonly Blob[], extra: Record<string, unknown> = {}, options: ImageOptions = {}): BuiltImage {
  const { architecture = 'amd64', configFields = {}, layerMediaType = MediaType.ociLayerTar } = options;
  const config = blobOf(JSON.stringify({ architecture, os: 'linux', ...configFields, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  const manifest = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: layerMediaType, digest: l.digest, size: l.size })),
      ...extra,
    }),
  );
  return { config, manifest };
}

/** Pushes a blob in one POST (distribution spec, "Single POST"); throws unless the registry answers 201. */
export async function pushBlob(base: string, repo: string, blob: Blob): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST',
    headers: { ...operatorAuth, 'content-type': 'application/octet-stream' },
    body: blob.bytes,
  });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`blob push answered ${res.status}`);
}

/** Pushes layers, config and manifest; tags it when `tag` is given. Returns the manifest blob. */
export function pushImage(base: string, repo: string, layers: Blob[], extra: Record<string, unknown> = {}, tag?: string): Promise<Blob> {
  return pushBuiltImage(base, repo, layers, imageOf(layers, extra), tag);
}

/** Pushes `layers`, then the config and manifest of `image`; tags it when `tag` is given. Returns the manifest blob. */
export async function pushBuiltImage(base: string, repo: string, layers: readonly Blob[], image: BuiltImage, tag?: string): Promise<Blob> {
  for (const blob of [...layers, image.config]) await pushBlob(base, repo, blob);
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag ?? image.manifest.digest}`, {
    method: 'PUT',
    headers: { ...operatorAuth, 'content-type': MediaType.ociManifest },
    body: image.manifest.bytes,
  });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`manifest push answered ${res.status}`);
  return image.manifest;
}
