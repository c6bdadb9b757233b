import { readFile, stat, writeFile } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateSigningKey,
  publicKeyFromPem,
  readPublicKey,
  readSigningKey,
  signingKeyFromPem,
  TrustedKeys,
  writeKeyPair,
} from '../../protocol/index.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('bootfleet-keys-');

describe('key files', () => {
  it.each(['ecdsa-p256', 'ed25519'] as const)('writes a %s pair with a 0600 private key and reads it back', async (algorithm) => {
    const key = generateSigningKey(algorithm);
    const { privatePath, publicPath } = await writeKeyPair(join(dir(), 'builder'), key);
    expect((await stat(privatePath)).mode & 0o777).toBe(0o600);
    const loaded = await readSigningKey(privatePath);
    expect(loaded.keyId).toBe(key.keyId);
    expect(loaded.algorithm).toBe(algorithm);
    expect((await readPublicKey(publicPath)).keyId).toBe(key.keyId);
    // A public key can be derived from the private file too.
    expect((await readPublicKey(privatePath)).keyId).toBe(key.keyId);
  });

  it('refuses to overwrite either file and leaves the old key intact', async () => {
    const first = generateSigningKey('ed25519');
    await writeKeyPair(join(dir(), 'k'), first);
    const before = await readFile(join(dir(), 'k.key'), 'utf8');
    await expect(writeKeyPair(join(dir(), 'k'), generateSigningKey('ed25519'))).rejects.toMatchObject({ code: 'BOOTFLEET_KEY_EXISTS' });
    expect(await readFile(join(dir(), 'k.key'), 'utf8')).toBe(before);
    // Only the public half exists: the private key must not be left behind alone.
    await writeFile(join(dir(), 'p.pub'), 'placeholder');
    await expect(writeKeyPair(join(dir(), 'p'), generateSigningKey('ed25519'))).rejects.toMatchObject({ code: 'BOOTFLEET_KEY_EXISTS' });
    await expect(stat(join(dir(), 'p.key'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reports a missing directory as a file error', async () => {
    await expect(writeKeyPair(join(dir(), 'no', 'such', 'k'), generateSigningKey('ed25519'))).rejects.toMatchObject({ code: 'BOOTFLEET_FILE_UNREADABLE' });
  });

  it('refuses unreadable, non-PEM, oversized and unsupported keys', async () => {
    await expect(readSigningKey(join(dir(), 'missing.key'))).rejects.toMatchObject({ code: 'BOOTFLEET_KEY_INVALID' });
    await writeFile(join(dir(), 'junk.key'), 'not a key');
    await expect(readSigningKey(join(dir(), 'junk.key'))).rejects.toMatchObject({ code: 'BOOTFLEET_KEY_INVALID' });
    await expect(readPublicKey(join(dir(), 'junk.key'))).rejects.toMatchObject({ code: 'BOOTFLEET_KEY_INVALID' });
    await writeFile(join(dir(), 'big.key'), Buffer.alloc(70 * 1024, 0x41));
    await expect(readSigningKey(join(dir(), 'big.key'))).rejects.toMatchObject({ code: 'BOOTFLEET_KEY_INVALID' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => signingKeyFromPem(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }))).toThrow(expect.objectContaining({ code: 'BOOTFLEET_KEY_INVALID' }));
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    expect(() => publicKeyFromPem(p384.publicKey.export({ type: 'spki', format: 'pem' }))).toThrow(expect.objectContaining({ code: 'BOOTFLEET_KEY_INVALID' }));
  });

  it('loads trusted keys from files', async () => {
    const a = generateSigningKey('ecdsa-p256');
    const b = generateSigningKey('ed25519');
    await writeKeyPair(join(dir(), 'a'), a);
    await writeKeyPair(join(dir(), 'b'), b);
    const trusted = await TrustedKeys.fromFiles([join(dir(), 'a.pub'), join(dir(), 'b.pub')]);
    expect(trusted.size).toBe(2);
    expect(trusted.get(b.keyId)?.algorithm).toBe('ed25519');
    expect(trusted.get('unknown')).toBeUndefined();
  });
});
