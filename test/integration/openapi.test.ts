/**
 * The OpenAPI document under /docs, fetched from a real server as a client
 * generator would, checked against the OpenAPI 3.1 JSON Schema (the
 * @seriousme/openapi-schema-validator package bundles the OAI's published
 * schemas), and compared with the routes the server really answers.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';

interface Operation {
  tags?: string[];
  summary?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  security?: Record<string, string[]>[];
  components: { securitySchemes: Record<string, { type: string; scheme?: string }> };
}

/** Every route of server/routes/*, as `METHOD path` in OpenAPI's `{param}` form; a new route must be added here. */
const ROUTES = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /api/v1/signing-keys',
  'POST /api/v1/enroll',
  'GET /api/v1/devices',
  'GET /api/v1/devices/{id}',
  'PATCH /api/v1/devices/{id}',
  'DELETE /api/v1/devices/{id}/credentials',
  'GET /api/v1/audit',
  'GET /api/v1/broker',
  'POST /api/v1/campaigns',
  'GET /api/v1/campaigns',
  'GET /api/v1/campaigns/{id}',
  'PUT /api/v1/campaigns/{id}',
  'GET /api/v1/campaigns/{id}/plan',
  'POST /api/v1/campaigns/{id}/start',
  'POST /api/v1/campaigns/{id}/pause',
  'POST /api/v1/campaigns/{id}/resume',
  'POST /api/v1/campaigns/{id}/abort',
  'GET /api/v1/campaigns/{id}/events',
];
/** Operations a caller reaches without a token. */
const OPEN = new Set(['GET /healthz', 'GET /readyz', 'GET /api/v1/signing-keys', 'POST /api/v1/enroll']);

describe('OpenAPI document under /docs', () => {
  let t: TestServer;
  let doc: Document;
  beforeAll(async () => {
    t = await startTestServer();
    const response = await fetch(`${t.url}/docs/openapi.json`);
    expect(response.status).toBe(200);
    doc = (await response.json()) as Document;
  });
  afterAll(async () => {
    await t.destroy();
  });

  const operations = (): [string, Operation][] =>
    Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]));

  it('is a valid OpenAPI 3.1 document, the same at /docs and in YAML', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    // The validator is not vacuous: the same document without its info object is refused.
    const { info: _info, ...broken } = doc as unknown as Record<string, unknown>;
    expect((await new Validator().validate(broken)).valid).toBe(false);
    expect(await (await fetch(`${t.url}/docs`)).json()).toEqual(doc);
    const yaml = await fetch(`${t.url}/docs/openapi.yaml`);
    expect(yaml.headers.get('content-type')).toMatch(/^application\/yaml/);
    expect(await yaml.text()).toMatch(/^openapi: 3\.1\.0$/m);
  });

  it('lists every route with tags, a summary and responses, and only routes the server answers', async () => {
    expect(operations().map(([key]) => key).sort()).toEqual([...ROUTES].sort());
    for (const [key, op] of operations()) {
      expect(op.tags?.length, key).toBeGreaterThan(0);
      expect(op.summary, key).toBeTruthy();
      expect(Object.keys(op.responses).length, key).toBeGreaterThan(0);
      for (const [status, response] of Object.entries(op.responses)) expect((response as { description?: string }).description, `${key} ${status}`).not.toMatch(/^(Default Response)?$/);
      const [method = '', path = ''] = key.split(' ');
      // The server has the route: the not-found handler's code never answers (an unknown id may).
      const response = await fetch(`${t.url}${path.replaceAll('{id}', 'nope')}`, { method, headers: { authorization: `Bearer ${TOKENS.admin}` } });
      const text = await response.text();
      const code = response.headers.get('content-type')?.startsWith('application/json') === true ? (JSON.parse(text) as { code?: string }).code : undefined;
      expect(code, key).not.toBe('BOOTFLEET_NOT_FOUND');
    }
    const unknown = await t.api('GET', '/api/v1/nothing-here');
    expect(unknown).toMatchObject({ status: 404, body: { code: 'BOOTFLEET_NOT_FOUND' } });
    // The OCI registry's routes are the Distribution spec's, linked, not listed.
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/v2'))).toBe(false);
  });

  it('declares the bearer scheme, required by default, and marks the open operations', () => {
    expect(doc.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    for (const [key, op] of operations()) {
      if (OPEN.has(key)) expect(op.security, key).toEqual([]);
      else {
        expect(op.security, key).toBeUndefined();
        expect(op.responses['401'], key).toBeDefined();
      }
    }
  });
});
