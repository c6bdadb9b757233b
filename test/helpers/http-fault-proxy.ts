/**
 * An HTTP-level stand-in for a misbehaving registry or CDN, forwarding to a
 * real registry: answers 503 a number of times, ignores Range, sends a wrong
 * Content-Range, corrupts blob bodies, or appends endless data. It can also
 * act as a Docker-style Bearer auth front (distribution token spec): 401 with
 * `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, a token
 * endpoint checking Basic credentials and scope, and only valid tokens pass.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request } from 'undici';

export interface HttpFaults {
  status503Times?: number;
  ignoreRange?: boolean;
  wrongContentRange?: boolean;
  corruptBlobs?: boolean;
  appendBytes?: number;
  bearer?: { username: string; password: string };
}

export interface HttpFaultProxy {
  readonly host: string;
  readonly blobRequests: { range: string | undefined; status: number }[];
  tokensIssued(): number;
  setFaults(faults: HttpFaults): void;
  close(): Promise<void>;
}

function bearerGate(req: IncomingMessage, res: ServerResponse, faults: HttpFaults, host: string, tokens: Map<string, string>): boolean {
  const url = new URL(req.url ?? '/', `http://${host}`);
  if (url.pathname === '/token') {
    const expected = `Basic ${Buffer.from(`${faults.bearer?.username ?? ''}:${faults.bearer?.password ?? ''}`).toString('base64')}`;
    const scope = url.searchParams.get('scope') ?? '';
    if (req.headers.authorization !== expected || url.searchParams.get('service') !== 'test-registry' || !/^repository:[a-z0-9/._-]+:pull$/.test(scope)) {
      res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return true;
    }
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, scope);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
    return true;
  }
  const repo = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(url.pathname)?.[1];
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (given !== undefined && repo !== undefined && tokens.get(given) === `repository:${repo}:pull`) return false;
  const scope = repo === undefined ? '' : `,scope="repository:${repo}:pull"`;
  res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry"${scope}` }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
  return true;
}

async function forward(req: IncomingMessage, res: ServerResponse, upstream: string, faults: HttpFaults, log: HttpFaultProxy['blobRequests']): Promise<void> {
  const isBlob = /\/blobs\/sha256:/.test(req.url ?? '');
  const headers: Record<string, string> = {};
  // In bearer mode the proxy is the auth front; otherwise the client's credentials pass through.
  for (const name of faults.bearer === undefined ? ['accept', 'range', 'authorization'] : ['accept', 'range']) {
    const value = req.headers[name];
    if (typeof value === 'string' && !(name === 'range' && faults.ignoreRange === true)) headers[name] = value;
  }
  if (faults.bearer !== undefined) {
    // The token front holds the backend's own credentials, as Harbor's core does for its storage registry.
    headers.authorization = `Basic ${Buffer.from(`${faults.bearer.username}:${faults.bearer.password}`).toString('base64')}`;
  }
  if (isBlob && (faults.status503Times ?? 0) > 0) {
    faults.status503Times = (faults.status503Times ?? 0) - 1;
    log.push({ range: req.headers.range, status: 503 });
    res.writeHead(503).end();
    return;
  }
  const response = await request(`http://${upstream}${req.url ?? '/'}`, { method: req.method === 'HEAD' ? 'HEAD' : 'GET', headers });
  const out: Record<string, string> = {};
  for (const name of ['content-type', 'docker-content-digest', 'content-range', 'content-length', 'www-authenticate']) {
    const value = response.headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  if (isBlob) log.push({ range: req.headers.range, status: response.statusCode });
  if (isBlob && faults.wrongContentRange === true && response.statusCode === 206) out['content-range'] = 'bytes 0-0/1';
  if (isBlob && faults.appendBytes !== undefined) delete out['content-length'];
  res.writeHead(response.statusCode, out);
  let first = true;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    if (isBlob && faults.corruptBlobs === true && first) chunk[0] = (chunk[0] ?? 0) ^ 0xff;
    first = false;
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
  }
  if (isBlob && faults.appendBytes !== undefined) {
    for (let sent = 0; sent < faults.appendBytes && !res.destroyed; sent += 65_536) {
      if (!res.write(Buffer.alloc(65_536, 0x41))) await new Promise((resolve) => res.once('drain', resolve));
    }
  }
  res.end();
}

export async function startHttpFaultProxy(upstream: string, initial: HttpFaults = {}): Promise<HttpFaultProxy> {
  let faults: HttpFaults = { ...initial };
  const tokens = new Map<string, string>();
  const blobRequests: HttpFaultProxy['blobRequests'] = [];
  let host = '';
  const server = createServer((req, res) => {
    if (faults.bearer !== undefined && bearerGate(req, res, faults, host, tokens)) return;
    forward(req, res, upstream, faults, blobRequests).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  host = `127.0.0.1:${address.port}`;
  return {
    host,
    blobRequests,
    tokensIssued: () => tokens.size,
    setFaults: (next) => {
      faults = { ...next };
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}
