/**
 * Signed test vectors (protocol/vectors/): valid and invalid envelopes that any
 * implementation of the protocol can check itself against. `buildVectors`
 * makes them from the committed test keys; `npm run vectors` rewrites the
 * folder. The format is described in protocol/vectors/README.md.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  COMMAND_PAYLOAD_TYPE,
  DESIRED_STATE_PAYLOAD_TYPE,
  MediaType,
  canonicalJson,
  digestOf,
  signEnvelope,
  signMessage,
  signingKeyFromPem,
  type Command,
  type DesiredState,
  type ErrorCode,
  type SerializedBundle,
  type SignedKind,
  type SigningKey,
} from '../protocol/index.js';

export const VECTOR_KEYS = ['server-ecdsa-p256', 'server-ed25519', 'attacker-ecdsa-p256'] as const;
type VectorKeyName = (typeof VECTOR_KEYS)[number];

/** Fixed clock of every vector: 2026-11-18T08:26:40Z. */
export const VECTOR_NOW = 1_795_000_000;
const TRUSTED = ['server-ecdsa-p256.pub', 'server-ed25519.pub'];

export interface VectorContext {
  readonly device: string;
  readonly now: number;
  readonly lastSeq?: number;
  readonly trustedKeys: readonly string[];
  readonly maxBytes?: number;
}

export interface Vector {
  readonly name: string;
  readonly description: string;
  readonly kind: SignedKind;
  /** File under envelopes/ holding the exact bytes as they arrive on the topic. */
  readonly envelope: string;
  readonly context: VectorContext;
  readonly expect: { readonly valid: true; readonly payloadSha256: string } | { readonly valid: false; readonly code: ErrorCode };
}

interface Draft {
  name: string;
  description: string;
  kind: SignedKind;
  bytes: string;
  context?: Partial<VectorContext>;
  code?: ErrorCode;
}

function desired(overrides: Partial<DesiredState> = {}): DesiredState {
  return {
    device: 'dev-1',
    seq: 7,
    issuedAt: VECTOR_NOW - 60,
    expiresAt: VECTOR_NOW + 86_400,
    campaign: 'spring-rollout',
    image: {
      registry: 'registry.example.net:5000',
      repository: 'fleet/os',
      digest: digestOf('bootfleet vector manifest').value,
      size: 1489,
      mediaType: MediaType.ociManifest,
      version: '2026.11.2',
    },
    layers: [
      { digest: digestOf('layer base').value, size: 73_400_320, mediaType: MediaType.ociLayerZstd, missing: false },
      { digest: digestOf('layer app').value, size: 5_242_880, mediaType: MediaType.ociLayerGzip, missing: true },
    ],
    policy: {
      downloadOnly: false,
      allowDowngrade: false,
      healthTimeoutSeconds: 300,
      maintenanceWindows: [{ days: ['sat', 'sun'], start: '02:00', durationMinutes: 180, timeZone: 'Europe/Berlin' }],
    },
    ...overrides,
  };
}

function command(overrides: Partial<Command> = {}): Command {
  return { device: 'dev-1', seq: 3, issuedAt: VECTOR_NOW - 10, expiresAt: VECTOR_NOW + 600, id: 'cmd-0001', command: 'rollback', reason: 'technician request', ...overrides };
}

const json = (bundle: SerializedBundle): string => `${JSON.stringify(bundle, null, 2)}\n`;

function drafts(k: Record<VectorKeyName, SigningKey>): Draft[] {
  const good = signMessage(desired(), DESIRED_STATE_PAYLOAD_TYPE, k['server-ecdsa-p256']);
  const env = good.dsseEnvelope;
  if (env === undefined) throw new Error('signMessage made no DSSE envelope');
  const tamperedPayload = Buffer.from(canonicalJson(desired({ seq: 8 }))).toString('base64');
  const flippedSig = Buffer.from(env.signatures[0]?.sig ?? '', 'base64');
  flippedSig[flippedSig.length - 1] = (flippedSig.at(-1) ?? 0) ^ 0x01;
  const attackerWithServerHint = signMessage(desired({ seq: 99 }), DESIRED_STATE_PAYLOAD_TYPE, { ...k['attacker-ecdsa-p256'], keyId: k['server-ecdsa-p256'].keyId });
  const d = (draft: Omit<Draft, 'kind'> & { kind?: SignedKind }): Draft => ({ kind: 'desired-state', ...draft });
  return [
    d({ name: 'valid-desired-state-ecdsa-p256', description: 'A desired state signed with the trusted ECDSA P-256 key.', bytes: json(good) }),
    d({ name: 'valid-desired-state-ed25519', description: 'The same desired state signed with the trusted Ed25519 key.', bytes: json(signMessage(desired(), DESIRED_STATE_PAYLOAD_TYPE, k['server-ed25519'])) }),
    { name: 'valid-command-rollback', kind: 'command', description: 'A rollback command, trusted key, within its lifetime.', bytes: json(signMessage(command(), COMMAND_PAYLOAD_TYPE, k['server-ed25519'])) },
    d({ name: 'valid-expired-within-clock-skew', description: 'Expired 299 s ago: still inside the 300 s clock skew.', bytes: json(signMessage(desired({ issuedAt: VECTOR_NOW - 3600, expiresAt: VECTOR_NOW - 299 }), DESIRED_STATE_PAYLOAD_TYPE, k['server-ecdsa-p256'])) }),
    d({ name: 'tampered-payload', description: 'Payload changed (seq 7 -> 8) after signing.', bytes: json({ ...good, dsseEnvelope: { ...env, payload: tamperedPayload } }), code: 'BOOTFLEET_SIG_INVALID' }),
    d({ name: 'tampered-signature', description: 'One bit of the signature flipped.', bytes: json({ ...good, dsseEnvelope: { ...env, signatures: [{ keyid: env.signatures[0]?.keyid ?? '', sig: flippedSig.toString('base64') }] } }), code: 'BOOTFLEET_SIG_INVALID' }),
    d({ name: 'wrong-key', description: "Signed by the attacker's key while naming the trusted key's id.", bytes: json(attackerWithServerHint), code: 'BOOTFLEET_SIG_INVALID' }),
    d({ name: 'unknown-key', description: "Signed by the attacker's key under its own id, which is not trusted.", bytes: json(signMessage(desired(), DESIRED_STATE_PAYLOAD_TYPE, k['attacker-ecdsa-p256'])), code: 'BOOTFLEET_SIG_KEY_UNKNOWN' }),
    d({ name: 'wrong-payload-type', description: 'A validly signed command presented where a desired state is expected.', bytes: json(signMessage(command(), COMMAND_PAYLOAD_TYPE, k['server-ecdsa-p256'])), code: 'BOOTFLEET_SIG_PAYLOAD_TYPE' }),
    d({ name: 'expired', description: 'Expired 301 s ago: past the 300 s clock skew (freeze attack).', bytes: json(signMessage(desired({ issuedAt: VECTOR_NOW - 3600, expiresAt: VECTOR_NOW - 301 }), DESIRED_STATE_PAYLOAD_TYPE, k['server-ecdsa-p256'])), code: 'BOOTFLEET_SIG_EXPIRED' }),
    d({ name: 'not-yet-valid', description: 'Issued 301 s in the future.', bytes: json(signMessage(desired({ issuedAt: VECTOR_NOW + 301, expiresAt: VECTOR_NOW + 7200 }), DESIRED_STATE_PAYLOAD_TYPE, k['server-ecdsa-p256'])), code: 'BOOTFLEET_SIG_NOT_YET_VALID' }),
    d({ name: 'replayed-sequence', description: 'seq 7 when 7 was already accepted (replay).', bytes: json(good), context: { lastSeq: 7 }, code: 'BOOTFLEET_SIG_REPLAYED' }),
    d({ name: 'rolled-back-sequence', description: 'seq 7 when 12 was already accepted (rollback to an older state).', bytes: json(good), context: { lastSeq: 12 }, code: 'BOOTFLEET_SIG_REPLAYED' }),
    d({ name: 'other-device', description: 'A valid message for dev-2 delivered to dev-1 (mix-and-match).', bytes: json(signMessage(desired({ device: 'dev-2' }), DESIRED_STATE_PAYLOAD_TYPE, k['server-ecdsa-p256'])), code: 'BOOTFLEET_SIG_WRONG_DEVICE' }),
    d({ name: 'oversized', description: 'A valid envelope larger than the verifier limit in context.maxBytes (endless data).', bytes: json(good), context: { maxBytes: 1024 }, code: 'BOOTFLEET_SIG_TOO_LARGE' }),
    d({ name: 'malformed-json', description: 'Truncated JSON.', bytes: json(good).slice(0, 200), code: 'BOOTFLEET_SIG_BUNDLE_INVALID' }),
    d({ name: 'bundle-v0.1-media-type', description: 'A bundle claiming media type v0.1.', bytes: json({ ...good, mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1' }), code: 'BOOTFLEET_SIG_BUNDLE_INVALID' }),
    d({ name: 'two-signatures', description: 'A second signature appended: only single-signature envelopes are accepted.', bytes: json({ ...good, dsseEnvelope: { ...env, signatures: [...env.signatures, ...env.signatures] } }), code: 'BOOTFLEET_SIG_BUNDLE_INVALID' }),
    d({ name: 'hostile-digest-in-payload', description: "Validly signed, but a layer digest is 'sha256:../../etc/passwd'.", bytes: json(signEnvelope(Buffer.from(canonicalJson({ ...desired(), layers: [{ digest: 'sha256:../../etc/passwd', size: 1, mediaType: MediaType.ociLayerGzip, missing: true }] })), DESIRED_STATE_PAYLOAD_TYPE, k['server-ecdsa-p256'])), code: 'BOOTFLEET_MESSAGE_INVALID' }),
    d({ name: 'payload-not-json', description: 'Validly signed bytes that are not JSON.', bytes: json(signEnvelope(Buffer.from('not json'), DESIRED_STATE_PAYLOAD_TYPE, k['server-ecdsa-p256'])), code: 'BOOTFLEET_JSON_INVALID' }),
    d({ name: 'expires-before-issued', description: 'Validly signed, expiresAt before issuedAt.', bytes: json(signMessage(desired({ issuedAt: VECTOR_NOW, expiresAt: VECTOR_NOW - 1 }), DESIRED_STATE_PAYLOAD_TYPE, k['server-ecdsa-p256'])), code: 'BOOTFLEET_MESSAGE_INVALID' }),
  ];
}

export async function readVectorKeys(keysDir: string): Promise<Record<VectorKeyName, SigningKey>> {
  const entries = await Promise.all(VECTOR_KEYS.map(async (name) => [name, signingKeyFromPem(await readFile(join(keysDir, `${name}.key`)))] as const));
  return Object.fromEntries(entries) as Record<VectorKeyName, SigningKey>;
}

/** Writes vectors.json and envelopes/ under `outDir`, signing with the keys in `keysDir`. */
export async function buildVectors(outDir: string, keysDir: string): Promise<Vector[]> {
  const keys = await readVectorKeys(keysDir);
  await mkdir(join(outDir, 'envelopes'), { recursive: true });
  const vectors: Vector[] = [];
  for (const draft of drafts(keys)) {
    const file = `${draft.name}.json`;
    await writeFile(join(outDir, 'envelopes', file), draft.bytes);
    const payload = payloadOf(draft.bytes);
    vectors.push({
      name: draft.name,
      description: draft.description,
      kind: draft.kind,
      envelope: `envelopes/${file}`,
      context: { device: 'dev-1', now: VECTOR_NOW, trustedKeys: TRUSTED, ...draft.context },
      expect: draft.code === undefined ? { valid: true, payloadSha256: digestOf(payload).hex } : { valid: false, code: draft.code },
    });
  }
  await writeFile(join(outDir, 'vectors.json'), `${JSON.stringify({ version: 1, vectors }, null, 2)}\n`);
  return vectors;
}

function payloadOf(bytes: string): Buffer {
  try {
    const parsed = JSON.parse(bytes) as { dsseEnvelope?: { payload?: string } };
    return Buffer.from(parsed.dsseEnvelope?.payload ?? '', 'base64');
  } catch {
    return Buffer.alloc(0);
  }
}
