/**
 * The pure part of image signature verification (docs/registry.md,
 * "Signing"), shared by `bootfleet image verify` and the agent: given a
 * signature artifact's manifest and its bundle, both fetched by digest, decide
 * whether it is a signature of exactly this image by a trusted key. No
 * network here: the callers fetch through their own registry clients.
 */
import { BootfleetError } from '../errors.js';
import type { TrustedKeys } from '../envelope/keys.js';
import { openEnvelope } from '../envelope/open.js';
import { IMAGE_SIGNATURE_ARTIFACT_TYPE, IMAGE_SIGNATURE_MAX_BYTES, IMAGE_SIGNATURE_PAYLOAD_TYPE, parseImageSignaturePayload } from './image-signature.js';
import type { Descriptor, ImageManifest } from './schemas.js';

/** Candidates looked at per image: a registry listing thousands of referrers is not read to the end. */
export const IMAGE_SIGNATURE_MAX_CANDIDATES = 32;

/** The referrer tag of the distribution spec's fallback ("referrers tag schema"): `<alg>-<hex>` of the subject. */
export function referrersFallbackTag(subject: string): string {
  return subject.replace(':', '-');
}

/** Referrers that may be signatures: the bundle artifact type (a registry may ignore the filter), at most 32. */
export function signatureCandidates(referrers: readonly Descriptor[]): Descriptor[] {
  return referrers.filter((d) => d.artifactType === IMAGE_SIGNATURE_ARTIFACT_TYPE).slice(0, IMAGE_SIGNATURE_MAX_CANDIDATES);
}

/** The bundle layer of a signature artifact whose subject is `imageDigest`. */
export function signatureBundleLayer(artifact: ImageManifest, imageDigest: string): Descriptor {
  const layer = artifact.layers.find((l) => l.mediaType === IMAGE_SIGNATURE_ARTIFACT_TYPE);
  if (artifact.subject?.digest !== imageDigest || layer === undefined) {
    throw new BootfleetError('BOOTFLEET_SIG_BUNDLE_INVALID', 'signature artifact has no bundle layer or another subject');
  }
  if (layer.size > IMAGE_SIGNATURE_MAX_BYTES) throw new BootfleetError('BOOTFLEET_SIG_TOO_LARGE', `signature bundle is ${layer.size} bytes`);
  return layer;
}

/** Opens the bundle with the trusted keys; only the verified payload counts, and it must name exactly `imageDigest`. Returns the key id. */
export function verifyImageSignatureBundle(bundle: Uint8Array, imageDigest: string, keys: TrustedKeys): string {
  const opened = openEnvelope(bundle, { keys, payloadType: IMAGE_SIGNATURE_PAYLOAD_TYPE, maxBytes: IMAGE_SIGNATURE_MAX_BYTES });
  // The artifact's subject field is not signed: the payload is what binds the signature to the image.
  const payload = parseImageSignaturePayload(opened.payload);
  if (payload.image.digest !== imageDigest) {
    throw new BootfleetError('BOOTFLEET_SIG_INVALID', `signature is for ${payload.image.digest}, not ${imageDigest}`);
  }
  return opened.keyId;
}
