/**
 * A recorded stand-in for EMQX 5's management API (EMQX is not installable
 * here): a real HTTP server on 127.0.0.1 port 0 that records every call and
 * answers as EMQX does for the endpoints bootfleet uses. It checks each
 * request against the shapes in EMQX's own API modules (emqx/emqx
 * apps/emqx_auth/src/emqx_authn/emqx_authn_api.erl: `request_user_create`,
 * `request_user_update`; apps/emqx_auth_mnesia/src/emqx_authz_api_mnesia.erl:
 * `rule_item`, `rules_for_clientid`, `rules_for_username`, statuses 201/204/409/404)
 * and answers 400 `BAD_REQUEST` to anything else, stricter than EMQX about
 * unknown fields so that a typo fails the test.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

export interface FakeEmqx {
  readonly url: string;
  readonly calls: RecordedCall[];
  /** user id -> password, as EMQX's built-in database would hold it (hashed there). */
  readonly users: Map<string, string>;
  /** `clients/<id>` or `users/<name>` -> rules. */
  readonly rules: Map<string, unknown[]>;
  /** Client ids connected (a kick removes one). */
  readonly connected: Set<string>;
  /** Next answers forced for a path prefix, e.g. `{ 'POST /api/v5/authentication': 500 }`. */
  readonly failures: Map<string, number>;
  stop(): Promise<void>;
}

const AUTHN = '/api/v5/authentication/password_based%3Abuilt_in_database';
const AUTHZ = '/api/v5/authorization/sources/built_in_database';
const RULE_KEYS = new Set(['topic', 'permission', 'action', 'qos', 'retain']);

function isRule(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const rule = value as Record<string, unknown>;
  return (
    Object.keys(rule).every((k) => RULE_KEYS.has(k)) &&
    typeof rule.topic === 'string' &&
    (rule.permission === 'allow' || rule.permission === 'deny') &&
    (rule.action === 'publish' || rule.action === 'subscribe' || rule.action === 'all')
  );
}

function hasOnly(value: unknown, required: readonly string[], optional: readonly string[] = []): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return required.every((k) => keys.includes(k)) && keys.every((k) => required.includes(k) || optional.includes(k));
}

function isRulesEntry(value: unknown, key: 'clientid' | 'username'): value is Record<string, unknown> & { rules: unknown[] } {
  return hasOnly(value, [key, 'rules']) && typeof value[key] === 'string' && Array.isArray(value.rules) && value.rules.every(isRule);
}

export async function startFakeEmqx(apiKey: string, apiSecret: string): Promise<FakeEmqx> {
  const state = { calls: [] as RecordedCall[], users: new Map<string, string>(), rules: new Map<string, unknown[]>(), connected: new Set<string>(), failures: new Map<string, number>() };
  const expectedAuth = `Basic ${Buffer.from(`${apiKey}:${apiSecret}`).toString('base64')}`;
  const server = createServer((request, response) => {
    void readBody(request).then((body): ServerResponse => {
      const path = request.url ?? '';
      state.calls.push({ method: request.method ?? '', path, body });
      if (request.headers.authorization !== expectedAuth) return send(response, 401, { code: 'BAD_API_KEY_OR_SECRET', message: 'Check api_key/api_secret' });
      for (const [prefix, status] of state.failures) {
        if (`${request.method ?? ''} ${path}`.startsWith(prefix)) return send(response, status, { code: 'INTERNAL_ERROR', message: 'forced' });
      }
      return route(state, request.method ?? '', path, body, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...state,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

type State = Pick<FakeEmqx, 'users' | 'rules' | 'connected'>;

function route(state: State, method: string, path: string, body: unknown, response: ServerResponse): ServerResponse {
  const bad = (): ServerResponse => send(response, 400, { code: 'BAD_REQUEST', message: 'bad request body' });
  const missing = (): ServerResponse => send(response, 404, { code: 'NOT_FOUND', message: 'not found' });
  if (method === 'GET' && (path === AUTHN || path === AUTHZ)) return send(response, 200, { enable: true });
  if (method === 'POST' && path === `${AUTHN}/users`) {
    if (!hasOnly(body, ['user_id', 'password'], ['is_superuser']) || typeof body.user_id !== 'string' || typeof body.password !== 'string') return bad();
    if (state.users.has(body.user_id)) return send(response, 409, { code: 'ALREADY_EXISTS', message: 'user exists' });
    state.users.set(body.user_id, body.password);
    return send(response, 201, { user_id: body.user_id, is_superuser: body.is_superuser === true });
  }
  const user = path.startsWith(`${AUTHN}/users/`) ? decodeURIComponent(path.slice(AUTHN.length + 7)) : undefined;
  if (user !== undefined && method === 'PUT') {
    if (!hasOnly(body, ['password'], ['is_superuser']) || typeof body.password !== 'string') return bad();
    if (!state.users.has(user)) return missing();
    state.users.set(user, body.password);
    return send(response, 200, { user_id: user, is_superuser: body.is_superuser === true });
  }
  if (user !== undefined && method === 'DELETE') return state.users.delete(user) ? send(response, 204) : missing();
  const rules = /^\/api\/v5\/authorization\/sources\/built_in_database\/rules\/(clients|users)(?:\/([^/]+))?$/.exec(path);
  if (rules !== null) {
    const kind = rules[1] === 'clients' ? 'clientid' : 'username';
    const id = rules[2] === undefined ? undefined : decodeURIComponent(rules[2]);
    if (method === 'POST' && id === undefined) {
      if (!Array.isArray(body) || body.length === 0 || !body.every((e) => isRulesEntry(e, kind))) return bad();
      const entries = body as (Record<string, unknown> & { rules: unknown[] })[];
      if (entries.some((e) => state.rules.has(`${rules[1] ?? ''}/${String(e[kind])}`))) return send(response, 409, { code: 'ALREADY_EXISTS', message: 'rules exist' });
      for (const entry of entries) state.rules.set(`${rules[1] ?? ''}/${String(entry[kind])}`, entry.rules);
      return send(response, 204);
    }
    if (method === 'PUT' && id !== undefined) {
      if (!isRulesEntry(body, kind) || body[kind] !== id) return bad();
      state.rules.set(`${rules[1] ?? ''}/${id}`, body.rules);
      return send(response, 204);
    }
    if (method === 'DELETE' && id !== undefined) return state.rules.delete(`${rules[1] ?? ''}/${id}`) ? send(response, 204) : missing();
  }
  const client = /^\/api\/v5\/clients\/([^/]+)$/.exec(path)?.[1];
  if (method === 'DELETE' && client !== undefined) {
    return state.connected.delete(decodeURIComponent(client)) ? send(response, 204) : send(response, 404, { code: 'CLIENTID_NOT_FOUND', message: 'not found' });
  }
  return send(response, 404, { code: 'NOT_FOUND', message: `no route ${method} ${path}` });
}

function readBody(request: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text === '' ? undefined : (JSON.parse(text) as unknown));
      } catch {
        resolve(text);
      }
    });
  });
}

/** Answers; returns the response so that handlers can `return send(...)`. */
function send(response: ServerResponse, status: number, body?: unknown): ServerResponse {
  if (body === undefined) return response.writeHead(status).end();
  return response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
