/**
 * Runs our verifier over protocol/vectors/ (the vectors other implementations
 * check themselves against), and checks that the generator still makes a set
 * with the same names and outcomes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BootfleetError, digestOf, TrustedKeys, verifySignedMessage } from '../../protocol/index.js';
import { buildVectors, type Vector } from '../../scripts/vectors.js';

const root = fileURLToPath(new URL('../../protocol/vectors/', import.meta.url));
const { vectors } = JSON.parse(await readFile(join(root, 'vectors.json'), 'utf8')) as { vectors: Vector[] };

async function outcome(dir: string, vector: Vector): Promise<{ valid: true; payloadSha256: string } | { valid: false; code: string }> {
  const keys = await TrustedKeys.fromFiles(vector.context.trustedKeys.map((k) => join(root, 'keys', k)));
  const bytes = await readFile(join(dir, vector.envelope));
  try {
    const verified = verifySignedMessage(vector.kind, bytes, {
      keys,
      device: vector.context.device,
      now: vector.context.now,
      ...(vector.context.lastSeq === undefined ? {} : { lastSeq: vector.context.lastSeq }),
      ...(vector.context.maxBytes === undefined ? {} : { maxBytes: vector.context.maxBytes }),
    });
    return { valid: true, payloadSha256: digestOf(verified.payload).hex };
  } catch (error) {
    if (error instanceof BootfleetError) return { valid: false, code: error.code };
    throw error;
  }
}

describe('protocol/vectors', () => {
  it('has valid and invalid vectors, each invalid one with its expected code', () => {
    expect(vectors.filter((v) => v.expect.valid).length).toBeGreaterThanOrEqual(3);
    const invalid = vectors.filter((v) => !v.expect.valid);
    expect(invalid.length).toBeGreaterThanOrEqual(10);
    const codes = new Set(invalid.map((v) => (v.expect.valid ? '' : v.expect.code)));
    for (const code of ['BOOTFLEET_SIG_INVALID', 'BOOTFLEET_SIG_KEY_UNKNOWN', 'BOOTFLEET_SIG_PAYLOAD_TYPE', 'BOOTFLEET_SIG_EXPIRED', 'BOOTFLEET_SIG_REPLAYED', 'BOOTFLEET_SIG_WRONG_DEVICE', 'BOOTFLEET_SIG_TOO_LARGE']) {
      expect(codes, code).toContain(code);
    }
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s', async (_name, vector) => {
    expect(await outcome(root, vector)).toEqual(vector.expect);
  });
});

describe('vector generator', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  it('makes vectors with the same names and outcomes as the committed ones', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-vectors-'));
    const fresh = await buildVectors(dir, join(root, 'keys'));
    expect(fresh.map((v) => v.name)).toEqual(vectors.map((v) => v.name));
    for (const vector of fresh) {
      const got = await outcome(dir, vector);
      expect(got.valid, vector.name).toBe(vector.expect.valid);
      if (!got.valid && !vector.expect.valid) expect(got.code, vector.name).toBe(vector.expect.code);
    }
  });
});
