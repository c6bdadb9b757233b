/**
 * Part of step "verify" when the configuration names builder keys: the image
 * must carry a signature by one of them (SEED-GOALS goal 6: "The builder of
 * the images can sign the images with keys that are under their own
 * control"), found through the registry's referrers API (docs/registry.md,
 * "Signing"), or given inline by the signed desired state (`imageSignature`).
 * No candidate verifies: BOOTFLEET_SIG_MISSING, before anything is staged.
 */
import {
  BootfleetError,
  IMAGE_SIGNATURE_MAX_BYTES,
  isBootfleetError,
  MAX_MANIFEST_BYTES,
  parseDigest,
  parseImageManifest,
  signatureBundleLayer,
  verifyImageSignatureBundle,
  type TrustedKeys,
} from '../../protocol/index.js';
import { RegistryClient } from '../registry/client.js';
import { listSignatureReferrers } from '../registry/referrers.js';
import type { PipelineContext, UpdateTarget } from './context.js';

async function verifyFromRegistry(client: RegistryClient, target: UpdateTarget, keys: TrustedKeys, refused: string[]): Promise<string | undefined> {
  for (const candidate of await listSignatureReferrers(client, target.repository, target.digest)) {
    try {
      const artifact = await client.getManifest(target.repository, parseDigest(candidate.digest));
      if (artifact.bytes.length > MAX_MANIFEST_BYTES) continue;
      const layer = signatureBundleLayer(parseImageManifest(artifact.bytes), target.digest);
      return verifyImageSignatureBundle(await client.getBlobBytes(target.repository, layer, IMAGE_SIGNATURE_MAX_BYTES), target.digest, keys);
    } catch (error) {
      if (!isBootfleetError(error)) throw error;
      refused.push(`${candidate.digest.slice(0, 19)}: ${error.code}`);
    }
  }
  return undefined;
}

/** Returns the builder key id that signed the image. */
export async function verifyBuilderSignature(ctx: PipelineContext, target: UpdateTarget, keys: TrustedKeys): Promise<string> {
  const refused: string[] = [];
  if (target.imageSignature !== undefined) {
    try {
      return verifyImageSignatureBundle(Buffer.from(JSON.stringify(target.imageSignature)), target.digest, keys);
    } catch (error) {
      if (!isBootfleetError(error)) throw error;
      refused.push(`inline: ${error.code}`);
    }
  }
  for (const [i, bundle] of (target.prepared?.signatures ?? []).entries()) {
    try {
      return verifyImageSignatureBundle(bundle, target.digest, keys);
    } catch (error) {
      if (!isBootfleetError(error)) throw error;
      refused.push(`archive ${i}: ${error.code}`);
    }
  }
  // Offline content (an archive) carries its signatures with it: no registry to ask.
  if (target.prepared !== undefined) throw missingSignature(target, refused);
  const client = new RegistryClient(target.registry, {
    ...(ctx.pull.credentials === undefined ? {} : { credentials: ctx.pull.credentials }),
    ...(ctx.pull.plainHttp === undefined ? {} : { plainHttp: ctx.pull.plainHttp }),
  });
  try {
    const keyId = await verifyFromRegistry(client, target, keys, refused);
    if (keyId !== undefined) return keyId;
  } finally {
    await client.close();
  }
  throw missingSignature(target, refused);
}

function missingSignature(target: UpdateTarget, refused: readonly string[]): BootfleetError {
  return new BootfleetError('BOOTFLEET_SIG_MISSING', `no signature by a trusted builder key for ${target.digest}${refused.length > 0 ? ` (${refused.join(', ')})` : ''}`, {
    details: { image: target.digest, refused },
  });
}
