/**
 * Per-device MQTT credentials. The password is 32 random bytes, shown once
 * at enrolment; only its scrypt hash is stored. The scrypt cost is low
 * (N = 2^10) on purpose: the secret has 256 bits of entropy, so a costly
 * hash buys nothing against guessing, while every device CONNECT pays it
 * (10,000 reconnecting devices at N = 2^14 would need minutes of CPU).
 * The parameters are stored with each hash so they can be raised later.
 * A reconnect storm still costs 10,000 x ~4 ms of scrypt, so a password that
 * verified once is remembered in memory as a salted SHA-256 (never on disk)
 * and checked with that until the credentials change.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { Type, type Static } from 'typebox';
import type { Level } from 'level';
import { BootfleetError, compileParser, parseJson, type DeviceId } from '../../protocol/index.js';
import { KeyedMutex } from '../devices/keyed-mutex.js';

const StoredCredentialSchema = Type.Object({
  algorithm: Type.Literal('scrypt'),
  N: Type.Integer({ minimum: 2 }),
  r: Type.Integer({ minimum: 1 }),
  p: Type.Integer({ minimum: 1 }),
  salt: Type.String(),
  hash: Type.String(),
  createdAt: Type.Integer(),
});
type StoredCredential = Static<typeof StoredCredentialSchema>;
const storedParser = compileParser('stored device credential', StoredCredentialSchema, 'BOOTFLEET_INTERNAL');

const COST = { N: 1024, r: 8, p: 1 } as const;
const HASH_BYTES = 32;
/** A password longer than this is refused before hashing (scrypt cost grows with input). */
const MAX_PASSWORD_BYTES = 256;

type Db = Level;

export class DeviceCredentials {
  private readonly store;
  private readonly mutex = new KeyedMutex();
  /** Device id -> SHA-256(pepper || password) of the last password that verified. */
  private readonly verified = new Map<string, Buffer>();
  private readonly pepper = randomBytes(32);

  constructor(db: Db) {
    this.store = db.sublevel('device-credentials', { valueEncoding: 'utf8' });
  }

  async has(deviceId: DeviceId): Promise<boolean> {
    return (await this.store.get(deviceId)) !== undefined;
  }

  /** Issues credentials to a device that has none; two concurrent enrolments of one id cannot both win. */
  issueNew(deviceId: DeviceId): Promise<string> {
    return this.mutex.run(deviceId, async () => {
      if (await this.has(deviceId)) {
        throw new BootfleetError('BOOTFLEET_ENROLL_EXISTS', `device ${deviceId} is already enrolled`, { details: { device: deviceId } });
      }
      return this.issue(deviceId);
    });
  }

  /** Makes a new password for the device, replacing any earlier one, and returns it (the only copy). */
  async issue(deviceId: DeviceId, now: Date = new Date()): Promise<string> {
    const password = randomBytes(32).toString('base64url');
    const salt = randomBytes(16);
    const hash = await hashPassword(Buffer.from(password), salt, COST);
    const record: StoredCredential = {
      algorithm: 'scrypt',
      ...COST,
      salt: salt.toString('base64'),
      hash: hash.toString('base64'),
      createdAt: Math.floor(now.getTime() / 1000),
    };
    this.verified.delete(deviceId);
    await this.store.put(deviceId, JSON.stringify(record));
    return password;
  }

  /** True only when the device has credentials and `password` is theirs. */
  async verify(deviceId: string, password: Buffer | undefined): Promise<boolean> {
    if (password === undefined || password.length === 0 || password.length > MAX_PASSWORD_BYTES) return false;
    const fast = createHash('sha256').update(this.pepper).update(password).digest();
    const remembered = this.verified.get(deviceId);
    if (remembered !== undefined && timingSafeEqual(remembered, fast)) return true;
    // Under the device's lock, so a revocation cannot land between the read and remembering the result.
    return this.mutex.run(deviceId, async () => {
      const text = await this.store.get(deviceId);
      if (text === undefined) return false;
      const stored = storedParser.parse(parseJson(text, 4096, 'stored device credential'));
      const expected = Buffer.from(stored.hash, 'base64');
      const actual = await hashPassword(password, Buffer.from(stored.salt, 'base64'), stored, expected.length);
      const ok = actual.length === expected.length && timingSafeEqual(actual, expected);
      if (ok) this.verified.set(deviceId, fast);
      return ok;
    });
  }

  revoke(deviceId: DeviceId): Promise<void> {
    return this.mutex.run(deviceId, async () => {
      this.verified.delete(deviceId);
      await this.store.del(deviceId);
    });
  }
}

function hashPassword(password: Buffer, salt: Buffer, cost: ScryptOptions, length = HASH_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { N: cost.N, r: cost.r, p: cost.p, maxmem: 64 * 1024 * 1024 }, (error, key) => {
      if (error === null) resolve(key);
      else reject(error);
    });
  });
}
