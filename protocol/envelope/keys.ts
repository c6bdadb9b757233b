/**
 * Signing keys: ECDSA P-256 and Ed25519, made and read with node:crypto.
 * A key's id is the lowercase hex SHA-256 of its SubjectPublicKeyInfo DER;
 * it is the DSSE `keyid` and the bundle's public-key `hint`.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile, unlink } from 'node:fs/promises';
import { BootfleetError } from '../errors.js';

export const KEY_ALGORITHMS = ['ecdsa-p256', 'ed25519'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyId: string;
  readonly algorithm: KeyAlgorithm;
}

export interface PublicKey {
  readonly publicKey: KeyObject;
  readonly keyId: string;
  readonly algorithm: KeyAlgorithm;
}

const MAX_KEY_FILE_BYTES = 64 * 1024;

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function algorithmOf(key: KeyObject): KeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  throw new BootfleetError(
    'BOOTFLEET_KEY_INVALID',
    `unsupported key type ${String(key.asymmetricKeyType)}${curve === undefined ? '' : ` (${curve})`}: use ecdsa-p256 or ed25519`,
  );
}

export function generateSigningKey(algorithm: KeyAlgorithm): SigningKey {
  const { privateKey, publicKey } =
    algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicKey, keyId: keyIdOf(publicKey), algorithm };
}

export function signingKeyFromPem(pem: string | Buffer): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_KEY_INVALID', 'not a PEM private key', { cause: error });
  }
  const algorithm = algorithmOf(privateKey);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey), algorithm };
}

export function publicKeyFromPem(pem: string | Buffer): PublicKey {
  let publicKey: KeyObject;
  try {
    // createPublicKey also accepts a private key and derives its public half.
    publicKey = createPublicKey(pem);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_KEY_INVALID', 'not a PEM public key', { cause: error });
  }
  return { publicKey, keyId: keyIdOf(publicKey), algorithm: algorithmOf(publicKey) };
}

export function privateKeyPem(key: SigningKey): string {
  return key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function publicKeyPem(key: { publicKey: KeyObject }): string {
  return key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

async function readKeyFile(path: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_KEY_INVALID', `cannot read key file ${path}`, { cause: error, details: { path } });
  }
  if (data.byteLength > MAX_KEY_FILE_BYTES) {
    throw new BootfleetError('BOOTFLEET_KEY_INVALID', `key file ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes`, { details: { path } });
  }
  return data;
}

export async function readSigningKey(path: string): Promise<SigningKey> {
  const data = await readKeyFile(path);
  try {
    return signingKeyFromPem(data);
  } catch (error) {
    throw rethrowWithPath(error, path);
  }
}

export async function readPublicKey(path: string): Promise<PublicKey> {
  const data = await readKeyFile(path);
  try {
    return publicKeyFromPem(data);
  } catch (error) {
    throw rethrowWithPath(error, path);
  }
}

function rethrowWithPath(error: unknown, path: string): unknown {
  if (error instanceof BootfleetError) {
    return new BootfleetError(error.code, `${path}: ${error.message}`, { cause: error.cause, details: { path } });
  }
  return error;
}

/**
 * Writes `<prefix>.key` (PKCS#8, mode 0600) and `<prefix>.pub` (SPKI). Refuses
 * to overwrite either file: losing a signing key strands every device that trusts it.
 */
export async function writeKeyPair(prefix: string, key: SigningKey): Promise<{ privatePath: string; publicPath: string }> {
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  await writeExclusive(privatePath, privateKeyPem(key), 0o600);
  try {
    await writeExclusive(publicPath, publicKeyPem(key), 0o644);
  } catch (error) {
    await unlink(privatePath).catch(() => undefined);
    throw error;
  }
  return { privatePath, publicPath };
}

async function writeExclusive(path: string, content: string, mode: number): Promise<void> {
  try {
    // 'wx' fails if the file exists, atomically (O_CREAT | O_EXCL).
    await writeFile(path, content, { flag: 'wx', mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BootfleetError('BOOTFLEET_KEY_EXISTS', `${path} already exists; refusing to overwrite a key`, { details: { path } });
    }
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot write ${path}`, { cause: error, details: { path } });
  }
}

/** The keys a verifier trusts, by key id. */
export class TrustedKeys {
  readonly #keys = new Map<string, PublicKey>();

  constructor(keys: Iterable<PublicKey> = []) {
    for (const key of keys) this.#keys.set(key.keyId, key);
  }

  static async fromFiles(paths: readonly string[]): Promise<TrustedKeys> {
    return new TrustedKeys(await Promise.all(paths.map((p) => readPublicKey(p))));
  }

  get(keyId: string): PublicKey | undefined {
    return this.#keys.get(keyId);
  }

  get size(): number {
    return this.#keys.size;
  }
}
