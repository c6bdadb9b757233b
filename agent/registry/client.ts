/**
 * An OCI Distribution client for one registry (distribution spec v1.1,
 * "Pull"): manifests by tag or digest, blobs with Range; `send` also pushes
 * (the CLI's image signing, cli/registry-client.ts). Authentication is
 * negotiated on the first 401 and cached per repository and access (pull, or
 * pull and push). Every manifest is
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
  registryErrorCode,
  verifyDigest,
  type Descriptor,
  type Digest,
} from '../../protocol/index.js';
import { basicHeader, fetchToken, parseChallenge, type Credentials } from './auth.js';
import { createDispatcher, httpRequest, readBodyLimited, type HttpRequest, type HttpResponse } from './http.js';

export interface RegistryClientOptions {
  readonly credentials?: Credentials;
  /** A bearer token sent with every request as it is (an operator's API token for the embedded registry); no negotiation. */
  readonly bearerToken?: string;
  /** Plain HTTP; the default is true only for loopback hosts. */
  readonly plainHttp?: boolean;
  readonly dispatcher?: Dispatcher;
  readonly stallTimeoutMs?: number;
  /** Aborts every request of this client (and the body being read). */
  readonly signal?: AbortSignal;
}

export interface SendOptions {
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
  readonly stallTimeoutMs?: number;
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
  get(repository: string, path: string, headers: Record<string, string> = {}, stallTimeoutMs?: number): Promise<HttpResponse> {
    return this.send('GET', repository, path, { headers, ...(stallTimeoutMs === undefined ? {} : { stallTimeoutMs }) });
  }

  /** The URL of `path` under `/v2/<repository>/`. */
  urlFor(repository: string, path: string): string {
    return `${this.base}${repository}/${path}`;
  }

  /**
   * Any request under `/v2/<repository>/`, or to an absolute URL the registry
   * gave (an upload's Location); a method that writes negotiates push access.
   * Credentials go only to the registry's own host.
   */
  async send(method: NonNullable<HttpRequest['method']>, repository: string, path: string, extra: SendOptions = {}): Promise<HttpResponse> {
    const url = /^https?:\/\//.test(path) ? path : this.urlFor(repository, path);
    if (new URL(url).host !== new URL(this.base).host) return httpRequest(this.dispatcher, { url, method, ...requestExtras(extra, this.options) });
    const headers = extra.headers ?? {};
    const push = method !== 'GET' && method !== 'HEAD';
    const key = push ? `${repository} push` : repository;
    const send = (authorization: string | undefined): Promise<HttpResponse> =>
      httpRequest(this.dispatcher, {
        url,
        method,
        ...requestExtras({ ...extra, headers: authorization === undefined ? headers : { ...headers, authorization } }, this.options),
      });
    const preset = this.options.bearerToken === undefined ? this.auth.get(key) : `Bearer ${this.options.bearerToken}`;
    let response = await send(preset);
    if (response.statusCode !== 401) return response;
    if (this.options.bearerToken !== undefined) return this.refused(response, repository);
    const challenge = parseChallenge(response.headers['www-authenticate']);
    await response.body.dump();
    const authorization = await this.negotiate(repository, challenge, push);
    response = await send(authorization);
    if (response.statusCode === 401 || response.statusCode === 403) return this.refused(response, repository);
    this.auth.set(key, authorization);
    return response;
  }

  private async refused(response: HttpResponse, repository: string): Promise<never> {
    await response.body.dump();
    throw new BootfleetError('BOOTFLEET_REGISTRY_AUTH_FAILED', `${this.registry} refused the credentials for ${repository}`, {
      details: { registry: this.registry, repository, status: response.statusCode },
    });
  }

  private async negotiate(repository: string, challenge: ReturnType<typeof parseChallenge>, push: boolean): Promise<string> {
    const credentials = this.options.credentials;
    if (challenge.scheme === 'basic') {
      if (credentials === undefined) {
        throw new BootfleetError('BOOTFLEET_REGISTRY_AUTH_FAILED', `${this.registry} wants a user name and password`, { details: { registry: this.registry } });
      }
      return basicHeader(credentials);
    }
    return `Bearer ${await fetchToken(this.dispatcher, challenge, `repository:${repository}:${push ? 'pull,push' : 'pull'}`, credentials)}`;
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

function requestExtras(extra: SendOptions, options: RegistryClientOptions): Omit<HttpRequest, 'url' | 'method'> {
  const timeout = extra.stallTimeoutMs ?? options.stallTimeoutMs;
  return {
    headers: extra.headers ?? {},
    ...(extra.body === undefined ? {} : { body: extra.body }),
    ...(timeout === undefined ? {} : { stallTimeoutMs: timeout }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}

const ERROR_BODY_MAX_BYTES = 64 * 1024;

/**
 * How a registry's refusal becomes a code. `status`: BOOTFLEET_REGISTRY_NOT_FOUND for a 404,
 * BOOTFLEET_REGISTRY_RESPONSE_INVALID for any other status, whatever the registry says; the agent's reports,
 * its retry rule (pull-image.ts: `details.status` >= 500) and docs/errors.md count on these two, from any
 * registry. `spec`: the error body's first code (distribution spec v1.1, "Error Codes") as ours, those two
 * when there is none; the CLI's `image sign|verify` show an operator DENIED or MANIFEST_INVALID.
 */
export type RegistryErrorCodes = 'status' | 'spec';

/** The response when its status is one of `ok` (`2xx`: any); else its body is consumed and a BootfleetError thrown. */
export async function expectStatus(response: HttpResponse, ok: readonly number[] | '2xx', what: string, codes: RegistryErrorCodes = 'status'): Promise<HttpResponse> {
  const status = response.statusCode;
  if (ok === '2xx' ? status >= 200 && status < 300 : ok.includes(status)) return response;
  const specCode = codes === 'spec' ? await readSpecCode(response) : '';
  if (codes === 'status') await response.body.dump();
  const code = registryErrorCode(specCode) ?? (status === 404 ? 'BOOTFLEET_REGISTRY_NOT_FOUND' : 'BOOTFLEET_REGISTRY_RESPONSE_INVALID');
  throw new BootfleetError(code, `${what}: registry answered ${status} ${specCode}`.trim(), { details: { status, what, ...(specCode === '' ? {} : { specCode }) } });
}

/** The first code of a distribution spec error body; '' when the body is none (or over 64 KiB): the status says enough. */
async function readSpecCode(response: HttpResponse): Promise<string> {
  try {
    const body = JSON.parse((await readBodyLimited(response, ERROR_BODY_MAX_BYTES, 'registry error')).toString('utf8')) as { errors?: { code?: unknown }[] };
    const code = body.errors?.[0]?.code;
    return typeof code === 'string' ? code : '';
  } catch {
    return '';
  }
}
