/**
 * One set of credentials for the fleet: the registry accepts the control
 * plane's API tokens (operator pushes, viewer pulls) and an enrolled device's
 * MQTT credentials (pull only), over real HTTP against a whole server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.destroy();
});

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function startUpload(authorization: string): Promise<number> {
  const response = await fetch(`${t.url}/v2/fleet/os/blobs/uploads/`, { method: 'POST', headers: { authorization } });
  await response.body?.cancel();
  return response.status;
}

async function listTags(authorization: string): Promise<number> {
  const response = await fetch(`${t.url}/v2/fleet/os/tags/list`, { headers: { authorization } });
  await response.body?.cancel();
  return response.status;
}

describe('registry with the fleet credentials', () => {
  it('lets an operator API token push, as Bearer or as the Basic password', async () => {
    expect(await startUpload(`Bearer ${TOKENS.operator}`)).toBe(202);
    expect(await startUpload(basic('ci', TOKENS.admin))).toBe(202);
  });

  it('lets a viewer token pull but not push', async () => {
    expect(await startUpload(`Bearer ${TOKENS.viewer}`)).toBe(403);
    // An empty repository answers NAME_UNKNOWN: authorised, nothing there.
    expect(await listTags(`Bearer ${TOKENS.viewer}`)).toBe(404);
  });

  it('lets an enrolled device pull with its MQTT credentials, and nothing else', async () => {
    const { status, body } = await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'puller-1' } });
    expect(status).toBe(201);
    const { deviceId, password } = body as { deviceId: string; password: string };
    expect(await listTags(basic(deviceId, password))).toBe(404);
    expect(await startUpload(basic(deviceId, password))).toBe(403);
    expect(await listTags(basic(deviceId, `${password}x`))).toBe(401);
    expect(await listTags(basic('puller-2', password))).toBe(401);
    expect(await listTags('Bearer not-a-token')).toBe(401);
  });
});
