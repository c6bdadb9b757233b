/**
 * The referrers of an image (distribution spec v1.1, "Listing Referrers"):
 * `GET /v2/<name>/referrers/<digest>?artifactType=`, an image index; a
 * registry without the API answers 404, and then the "referrers tag schema"
 * index tagged `<alg>-<hex>` is read instead. Both are registry input: parsed,
 * size-bounded, and only the signature candidates kept (at most 32).
 */
import {
  IMAGE_SIGNATURE_ARTIFACT_TYPE,
  MAX_MANIFEST_BYTES,
  MediaType,
  parseImageIndex,
  referrersFallbackTag,
  signatureCandidates,
  type Descriptor,
} from '../../protocol/index.js';
import { expectStatus, type RegistryClient } from './client.js';
import { readBodyLimited } from './http.js';

export async function listSignatureReferrers(client: RegistryClient, repository: string, subject: string): Promise<Descriptor[]> {
  const response = await client.get(repository, `referrers/${subject}?artifactType=${encodeURIComponent(IMAGE_SIGNATURE_ARTIFACT_TYPE)}`, { accept: MediaType.ociIndex });
  if (response.statusCode !== 404) {
    await expectStatus(response, [200], `referrers of ${subject}`);
    return signatureCandidates(parseImageIndex(await readBodyLimited(response, MAX_MANIFEST_BYTES, `referrers of ${subject}`)).manifests);
  }
  await response.body.dump();
  const fallback = await client.get(repository, `manifests/${referrersFallbackTag(subject)}`, { accept: MediaType.ociIndex });
  if (fallback.statusCode === 404) {
    await fallback.body.dump();
    return [];
  }
  await expectStatus(fallback, [200], `referrers tag of ${subject}`);
  return signatureCandidates(parseImageIndex(await readBodyLimited(fallback, MAX_MANIFEST_BYTES, `referrers tag of ${subject}`)).manifests);
}
