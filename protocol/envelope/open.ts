/**
 * Opening a signed envelope: from hostile bytes to payload bytes whose
 * signature verified against a trusted key, or a typed error. Five steps,
 * in this order so that no unauthenticated byte is interpreted beyond what
 * is needed to find the key:
 *   1. bound the size, 2. parse the bundle shape, 3. find the trusted key,
 *   4. verify the signature (@sigstore/verify, offline), 5. check the payload type.
 * The sigstore modules load at the first envelope (sigstore-modules.ts).
 */
import type { Bundle, BundleWithDsseEnvelope } from '@sigstore/bundle';
import { BootfleetError, isBootfleetError } from '../errors.js';
import { parseJson } from '../validate.js';
import type { PublicKey, TrustedKeys } from './keys.js';
import { sigstoreBundle, sigstoreVerify } from './sigstore-modules.js';

export interface OpenOptions {
  readonly keys: TrustedKeys;
  readonly payloadType: string;
  readonly maxBytes: number;
}

export interface OpenedEnvelope {
  /** The exact bytes that were signed; the only payload a caller may use. */
  readonly payload: Buffer;
  readonly payloadType: string;
  readonly keyId: string;
}

/** An empty trusted root: no CAs, no logs, no TSAs. Keys come only from the finder. */
const EMPTY_TRUSTED_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * Offline key-based verification needs all three thresholds at 0: there is no
 * log entry, no SCT and no timestamp in our bundles (ANCHORS.md, pitfalls).
 */
const OFFLINE_THRESHOLDS = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 } as const;

export function openEnvelope(input: string | Uint8Array, options: OpenOptions): OpenedEnvelope {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > options.maxBytes) {
    throw new BootfleetError('BOOTFLEET_SIG_TOO_LARGE', `signed envelope is ${size} bytes, limit ${options.maxBytes}`, {
      details: { size, limit: options.maxBytes },
    });
  }
  const bundle = parseBundle(input, options.maxBytes);
  const envelope = bundle.content.dsseEnvelope;
  const key = findKey(bundle, options.keys);
  verifySignature(bundle, key);
  if (envelope.payloadType !== options.payloadType) {
    // The DSSE verifier does not look at payloadType (ANCHORS.md): we must.
    throw new BootfleetError('BOOTFLEET_SIG_PAYLOAD_TYPE', `payload type ${JSON.stringify(envelope.payloadType)}, expected ${JSON.stringify(options.payloadType)}`, {
      details: { expected: options.payloadType, actual: envelope.payloadType },
    });
  }
  return { payload: Buffer.from(envelope.payload), payloadType: envelope.payloadType, keyId: key.keyId };
}

/** Steps 1-2: parse defensively; every field used later is checked here. */
function parseBundle(input: string | Uint8Array, maxBytes: number): BundleWithDsseEnvelope {
  let json: unknown;
  try {
    json = parseJson(input, maxBytes, 'signed envelope');
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_SIG_BUNDLE_INVALID', 'signed envelope is not valid JSON', { cause: error });
  }
  const { BUNDLE_V03_MEDIA_TYPE, bundleFromJSON } = sigstoreBundle();
  if (typeof json !== 'object' || json === null || (json as { mediaType?: unknown }).mediaType !== BUNDLE_V03_MEDIA_TYPE) {
    throw new BootfleetError('BOOTFLEET_SIG_BUNDLE_INVALID', `signed envelope must be a bundle with mediaType ${BUNDLE_V03_MEDIA_TYPE}`);
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_SIG_BUNDLE_INVALID', `malformed sigstore bundle: ${(error as Error).message}`, { cause: error });
  }
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw new BootfleetError('BOOTFLEET_SIG_BUNDLE_INVALID', 'bundle content must be a DSSE envelope');
  }
  if (bundle.verificationMaterial.content.$case !== 'publicKey') {
    throw new BootfleetError('BOOTFLEET_SIG_BUNDLE_INVALID', 'bundle verification material must be a public-key hint');
  }
  const { signatures } = bundle.content.dsseEnvelope;
  // The sigstore DSSE verifier checks signatures[0] only (ANCHORS.md); a second
  // signature would be unverified data a reader might trust, so refuse it.
  if (signatures.length !== 1) {
    throw new BootfleetError('BOOTFLEET_SIG_BUNDLE_INVALID', `envelope must carry exactly one signature, found ${signatures.length}`);
  }
  const hint = bundle.verificationMaterial.content.publicKey.hint;
  const keyid = signatures[0]?.keyid ?? '';
  if (keyid !== '' && keyid !== hint) {
    throw new BootfleetError('BOOTFLEET_SIG_BUNDLE_INVALID', 'DSSE keyid and bundle key hint disagree');
  }
  return bundle as BundleWithDsseEnvelope;
}

/** Step 3. */
function findKey(bundle: BundleWithDsseEnvelope, keys: TrustedKeys): PublicKey {
  const content = bundle.verificationMaterial.content;
  const hint = content.$case === 'publicKey' ? content.publicKey.hint : '';
  const key = keys.get(hint);
  if (key === undefined) {
    throw new BootfleetError('BOOTFLEET_SIG_KEY_UNKNOWN', `envelope is signed by key ${JSON.stringify(hint.slice(0, 80))}, which is not trusted`, {
      details: { keyId: hint.slice(0, 80) },
    });
  }
  return key;
}

/** Step 4: @sigstore/verify with an empty trusted root and our one key. */
function verifySignature(bundle: BundleWithDsseEnvelope, key: PublicKey): void {
  const { toSignedEntity, toTrustMaterial, Verifier } = sigstoreVerify();
  const material = toTrustMaterial(EMPTY_TRUSTED_ROOT, (hint) => {
    if (hint !== key.keyId) throw new BootfleetError('BOOTFLEET_SIG_KEY_UNKNOWN', 'key hint changed during verification');
    return { publicKey: key.publicKey, validFor: () => true };
  });
  try {
    new Verifier(material, OFFLINE_THRESHOLDS).verify(toSignedEntity(bundle));
  } catch (error) {
    if (isBootfleetError(error)) throw error;
    throw new BootfleetError('BOOTFLEET_SIG_INVALID', 'signature does not verify with the trusted key', {
      cause: error,
      details: { keyId: key.keyId },
    });
  }
}
