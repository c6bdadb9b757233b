/**
 * Signing: a DSSE envelope (https://github.com/secure-systems-lab/dsse,
 * protocol v1) in a sigstore bundle v0.3 whose verification material is a
 * public-key hint. No certificate, no transparency log, no timestamp: trust
 * comes from keys the fleet's builder distributes (docs/protocol.md, "Signed envelope").
 * The sigstore modules load at the first signature (sigstore-modules.ts).
 */
import { sign } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';
import { canonicalJson } from '../canonical-json.js';
import type { SigningKey } from './keys.js';
import { sigstoreBundle, sigstoreCore } from './sigstore-modules.js';

export type { SerializedBundle };

/** Signs exact payload bytes under a payload type. */
export function signEnvelope(payload: Uint8Array, payloadType: string, key: SigningKey): SerializedBundle {
  const { bundleToJSON, toDSSEBundle } = sigstoreBundle();
  const { dsse } = sigstoreCore();
  const payloadBuffer = Buffer.from(payload);
  const pae = dsse.preAuthEncoding(payloadType, payloadBuffer);
  // Ed25519 hashes internally (algorithm null); ECDSA P-256 signs SHA-256, DER-encoded, as sigstore verifies it.
  const signature = sign(key.algorithm === 'ed25519' ? null : 'sha256', pae, key.privateKey);
  const bundle = toDSSEBundle({
    artifact: payloadBuffer,
    artifactType: payloadType,
    signature,
    keyHint: key.keyId,
    certificateChain: false,
  });
  return bundleToJSON(bundle);
}

/** Signs a JSON message in its canonical form (canonical-json.ts). */
export function signMessage(message: unknown, payloadType: string, key: SigningKey): SerializedBundle {
  return signEnvelope(Buffer.from(canonicalJson(message), 'utf8'), payloadType, key);
}
