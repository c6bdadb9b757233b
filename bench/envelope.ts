/**
 * Signed-message verification: our whole pipeline (size bound, bundle parse,
 * key lookup, @sigstore/verify, payload type, schema, claims) against a bare
 * node:crypto verify of the same PAE bytes. The ratio is the price of parsing
 * hostile input carefully; a device verifies a handful of messages a day, a
 * server-side checker or a simulator verifies thousands.
 *
 *   npm run build && node dist/bench/envelope.js        BENCH_ROUND_MS=200 (per round, 5 rounds)
 */
import { verify } from 'node:crypto';
import { dsse } from '@sigstore/core';
import {
  DESIRED_STATE_PAYLOAD_TYPE,
  generateSigningKey,
  signMessage,
  TrustedKeys,
  verifySignedMessage,
  type DesiredState,
  type KeyAlgorithm,
} from '../protocol/index.js';
import { compareOps, emitResults, result, type BenchResult } from './harness.js';

const roundMs = Number(process.env.BENCH_ROUND_MS ?? '200');

function message(): DesiredState {
  const now = Math.floor(Date.now() / 1000);
  return {
    device: 'bench-device',
    seq: 2,
    issuedAt: now,
    expiresAt: now + 3600,
    campaign: 'bench',
    image: {
      registry: '127.0.0.1:5000',
      repository: 'fleet/os',
      digest: `sha256:${'a'.repeat(64)}`,
      size: 2048,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      version: '1.0.0',
    },
    layers: Array.from({ length: 40 }, (_, i) => ({
      digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      size: 1_000_000 + i,
      mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
      missing: i % 3 === 0,
    })),
    policy: { downloadOnly: false, allowDowngrade: false, healthTimeoutSeconds: 300 },
  };
}

async function measure(algorithm: KeyAlgorithm): Promise<BenchResult> {
  const key = generateSigningKey(algorithm);
  const keys = new TrustedKeys([key]);
  const bundle = signMessage(message(), DESIRED_STATE_PAYLOAD_TYPE, key);
  const bytes = Buffer.from(JSON.stringify(bundle));
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(bundle.dsseEnvelope?.payload ?? '', 'base64');
  const signature = Buffer.from(bundle.dsseEnvelope?.signatures[0]?.sig ?? '', 'base64');
  const pae = dsse.preAuthEncoding(DESIRED_STATE_PAYLOAD_TYPE, payload);
  const { ours, baseline: bare } = compareOps(
    () => {
      verifySignedMessage('desired-state', bytes, { keys, device: 'bench-device', now, lastSeq: 1 });
    },
    () => {
      if (!verify(algorithm === 'ed25519' ? null : 'sha256', pae, key.publicKey, signature)) throw new Error('bare verify failed');
    },
    5,
    roundMs,
  );
  await Promise.resolve();
  return result(
    `verify a signed desired state (40 layers, ${algorithm})`,
    ours,
    'msg/s',
    'bare crypto.verify of the same bytes',
    bare,
    true,
    // Parsing hostile input carefully costs; a device verifies a handful a day, a simulator thousands a second.
    `target >= 0.3; ${bytes.byteLength} bytes per envelope`,
  );
}

const results = [await measure('ecdsa-p256'), await measure('ed25519')];
for (const r of results) {
  process.stdout.write(`${r.name}: ${Math.round(r.value)} ${r.unit}; ${r.baselineName}: ${Math.round(r.baselineValue)} ${r.unit}; ratio ${r.ratio.toFixed(2)}\n`);
}
emitResults(results);
