import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  digestOf,
  layerCompression,
  MediaType,
  parseImageConfig,
  parseImageIndex,
  parseImageManifest,
  parseManifestDocument,
  verifyDigest,
} from '../../protocol/index.js';
import { thrownCode } from '../helpers/thrown-code.js';

const layer = { mediaType: MediaType.ociLayerGzip, digest: `sha256:${'b'.repeat(64)}`, size: 1234 };
const config = { mediaType: MediaType.ociConfig, digest: `sha256:${'c'.repeat(64)}`, size: 321 };
const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer], annotations: { 'org.opencontainers.image.version': '1.0' } };
const index = {
  schemaVersion: 2,
  mediaType: MediaType.ociIndex,
  manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${'d'.repeat(64)}`, size: 500, platform: { architecture: 'amd64', os: 'linux' } }],
};
const bytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const code = thrownCode;

describe('OCI documents', () => {
  it('parses an image manifest, keeping unknown fields as the spec requires', () => {
    const parsed = parseImageManifest(bytes({ ...manifest, futureField: true }));
    expect(parsed.layers[0]?.digest).toBe(layer.digest);
  });
  it('parses an image index and a Docker manifest list', () => {
    expect(parseImageIndex(bytes(index)).manifests).toHaveLength(1);
    expect(parseManifestDocument(bytes({ ...index, mediaType: MediaType.dockerManifestList })).kind).toBe('index');
  });
  it('tells a manifest from an index without mediaType, by its fields', () => {
    const { mediaType: _m, ...bare } = index;
    expect(parseManifestDocument(bytes(bare)).kind).toBe('index');
    const { mediaType: _n, ...bareManifest } = manifest;
    expect(parseManifestDocument(bytes(bareManifest)).kind).toBe('manifest');
    expect(parseManifestDocument(bytes(bareManifest), MediaType.dockerManifest).kind).toBe('manifest');
  });
  it('refuses the wrong kind of document', () => {
    expect(code(() => parseImageManifest(bytes(index)))).toBe('BOOTFLEET_OCI_INVALID');
    expect(code(() => parseImageIndex(bytes(manifest)))).toBe('BOOTFLEET_OCI_INVALID');
  });
  it.each([
    ['a digest used as a path', { ...manifest, layers: [{ ...layer, digest: 'sha256:../../x' }] }],
    ['a negative size', { ...manifest, layers: [{ ...layer, size: -1 }] }],
    ['a fractional size', { ...manifest, layers: [{ ...layer, size: 1.5 }] }],
    ['schemaVersion 1', { ...manifest, schemaVersion: 1 }],
    ['no config', { schemaVersion: 2, layers: [] }],
    ['an unsupported media type', { ...manifest, mediaType: 'application/x-evil' }],
  ])('refuses a manifest with %s', (_name, value) => {
    expect(code(() => parseManifestDocument(bytes(value)))).toBe('BOOTFLEET_OCI_INVALID');
  });
  it('refuses oversized and non-JSON manifests', () => {
    expect(code(() => parseImageManifest(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)))).toBe('BOOTFLEET_MESSAGE_TOO_LARGE');
    expect(code(() => parseImageManifest(Buffer.from('{"schemaVersion":')))).toBe('BOOTFLEET_JSON_INVALID');
  });
  it('parses an image config with diff_ids', () => {
    const cfg = { architecture: 'amd64', os: 'linux', config: { Labels: null }, rootfs: { type: 'layers', diff_ids: [`sha256:${'e'.repeat(64)}`] } };
    expect(parseImageConfig(bytes(cfg)).rootfs.diff_ids).toHaveLength(1);
    expect(code(() => parseImageConfig(bytes({ ...cfg, rootfs: { type: 'layers', diff_ids: ['nope'] } })))).toBe('BOOTFLEET_OCI_INVALID');
  });
});

describe('verifyDigest', () => {
  it('accepts matching bytes and refuses others', () => {
    const body = Buffer.from(canonicalJson(manifest));
    const digest = digestOf(body);
    expect(verifyDigest(body, digest.value).value).toBe(digest.value);
    expect(verifyDigest(body, digest).value).toBe(digest.value);
    expect(code(() => verifyDigest(Buffer.concat([body, Buffer.from(' ')]), digest))).toBe('BOOTFLEET_DIGEST_INVALID');
  });
});

describe('layerCompression', () => {
  it('knows the layer media types', () => {
    expect(layerCompression(MediaType.ociLayerTar)).toBe('none');
    expect(layerCompression(MediaType.ociLayerZstd)).toBe('zstd');
    expect(layerCompression(MediaType.dockerLayerGzip)).toBe('gzip');
    expect(layerCompression(MediaType.ociConfig)).toBeUndefined();
  });
});
