/**
 * The one HTTP client of the agent (and of the CLI's registry commands):
 * undici 7 with a dispatcher of our own (no global fetch, no global
 * dispatcher), so connection limits, timeouts and tests' proxies apply to
 * every request. Redirects of reads (registries send blob GETs to a CDN with
 * 307) are followed here, at most five, and the Authorization header is
 * dropped when the host changes; a request with a body is never redirected
 * (its body is a Buffer sent once; an upload's answer is judged as it is).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { BootfleetError } from '../../protocol/index.js';

export interface HttpOptions {
  /** Time allowed for response headers and between body chunks (a stall). */
  readonly stallTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export const DEFAULT_HTTP_OPTIONS: HttpOptions = { stallTimeoutMs: 30_000, connectTimeoutMs: 10_000 };

export function createDispatcher(options: Partial<HttpOptions> = {}): Dispatcher {
  const { connectTimeoutMs } = { ...DEFAULT_HTTP_OPTIONS, ...options };
  return new Agent({ connect: { timeout: connectTimeoutMs }, connections: 8, keepAliveTimeout: 10_000 });
}

export interface HttpRequest {
  readonly url: string;
  readonly method?: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH';
  /** A small body sent whole (a manifest, a signature bundle); layers never come this way. */
  readonly body?: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  readonly stallTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Redirects to follow (default 5); 0 returns the redirect itself (health probes judge the status). */
  readonly maxRedirects?: number;
}

export type HttpResponse = Dispatcher.ResponseData;

const MAX_REDIRECTS = 5;

export async function httpRequest(dispatcher: Dispatcher, req: HttpRequest): Promise<HttpResponse> {
  let url = new URL(req.url);
  let headers: Record<string, string> = { ...req.headers };
  const timeout = req.stallTimeoutMs ?? DEFAULT_HTTP_OPTIONS.stallTimeoutMs;
  const maxRedirects = req.body === undefined ? (req.maxRedirects ?? MAX_REDIRECTS) : 0;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const response = await request(url, {
      dispatcher,
      method: req.method ?? 'GET',
      headers,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      ...(req.body === undefined ? {} : { body: req.body }),
      ...(req.signal === undefined ? {} : { signal: req.signal }),
    });
    const location = response.headers.location;
    if (![301, 302, 303, 307, 308].includes(response.statusCode) || typeof location !== 'string' || hop === maxRedirects) return response;
    await response.body.dump();
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') break;
    if (next.host !== url.host) {
      // Credentials meant for the registry must not reach a CDN or anyone else.
      headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'));
    }
    url = next;
  }
  throw new BootfleetError('BOOTFLEET_REGISTRY_RESPONSE_INVALID', `too many or bad redirects from ${req.url}`, { details: { url: req.url } });
}

/** Reads a body up to `maxBytes`, refusing more (a hostile server could send without end). */
export async function readBodyLimited(response: HttpResponse, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      response.body.destroy();
      throw new BootfleetError('BOOTFLEET_REGISTRY_RESPONSE_INVALID', `${what} is larger than ${maxBytes} bytes`, { details: { limit: maxBytes } });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
