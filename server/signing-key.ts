/** Loads the server's signing key, making one on first start. */
import { mkdir, access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateSigningKey, readSigningKey, writeKeyPair, type SigningKey } from '../protocol/index.js';

export async function loadOrCreateSigningKey(prefix: string): Promise<{ key: SigningKey; created: boolean }> {
  const privatePath = `${prefix}.key`;
  if (await exists(privatePath)) return { key: await readSigningKey(privatePath), created: false };
  await mkdir(dirname(prefix), { recursive: true, mode: 0o700 });
  const key = generateSigningKey('ecdsa-p256');
  await writeKeyPair(prefix, key);
  return { key, created: true };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
