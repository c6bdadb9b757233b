/**
 * Content digests (OCI image spec, "Digests"). bootfleet accepts only the two
 * registered algorithms with their exact lowercase hex lengths. Parsing is the
 * only way a digest becomes a path component: `digestPath` works on a parsed
 * Digest, so a string such as `sha256:../../x` can never reach the filesystem.
 */
import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { BootfleetError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

/** Hex digits per algorithm; the pattern below encodes the same lengths. */
export const DIGEST_HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };
const DIGEST_PATTERN = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** The JSON Schema pattern for a digest string, shared with the message schemas. */
export const DIGEST_SCHEMA_PATTERN = '^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$';

declare const digestBrand: unique symbol;

/** A digest string that has passed `parseDigest`. */
export type DigestString = string & { readonly [digestBrand]: true };

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** The canonical `algorithm:hex` form. */
  readonly value: DigestString;
}

export function parseDigest(input: unknown): Digest {
  if (typeof input !== 'string' || !DIGEST_PATTERN.test(input)) {
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 80)) : typeof input;
    throw new BootfleetError('BOOTFLEET_DIGEST_INVALID', `invalid digest ${shown}: expected sha256:<64 hex> or sha512:<128 hex>`);
  }
  const colon = input.indexOf(':');
  const algorithm = input.slice(0, colon) as DigestAlgorithm;
  const hex = input.slice(colon + 1);
  return { algorithm, hex, value: input as DigestString };
}

export function isDigest(input: unknown): input is DigestString {
  return typeof input === 'string' && DIGEST_PATTERN.test(input);
}

/** `<root>/blobs/<algorithm>/<hex>`, the OCI image layout path of a blob. */
export function digestPath(root: string, digest: Digest): string {
  return join(root, 'blobs', digest.algorithm, digest.hex);
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const hex = createHash(algorithm).update(data).digest('hex');
  return parseDigest(`${algorithm}:${hex}`);
}
