/**
 * Resolving a campaign's image in the embedded registry, once, at creation:
 * a tag becomes the manifest digest it points at now, and the campaign keeps
 * that digest for ever (a tag moved later changes nothing). The manifest and
 * config are read from the blob store and parsed again here: the registry
 * stored them, but the campaign signs what it reads, so it checks the digest.
 */
import { readFile } from 'node:fs/promises';
import {
  BootfleetError,
  IMAGE_SIGNATURE_ARTIFACT_TYPE,
  IMAGE_SIGNATURE_MAX_BYTES,
  isBootfleetError,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  parseDigest,
  parseImageConfig,
  parseImageManifest,
  parseImageReference,
  parseJson,
  parseVersion,
  verifyDigest,
  type ImageReference,
  type ImageTarget,
} from '../../protocol/index.js';
import type { Registry } from '../registry/index.js';
import type { CampaignLayer } from './schemas.js';

/** OCI image spec, "Pre-Defined Annotation Keys": the version of the packaged software. */
export const VERSION_LABEL = 'org.opencontainers.image.version';

export interface ResolvedImage {
  readonly target: ImageTarget;
  readonly layers: readonly CampaignLayer[];
  /** The builder's signature bundle, found through the referrers index, when there is one. */
  readonly imageSignature?: Record<string, unknown>;
}

export async function resolveCampaignImage(registry: Registry, reference: string, version: string | undefined): Promise<ResolvedImage> {
  const ref = parseReference(reference);
  const digest = ref.digest?.value ?? (await registry.meta.getTag(ref.name, ref.tag ?? ''));
  const record = digest === undefined ? undefined : await registry.meta.getManifest(ref.name, digest);
  if (digest === undefined || record === undefined) {
    throw new BootfleetError('BOOTFLEET_CAMPAIGN_IMAGE_UNKNOWN', `the registry holds no image ${reference}`, { details: { image: reference } });
  }
  const manifestBytes = await readBlob(registry, record.digest, MAX_MANIFEST_BYTES);
  const manifest = asImage(() => parseImageManifest(manifestBytes), reference);
  const configBytes = await readBlob(registry, manifest.config.digest, MAX_CONFIG_BYTES);
  const config = asImage(() => parseImageConfig(configBytes), reference);
  const label = config.config?.Labels?.[VERSION_LABEL];
  const chosen = version ?? label;
  if (chosen === undefined) {
    throw new BootfleetError('BOOTFLEET_CAMPAIGN_IMAGE_INVALID', `image ${reference} has no ${VERSION_LABEL} label; give a version`, { details: { image: reference } });
  }
  asImage(() => parseVersion(chosen), reference);
  const target: ImageTarget = { registry: ref.registry, repository: ref.name, digest: record.digest, size: record.size, mediaType: record.mediaType, version: chosen };
  const layers = manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }));
  const imageSignature = await findImageSignature(registry, ref.name, record.digest);
  return { target, layers, ...(imageSignature === undefined ? {} : { imageSignature }) };
}

function parseReference(reference: string): ImageReference {
  return asImage(() => parseImageReference(reference), reference);
}

/** Runs a parse, turning its error into BOOTFLEET_CAMPAIGN_IMAGE_INVALID with the original code as cause. */
function asImage<T>(parse: () => T, reference: string): T {
  try {
    return parse();
  } catch (error) {
    if (!isBootfleetError(error)) throw error;
    throw new BootfleetError('BOOTFLEET_CAMPAIGN_IMAGE_INVALID', `image ${reference}: ${error.message}`, { cause: error, details: { image: reference, cause: error.code } });
  }
}

async function readBlob(registry: Registry, digest: string, maxBytes: number): Promise<Buffer> {
  const parsed = parseDigest(digest);
  const info = await registry.store.stat(parsed);
  if (info === undefined) throw new BootfleetError('BOOTFLEET_CAMPAIGN_IMAGE_UNKNOWN', `blob ${digest} is missing from the registry`, { details: { digest } });
  if (info.size > maxBytes) throw new BootfleetError('BOOTFLEET_CAMPAIGN_IMAGE_INVALID', `blob ${digest} is larger than ${maxBytes} bytes`, { details: { digest } });
  const bytes = await readFile(registry.store.pathOf(parsed));
  verifyDigest(bytes, parsed);
  return bytes;
}

/**
 * The first signature artifact whose subject is the image (docs/registry.md,
 * "Signing"): its one layer is the sigstore bundle. Devices verify it with
 * the builder's key; the server only carries it, so a malformed one is skipped.
 */
async function findImageSignature(registry: Registry, repo: string, digest: string): Promise<Record<string, unknown> | undefined> {
  for (const referrer of await registry.meta.referrers(repo, digest)) {
    if (referrer.artifactType !== IMAGE_SIGNATURE_ARTIFACT_TYPE) continue;
    try {
      const manifest = parseImageManifest(await readBlob(registry, referrer.digest, MAX_MANIFEST_BYTES));
      const layer = manifest.layers[0];
      if (layer === undefined) continue;
      const bundle = parseJson(await readBlob(registry, layer.digest, IMAGE_SIGNATURE_MAX_BYTES), IMAGE_SIGNATURE_MAX_BYTES, 'image signature');
      if (typeof bundle === 'object' && bundle !== null && !Array.isArray(bundle)) return bundle as Record<string, unknown>;
    } catch (error) {
      if (!isBootfleetError(error)) throw error;
    }
  }
  return undefined;
}
