/**
 * Registry authentication (distribution spec, "Authentication"; Docker token
 * spec, "Token Authentication Specification", as Docker Hub, GHCR and Harbor
 * implement it): try anonymously; on 401 read `WWW-Authenticate`; for Basic
 * send the credentials, for Bearer get a token from the realm (with the
 * credentials, if any, as Basic) for the service and scope, then retry.
 * Challenges and token answers are hostile input, parsed with limits.
 */
import type { Dispatcher } from 'undici';
import { BootfleetError, parseJson } from '../../protocol/index.js';
import { httpRequest, readBodyLimited } from './http.js';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface Challenge {
  readonly scheme: 'basic' | 'bearer';
  readonly params: Readonly<Record<string, string>>;
}

function authFailed(message: string, details: Record<string, unknown> = {}): BootfleetError {
  return new BootfleetError('BOOTFLEET_REGISTRY_AUTH_FAILED', message, { details });
}

/** Parses `Bearer realm="...",service="...",scope="..."` (RFC 7235 auth-params). */
export function parseChallenge(header: string | string[] | undefined): Challenge {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.length > 4096) throw authFailed('the registry sent 401 without a usable WWW-Authenticate challenge');
  const match = /^\s*(Basic|Bearer)\b\s*(.*)$/i.exec(value);
  if (match === null) throw authFailed(`unsupported auth challenge ${JSON.stringify(value.slice(0, 100))}`);
  const params: Record<string, string> = {};
  for (const m of (match[2] ?? '').matchAll(/([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g)) {
    const key = (m[1] ?? '').toLowerCase();
    params[key] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: (match[1] ?? '').toLowerCase() === 'basic' ? 'basic' : 'bearer', params };
}

export function basicHeader(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

const TOKEN_MAX_BYTES = 1024 * 1024;

/** Fetches a bearer token for `scope` from the challenge's realm. */
export async function fetchToken(dispatcher: Dispatcher, challenge: Challenge, scope: string, credentials: Credentials | undefined): Promise<string> {
  const realm = challenge.params.realm;
  if (realm === undefined) throw authFailed('bearer challenge without realm');
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw authFailed('bearer realm is not a URL', { realm: realm.slice(0, 200) });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw authFailed('bearer realm is not http(s)', { realm: realm.slice(0, 200) });
  if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
  url.searchParams.set('scope', challenge.params.scope ?? scope);
  const headers: Record<string, string> = credentials === undefined ? {} : { authorization: basicHeader(credentials) };
  const response = await httpRequest(dispatcher, { url: url.toString(), headers });
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw authFailed(`token server answered ${response.statusCode}`, { status: response.statusCode, realm: url.origin });
  }
  const body = parseJson(await readBodyLimited(response, TOKEN_MAX_BYTES, 'token answer'), TOKEN_MAX_BYTES, 'token answer');
  const token = typeof body === 'object' && body !== null ? ((body as Record<string, unknown>).token ?? (body as Record<string, unknown>).access_token) : undefined;
  if (typeof token !== 'string' || token.length === 0 || token.length > 65_536 || !/^[\x21-\x7e]+$/.test(token)) {
    throw authFailed('token answer holds no usable token');
  }
  return token;
}
