/**
 * `bootfleet image sign` and `verify` (docs/registry.md, "Signing"). Signing
 * is four steps: resolve the image's manifest, sign its descriptor, push the
 * bundle and an empty config as blobs, push the artifact manifest with the
 * image as `subject`. Verifying finds bundles through the referrers API and
 * accepts the image when one of them verifies with a trusted key and names
 * exactly the image's digest.
 */
import {
  BootfleetError,
  canonicalJson,
  digestOf,
  IMAGE_SIGNATURE_ARTIFACT_TYPE,
  IMAGE_SIGNATURE_MAX_BYTES,
  IMAGE_SIGNATURE_PAYLOAD_TYPE,
  isBootfleetError,
  MediaType,
  parseDigest,
  parseImageManifest,
  referenceTarget,
  referrersFallbackTag,
  signatureBundleLayer,
  signatureCandidates,
  signEnvelope,
  verifyImageSignatureBundle,
  type Descriptor,
  type ImageReference,
  type SigningKey,
  type TrustedKeys,
} from '../protocol/index.js';
import type { RegistryRepository } from './registry-client.js';

export interface SignResult {
  readonly image: string;
  readonly signature: string;
  readonly keyId: string;
  /** False when the registry did not answer with OCI-Subject (it does not index referrers). */
  readonly referrersIndexed: boolean;
}

/** The OCI empty descriptor's content (image spec, "Guidance for an Empty Descriptor"). */
const EMPTY_JSON = Buffer.from('{}');

export async function signImage(client: RegistryRepository, ref: ImageReference, key: SigningKey, now: Date): Promise<SignResult> {
  const image = await client.manifest(referenceTarget(ref), ref.digest);
  const payload = Buffer.from(canonicalJson({ image: image.descriptor }));
  const bundle = Buffer.from(JSON.stringify(signEnvelope(payload, IMAGE_SIGNATURE_PAYLOAD_TYPE, key)));
  const empty = await client.pushBlob(EMPTY_JSON);
  const layer = await client.pushBlob(bundle);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: IMAGE_SIGNATURE_ARTIFACT_TYPE,
      config: { mediaType: MediaType.ociEmpty, digest: empty.value, size: EMPTY_JSON.byteLength },
      layers: [{ mediaType: IMAGE_SIGNATURE_ARTIFACT_TYPE, digest: layer.value, size: bundle.byteLength }],
      subject: image.descriptor,
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': IMAGE_SIGNATURE_PAYLOAD_TYPE,
        'org.opencontainers.image.created': now.toISOString(),
      },
    }),
  );
  const subject = await client.putManifest(manifest, MediaType.ociManifest);
  const signature = { mediaType: MediaType.ociManifest, digest: digestOf(manifest).value, size: manifest.byteLength, artifactType: IMAGE_SIGNATURE_ARTIFACT_TYPE };
  const referrersIndexed = subject === image.descriptor.digest;
  if (!referrersIndexed) await addToFallbackIndex(client, image.descriptor.digest, signature);
  return { image: image.descriptor.digest, signature: signature.digest, keyId: key.keyId, referrersIndexed };
}

/**
 * The referrers tag schema (distribution spec v1.1, "Referrers Tag Schema"): a
 * registry without the referrers API (no OCI-Subject answer, as Distribution
 * 2.8) gets an image index tagged `<alg>-<hex>` of the subject, listing its
 * referrers. Read-modify-write: two signers at the same moment can lose one entry.
 */
async function addToFallbackIndex(client: RegistryRepository, subject: string, referrer: Descriptor): Promise<void> {
  const tag = referrersFallbackTag(subject);
  const existing = (await client.indexByTag(tag))?.manifests ?? [];
  const manifests = [...existing.filter((d) => d.digest !== referrer.digest), referrer];
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  await client.putManifest(index, MediaType.ociIndex, tag);
}

/** Referrers of `subject` with the bundle artifact type, from the API or, without it, from the fallback tag. */
async function findSignatures(client: RegistryRepository, subject: string): Promise<Descriptor[]> {
  const listed = await client.referrers(subject, IMAGE_SIGNATURE_ARTIFACT_TYPE);
  return signatureCandidates(listed ?? (await client.indexByTag(referrersFallbackTag(subject)))?.manifests ?? []);
}

export interface VerifyResult {
  readonly image: string;
  readonly signature: string;
  readonly keyId: string;
}

/** Throws BOOTFLEET_SIG_MISSING unless a referrer bundle verifies with `keys` and names the image's digest. */
export async function verifyImage(client: RegistryRepository, ref: ImageReference, keys: TrustedKeys): Promise<VerifyResult> {
  const image = await client.manifest(referenceTarget(ref), ref.digest);
  const candidates = await findSignatures(client, image.descriptor.digest);
  const refused: string[] = [];
  for (const candidate of candidates) {
    try {
      return { image: image.descriptor.digest, signature: candidate.digest, keyId: await verifyCandidate(client, candidate.digest, image.descriptor.digest, keys) };
    } catch (error) {
      if (!isBootfleetError(error)) throw error;
      refused.push(`${candidate.digest.slice(0, 19)}: ${error.code}`);
    }
  }
  throw new BootfleetError('BOOTFLEET_SIG_MISSING', `no signature by a trusted key for ${image.descriptor.digest} (${candidates.length} candidates${refused.length > 0 ? `: ${refused.join(', ')}` : ''})`, {
    details: { image: image.descriptor.digest, refused },
  });
}

/** One candidate: its manifest (by digest), its bundle layer (by digest), the envelope, the payload's image digest. */
async function verifyCandidate(client: RegistryRepository, digest: string, imageDigest: string, keys: TrustedKeys): Promise<string> {
  const manifest = parseImageManifest((await client.manifest(digest, parseDigest(digest))).bytes);
  const layer = signatureBundleLayer(manifest, imageDigest);
  return verifyImageSignatureBundle(await client.blob(parseDigest(layer.digest), IMAGE_SIGNATURE_MAX_BYTES), imageDigest, keys);
}
