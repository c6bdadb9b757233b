/**
 * Who may do what in the registry. Tokens travel as HTTP Bearer, or as the
 * password of HTTP Basic with any username (so `skopeo --creds x:TOKEN` and
 * `podman login` work); the server keeps only their SHA-256 and compares in
 * constant time. There is no token service: the challenge is Basic, which is
 * what clients answer with stored credentials (RFC 7617).
 *
 * Besides the registry's own token lists, the fleet's credentials work too
 * (FleetCredentials, wired by server/start.ts): an API token with the operator
 * or admin role may push, a viewer token may pull, and an enrolled device may
 * pull with its MQTT credentials (Basic, user name = device id).
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

/** The fleet's own credentials, as the control plane knows them. */
export interface FleetCredentials {
  /** The role of an API token, or undefined when the token is not one. */
  apiTokenRole(token: string): 'viewer' | 'operator' | 'admin' | undefined;
  /** Whether the pair is an enrolled device's credentials. */
  isDeviceLogin(deviceId: string, password: string): Promise<boolean>;
}

export class RegistryAuth {
  private readonly operators: readonly Buffer[];
  private readonly devices: readonly Buffer[];
  private fleet: FleetCredentials | undefined;

  constructor(private readonly config: Pick<RegistryConfig, 'anonymousPull' | 'operatorTokenSha256' | 'deviceTokenSha256'>) {
    this.operators = config.operatorTokenSha256.map((hex) => Buffer.from(hex, 'hex'));
    this.devices = config.deviceTokenSha256.map((hex) => Buffer.from(hex, 'hex'));
  }

  /** Accept the fleet's API tokens and device credentials as well (server/start.ts). */
  useFleetCredentials(fleet: FleetCredentials): void {
    this.fleet = fleet;
  }

  /** The caller's role from its Authorization header; wrong credentials throw UNAUTHORIZED. */
  async identify(header: string | undefined): Promise<Role> {
    const credentials = credentialsOf(header);
    if (credentials === undefined) return 'anonymous';
    const { username, token } = credentials;
    const hash = createHash('sha256').update(token, 'utf8').digest();
    if (matchesAny(hash, this.operators)) return 'operator';
    if (matchesAny(hash, this.devices)) return 'device';
    const apiRole = this.fleet?.apiTokenRole(token);
    if (apiRole === 'operator' || apiRole === 'admin') return 'operator';
    if (apiRole === 'viewer') return 'device';
    if (username !== undefined && username !== '' && this.fleet !== undefined && (await this.fleet.isDeviceLogin(username, token))) return 'device';
    throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', 'the credentials are not valid for this registry');
  }

  /** Throws UNAUTHORIZED (with a challenge to answer) or DENIED (credentials that cannot do this). */
  authorize(role: Role, access: Access): void {
    if (role === 'operator') return;
    if (access === 'pull' && (role === 'device' || this.config.anonymousPull)) return;
    if (role === 'anonymous') throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', `${access} needs credentials`);
    throw registryError('BOOTFLEET_REGISTRY_DENIED', `a device token may not ${access}`);
  }
}

/** Bearer token, or Basic user and password; empty Basic credentials (`Og==`) count as none. */
function credentialsOf(header: string | undefined): { username?: string; token: string } | undefined {
  if (header === undefined || header === '') return undefined;
  if (header.length > MAX_AUTH_HEADER) throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', 'Authorization header too long');
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer' && value !== '') return { token: value };
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', 'malformed Basic credentials');
    const password = decoded.slice(colon + 1);
    return password === '' && colon === 0 ? undefined : { username: decoded.slice(0, colon), token: password };
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
