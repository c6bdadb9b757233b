/**
 * Bearer tokens for operators (with a role) and enrolment tokens for
 * devices. Tokens are compared by their SHA-256 hash in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BootfleetError } from '../../protocol/index.js';
import { ROLES, type AuthConfig, type Role } from './config.js';

export interface Principal {
  readonly name: string;
  readonly role: Role;
}

/** Longest token accepted; longer input is refused before hashing. */
const MAX_TOKEN_LENGTH = 256;

export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** A new random token (256 bits, base64url) and the hash to put in the configuration. */
export function generateToken(): { token: string; hash: string } {
  const token = `bf_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashToken(token) };
}

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export class TokenVerifier {
  constructor(private readonly config: AuthConfig) {}

  /** The operator behind an `Authorization: Bearer <token>` header. */
  authenticate(header: string | undefined): Principal {
    const match = header === undefined ? null : /^Bearer ([\x21-\x7e]{1,256})$/.exec(header);
    const token = match?.[1];
    if (token === undefined) {
      throw new BootfleetError('BOOTFLEET_AUTH_MISSING', 'this API needs an `Authorization: Bearer <token>` header');
    }
    const hash = hashToken(token);
    // Compare with every entry, so the time taken does not tell which entry matched.
    let found: Principal | undefined;
    for (const entry of this.config.apiTokens) {
      if (sameHash(hash, entry.hash)) found = { name: entry.name, role: entry.role };
    }
    if (found === undefined) throw new BootfleetError('BOOTFLEET_AUTH_INVALID', 'the API token is not known');
    return found;
  }

  /** The role of a raw API token, or undefined when it is none (the registry accepts API tokens too). */
  roleOf(token: string): Role | undefined {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
    const hash = hashToken(token);
    let found: Role | undefined;
    for (const entry of this.config.apiTokens) {
      if (sameHash(hash, entry.hash)) found = entry.role;
    }
    return found;
  }

  /** The name of the enrolment token, or BOOTFLEET_ENROLL_TOKEN_INVALID. */
  enrollmentTokenName(token: string): string {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw new BootfleetError('BOOTFLEET_ENROLL_TOKEN_INVALID', 'the enrolment token is not known');
    }
    const hash = hashToken(token);
    let found: string | undefined;
    for (const entry of this.config.enrollmentTokens) {
      if (sameHash(hash, entry.hash)) found = entry.name;
    }
    if (found === undefined) throw new BootfleetError('BOOTFLEET_ENROLL_TOKEN_INVALID', 'the enrolment token is not known');
    return found;
  }
}
