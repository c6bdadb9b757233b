/**
 * Parsing of OCI documents fetched from a registry or read from a layout.
 * The caller gives the exact bytes; the digest check comes first, so a
 * document that does not match the digest it was asked for is never parsed.
 */
import { timingSafeEqual } from 'node:crypto';
import { digestOf, parseDigest, type Digest } from '../digest.js';
import { BootfleetError } from '../errors.js';
import { compileParser, parseJson } from '../validate.js';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from './media-types.js';
import { ImageConfigSchema, ImageIndexSchema, ImageManifestSchema, type ImageConfig, type ImageIndex, type ImageManifest } from './schemas.js';

/** Registries commonly refuse manifests above 4 MiB (distribution spec, "Pushing Manifests"). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

const manifestParser = compileParser('OCI image manifest', ImageManifestSchema, 'BOOTFLEET_OCI_INVALID');
const indexParser = compileParser('OCI image index', ImageIndexSchema, 'BOOTFLEET_OCI_INVALID');
const configParser = compileParser('OCI image config', ImageConfigSchema, 'BOOTFLEET_OCI_INVALID');

/** Throws BOOTFLEET_DIGEST_INVALID unless `bytes` hash to `expected`. */
export function verifyDigest(bytes: Uint8Array, expected: Digest | string): Digest {
  const want = typeof expected === 'string' ? parseDigest(expected) : expected;
  const got = digestOf(bytes, want.algorithm);
  if (!timingSafeEqual(Buffer.from(got.hex), Buffer.from(want.hex))) {
    throw new BootfleetError('BOOTFLEET_DIGEST_INVALID', `content digest ${got.value} does not match expected ${want.value}`, {
      details: { expected: want.value, actual: got.value },
    });
  }
  return want;
}

export type ParsedManifestDocument =
  | { readonly kind: 'manifest'; readonly manifest: ImageManifest }
  | { readonly kind: 'index'; readonly index: ImageIndex };

/** Parses a manifest or index, deciding by the declared media type (header) or the body's own. */
export function parseManifestDocument(bytes: Uint8Array, declaredMediaType?: string): ParsedManifestDocument {
  const value = parseJson(bytes, MAX_MANIFEST_BYTES, 'manifest');
  const bodyType = typeof value === 'object' && value !== null && 'mediaType' in value ? value.mediaType : undefined;
  const mediaType = typeof bodyType === 'string' ? bodyType : declaredMediaType;
  if (mediaType !== undefined && INDEX_MEDIA_TYPES.includes(mediaType)) return { kind: 'index', index: indexParser.parse(value) };
  if (mediaType === undefined || MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    // A manifest without mediaType is allowed by the spec; tell it from an index by its fields.
    if (mediaType === undefined && typeof value === 'object' && value !== null && 'manifests' in value) {
      return { kind: 'index', index: indexParser.parse(value) };
    }
    return { kind: 'manifest', manifest: manifestParser.parse(value) };
  }
  throw new BootfleetError('BOOTFLEET_OCI_INVALID', `unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

export function parseImageManifest(bytes: Uint8Array): ImageManifest {
  const doc = parseManifestDocument(bytes);
  if (doc.kind !== 'manifest') throw new BootfleetError('BOOTFLEET_OCI_INVALID', 'expected an image manifest, got an image index');
  return doc.manifest;
}

export function parseImageIndex(bytes: Uint8Array): ImageIndex {
  const doc = parseManifestDocument(bytes);
  if (doc.kind !== 'index') throw new BootfleetError('BOOTFLEET_OCI_INVALID', 'expected an image index, got an image manifest');
  return doc.index;
}

export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  return configParser.parse(parseJson(bytes, MAX_CONFIG_BYTES, 'image config'));
}
