/**
 * An OCI Distribution client for one registry (distribution spec v1.1,
 * "Pull"): manifests by tag or digest, blobs with Range. Authentication is
 * negotiated on the first 401 and cached per repository. Every manifest is
 * checked against the digest it was asked by, or the Docker-Content-Digest
 * the registry claimed, before anyone parses it.
 */
import type { Dispatcher } from 'undici';
import {
  BootfleetError,
  digestOf,
  INDEX_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  parseDigest,
  verifyDigest,
  type Descriptor,
  type Digest,
} from '../../protocol/index.js';
import { basicHeader, fetchToken, parseChallenge, type Credentials } from './auth.js';
import { createDispatcher, httpRequest, readBodyLimited, type HttpResponse } from './http.js';

export interface RegistryClientOptions {
  readonly credentials?: Credentials;
  /** Plain HTTP; the default is true only for loopback hosts. */
  readonly plainHttp?: boolean;
  readonly dispatcher?: Dispatcher;
  readonly stallTimeoutMs?: number;
  /** Aborts every request of this client (and the body being read). */
  readonly signal?: AbortSignal;
}

export interface FetchedManifest {
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
}

const ACCEPT_MANIFESTS = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].join(', ');

function isLoopback(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.[0-9.]+$/.test(host);
}

export class RegistryClient {
  readonly registry: string;
  readonly dispatcher: Dispatcher;
  private readonly base: string;
  private readonly options: RegistryClientOptions;
  /** Authorization header per repository, once negotiated. */
  private readonly auth = new Map<string, string>();

  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.options = options;
    this.dispatcher = options.dispatcher ?? createDispatcher();
    this.base = `${(options.plainHttp ?? isLoopback(registry)) ? 'http' : 'https'}://${registry}/v2/`;
  }

  async close(): Promise<void> {
    if (this.options.dispatcher === undefined) await this.dispatcher.close();
  }

  /** GET with auth negotiation: anonymous first, then what the 401 challenge asks for. */
  async get(repository: string, path: string, headers: Record<string, string> = {}, stallTimeoutMs?: number): Promise<HttpResponse> {
    const url = `${this.base}${repository}/${path}`;
    const timeout = stallTimeoutMs ?? this.options.stallTimeoutMs;
    const send = (authorization: string | undefined): Promise<HttpResponse> =>
      httpRequest(this.dispatcher, {
        url,
        headers: authorization === undefined ? headers : { ...headers, authorization },
        ...(timeout === undefined ? {} : { stallTimeoutMs: timeout }),
        ...(this.options.signal === undefined ? {} : { signal: this.options.signal }),
      });
    let response = await send(this.auth.get(repository));
    if (response.statusCode !== 401) return response;
    const challenge = parseChallenge(response.headers['www-authenticate']);
    await response.body.dump();
    const authorization = await this.negotiate(repository, challenge);
    response = await send(authorization);
    if (response.statusCode === 401 || response.statusCode === 403) {
      await response.body.dump();
      throw new BootfleetError('BOOTFLEET_REGISTRY_AUTH_FAILED', `${this.registry} refused the credentials for ${repository}`, {
        details: { registry: this.registry, repository, status: response.statusCode },
      });
    }
    this.auth.set(repository, authorization);
    return response;
  }

  private async negotiate(repository: string, challenge: ReturnType<typeof parseChallenge>): Promise<string> {
    const credentials = this.options.credentials;
    if (challenge.scheme === 'basic') {
      if (credentials === undefined) {
        throw new BootfleetError('BOOTFLEET_REGISTRY_AUTH_FAILED', `${this.registry} wants a user name and password`, { details: { registry: this.registry } });
      }
      return basicHeader(credentials);
    }
    return `Bearer ${await fetchToken(this.dispatcher, challenge, `repository:${repository}:pull`, credentials)}`;
  }

  /** Fetches a manifest or index by tag or digest and verifies it. */
  async getManifest(repository: string, reference: string | Digest): Promise<FetchedManifest> {
    const ref = typeof reference === 'string' ? reference : reference.value;
    const response = await this.get(repository, `manifests/${ref}`, { accept: ACCEPT_MANIFESTS });
    await expectStatus(response, [200], `manifest ${repository}:${ref}`);
    const bytes = await readBodyLimited(response, MAX_MANIFEST_BYTES, `manifest ${repository}:${ref}`);
    const claimed = response.headers['docker-content-digest'];
    const expected = typeof reference !== 'string' ? reference : typeof claimed === 'string' ? parseDigest(claimed) : digestOf(bytes);
    try {
      verifyDigest(bytes, expected);
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_REGISTRY_RESPONSE_INVALID', `manifest ${repository}:${ref} does not match digest ${expected.value}`, {
        cause: error,
        details: { expected: expected.value },
      });
    }
    const contentType = response.headers['content-type'];
    const mediaType = typeof contentType === 'string' ? contentType.split(';')[0]?.trim() ?? '' : '';
    return { descriptor: { mediaType, digest: expected.value, size: bytes.length }, bytes };
  }

  /** A blob GET of bytes [offset, end) (RFC 9110 Range; the whole blob for 0 and no end). The caller checks the status. */
  getBlob(repository: string, digest: Digest, offset: number, stallTimeoutMs?: number, end?: number): Promise<HttpResponse> {
    const last = end === undefined ? '' : String(end - 1);
    const headers: Record<string, string> = offset > 0 || end !== undefined ? { range: `bytes=${offset}-${last}` } : {};
    return this.get(repository, `blobs/${digest.value}`, headers, stallTimeoutMs);
  }

  /** A small blob (a config) read whole, checked against its descriptor's size and digest. */
  async getBlobBytes(repository: string, descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    const digest = parseDigest(descriptor.digest);
    if (descriptor.size > maxBytes) throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', `blob ${digest.value} is over ${maxBytes} bytes`);
    const response = await this.getBlob(repository, digest, 0);
    await expectStatus(response, [200], `blob ${digest.value}`);
    const bytes = await readBodyLimited(response, descriptor.size, `blob ${digest.value}`);
    if (bytes.length !== descriptor.size) {
      throw new BootfleetError('BOOTFLEET_REGISTRY_RESPONSE_INVALID', `blob ${digest.value} is ${bytes.length} bytes, descriptor says ${descriptor.size}`);
    }
    verifyDigest(bytes, digest);
    return bytes;
  }
}

export async function expectStatus(response: HttpResponse, ok: readonly number[], what: string): Promise<void> {
  if (ok.includes(response.statusCode)) return;
  await response.body.dump();
  const details = { status: response.statusCode, what };
  if (response.statusCode === 404) throw new BootfleetError('BOOTFLEET_REGISTRY_NOT_FOUND', `${what} not found`, { details });
  throw new BootfleetError('BOOTFLEET_REGISTRY_RESPONSE_INVALID', `${what}: unexpected HTTP ${response.statusCode}`, { details });
}
