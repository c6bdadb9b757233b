/**
 * Who may do what in the registry. Tokens travel as HTTP Bearer, or as the
 * password of HTTP Basic with any username (so `skopeo --creds x:TOKEN` and
 * `podman login` work); the server keeps only their SHA-256 and compares in
 * constant time. There is no token service: the challenge is Basic, which is
 * what clients answer with stored credentials (RFC 7617).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RegistryConfig } from '../config.js';
import { registryError } from './errors.js';

export type Role = 'operator' | 'device' | 'anonymous';
export type Access = 'pull' | 'push';

export const REALM = 'bootfleet-registry';
export const CHALLENGE = `Basic realm="${REALM}", charset="UTF-8"`;

/** Longest Authorization header we look at; longer ones are refused unread. */
const MAX_AUTH_HEADER = 4096;

export class RegistryAuth {
  private readonly operators: readonly Buffer[];
  private readonly devices: readonly Buffer[];

  constructor(private readonly config: Pick<RegistryConfig, 'anonymousPull' | 'operatorTokenSha256' | 'deviceTokenSha256'>) {
    this.operators = config.operatorTokenSha256.map((hex) => Buffer.from(hex, 'hex'));
    this.devices = config.deviceTokenSha256.map((hex) => Buffer.from(hex, 'hex'));
  }

  /** The caller's role from its Authorization header; wrong credentials throw UNAUTHORIZED. */
  identify(header: string | undefined): Role {
    const token = tokenOf(header);
    if (token === undefined) return 'anonymous';
    const hash = createHash('sha256').update(token, 'utf8').digest();
    if (matchesAny(hash, this.operators)) return 'operator';
    if (matchesAny(hash, this.devices)) return 'device';
    throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', 'the token is not valid for this registry');
  }

  /** Throws UNAUTHORIZED (with a challenge to answer) or DENIED (credentials that cannot do this). */
  authorize(role: Role, access: Access): void {
    if (role === 'operator') return;
    if (access === 'pull' && (role === 'device' || this.config.anonymousPull)) return;
    if (role === 'anonymous') throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', `${access} needs credentials`);
    throw registryError('BOOTFLEET_REGISTRY_DENIED', `a device token may not ${access}`);
  }
}

/** Bearer token, or Basic password; empty Basic credentials (`Og==`) count as none. */
function tokenOf(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  if (header.length > MAX_AUTH_HEADER) throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', 'Authorization header too long');
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer' && value !== '') return value;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', 'malformed Basic credentials');
    const password = decoded.slice(colon + 1);
    return password === '' && colon === 0 ? undefined : password;
  }
  throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', 'unsupported authorization scheme');
}

function matchesAny(hash: Buffer, known: readonly Buffer[]): boolean {
  let found = false;
  // No early exit: the time taken does not tell which entry matched.
  for (const candidate of known) found = timingSafeEqual(hash, candidate) || found;
  return found;
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
