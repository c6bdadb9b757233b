import { describe, expect, it } from 'vitest';
import { createDigester, DIGEST_HEX_LENGTH, digestOf, digestPath, isDigest, parseDigest } from '../../protocol/index.js';

const SHA256 = `sha256:${'0123456789abcdef'.repeat(4)}`;
const SHA512 = `sha512:${'0123456789abcdef'.repeat(8)}`;

describe('parseDigest', () => {
  it('accepts sha256 and sha512 in canonical form', () => {
    expect(parseDigest(SHA256)).toEqual({ algorithm: 'sha256', hex: '0123456789abcdef'.repeat(4), value: SHA256 });
    expect(parseDigest(SHA512).algorithm).toBe('sha512');
  });
  it.each([
    ['path traversal', 'sha256:../../etc/passwd'],
    ['uppercase hex', `sha256:${'A'.repeat(64)}`],
    ['short hex', `sha256:${'a'.repeat(63)}`],
    ['long hex', `sha256:${'a'.repeat(65)}`],
    ['sha512 length for sha256', `sha256:${'a'.repeat(128)}`],
    ['unknown algorithm', `md5:${'a'.repeat(32)}`],
    ['sha384', `sha384:${'a'.repeat(96)}`],
    ['no algorithm', 'a'.repeat(64)],
    ['trailing newline', `${SHA256}\n`],
    ['slash in hex', `sha256:${'a'.repeat(31)}/${'a'.repeat(32)}`],
    ['empty', ''],
  ])('refuses %s', (_name, input) => {
    expect(() => parseDigest(input)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_DIGEST_INVALID' }));
  });
  it('refuses non-strings', () => {
    expect(() => parseDigest(42)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_DIGEST_INVALID' }));
    expect(isDigest(undefined)).toBe(false);
    expect(isDigest(SHA256)).toBe(true);
  });
});

describe('digestPath', () => {
  it('is the OCI layout path under the root', () => {
    expect(digestPath('/store', parseDigest(SHA256))).toBe(`/store/blobs/sha256/${'0123456789abcdef'.repeat(4)}`);
  });
});

describe('digestOf', () => {
  it('hashes bytes', () => {
    expect(digestOf('').value).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(digestOf('', 'sha512').value.startsWith('sha512:cf83e1357eefb8bd')).toBe(true);
  });
});

describe('createDigester', () => {
  it('streams into the same digest as digestOf', () => {
    const hash = createDigester();
    hash.update('ab');
    hash.update('c');
    expect(`sha256:${hash.digest('hex')}`).toBe(digestOf('abc').value);
    expect(createDigester('sha512').digest('hex')).toHaveLength(DIGEST_HEX_LENGTH.sha512);
  });
});
