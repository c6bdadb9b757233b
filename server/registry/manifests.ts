/**
 * Accepting a pushed manifest (distribution spec, "Pushing Manifests"): parse
 * and validate with protocol/oci, check that everything it refers to is in
 * the repository (MANIFEST_BLOB_UNKNOWN otherwise), keep its exact bytes in
 * the blob store and its record, tag and referrer entry in level.
 */
import { randomUUID } from 'node:crypto';
import {
  digestOf,
  isBootfleetError,
  MediaType,
  parseDigest,
  parseManifestDocument,
  type Descriptor,
  type Digest,
  type ParsedManifestDocument,
} from '../../protocol/index.js';
import { registryError } from './errors.js';
import type { ManifestRecord } from './metadata.js';
import type { Registry } from './registry.js';

export interface PushedManifest {
  readonly record: ManifestRecord;
  readonly digest: Digest;
}

/** Validates and stores `bytes` as a manifest of `repo`; `tag` set when pushed by tag, `byDigest` when by digest. */
export async function pushManifest(registry: Registry, repo: string, bytes: Buffer, contentType: string | undefined, ref: { tag?: string; byDigest?: Digest }): Promise<PushedManifest> {
  const digest = ref.byDigest === undefined ? digestOf(bytes) : digestOf(bytes, ref.byDigest.algorithm);
  if (ref.byDigest !== undefined && digest.value !== ref.byDigest.value) {
    throw registryError('BOOTFLEET_DIGEST_INVALID', `manifest has digest ${digest.value}, pushed as ${ref.byDigest.value}`);
  }
  const doc = parseDocument(bytes, contentType);
  const mediaType = documentMediaType(doc, contentType);
  await checkReferences(registry, repo, doc);
  const body = doc.kind === 'manifest' ? doc.manifest : doc.index;
  const record: ManifestRecord = {
    digest: digest.value,
    mediaType,
    size: bytes.byteLength,
    blobs: doc.kind === 'manifest' ? [doc.manifest.config.digest, ...doc.manifest.layers.map((l) => l.digest)] : [],
    children: doc.kind === 'index' ? doc.index.manifests.map((m) => m.digest) : [],
    ...(body.subject === undefined ? {} : { subject: body.subject.digest }),
  };
  await registry.store.putBytes(bytes, digest, randomUUID());
  await registry.meta.putManifest(repo, record, ref.tag, referrerDescriptor(doc, record));
  return { record, digest };
}

function parseDocument(bytes: Buffer, contentType: string | undefined): ParsedManifestDocument {
  try {
    return parseManifestDocument(bytes, contentType);
  } catch (error) {
    if (isBootfleetError(error)) {
      throw registryError('BOOTFLEET_REGISTRY_MANIFEST_INVALID', error.message, { cause: error.code, ...error.details });
    }
    throw error;
  }
}

/** The body's own mediaType wins; a Content-Type that contradicts it is refused (spec: they must match). */
function documentMediaType(doc: ParsedManifestDocument, contentType: string | undefined): string {
  const declared = doc.kind === 'manifest' ? doc.manifest.mediaType : doc.index.mediaType;
  const header = contentType?.split(';')[0]?.trim();
  if (declared !== undefined && header !== undefined && header !== '' && header !== declared) {
    throw registryError('BOOTFLEET_REGISTRY_MANIFEST_INVALID', `Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  }
  return declared ?? (header !== undefined && header !== '' ? header : doc.kind === 'index' ? MediaType.ociIndex : MediaType.ociManifest);
}

/** Config and layers must be blobs of the repository; an index's children must be its manifests. `subject` need not exist (spec). */
async function checkReferences(registry: Registry, repo: string, doc: ParsedManifestDocument): Promise<void> {
  const { meta, store } = registry;
  if (doc.kind === 'index') {
    for (const child of doc.index.manifests) {
      if ((await meta.getManifest(repo, child.digest)) === undefined) throw missing(child.digest, 'manifest');
    }
    return;
  }
  for (const descriptor of [doc.manifest.config, ...doc.manifest.layers]) {
    // Foreign layers (Docker "urls") live elsewhere by design.
    if (descriptor.urls !== undefined && descriptor.urls.length > 0) continue;
    const present = (await meta.hasBlob(repo, descriptor.digest)) && (await store.stat(parseDigest(descriptor.digest))) !== undefined;
    if (!present) throw missing(descriptor.digest, 'blob');
  }
}

function missing(digest: string, what: string): Error {
  return registryError('BOOTFLEET_REGISTRY_MANIFEST_BLOB_UNKNOWN', `${what} ${digest} is not in the repository`, { digest });
}

/** The descriptor the referrers API lists (spec, "Listing Referrers"): artifactType falls back to the config media type. */
function referrerDescriptor(doc: ParsedManifestDocument, record: ManifestRecord): Descriptor | undefined {
  if (record.subject === undefined) return undefined;
  const body = doc.kind === 'manifest' ? doc.manifest : doc.index;
  const artifactType = body.artifactType ?? (doc.kind === 'manifest' ? doc.manifest.config.mediaType : undefined);
  return {
    mediaType: record.mediaType,
    digest: record.digest,
    size: record.size,
    ...(artifactType === undefined ? {} : { artifactType }),
    ...(body.annotations === undefined ? {} : { annotations: body.annotations }),
  };
}
