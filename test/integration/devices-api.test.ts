/**
 * Enrolment, API tokens, the device registry and report/presence ingest,
 * end to end: a real server (HTTP on port 0, embedded broker on port 0,
 * level on disk) and real mqtt.js devices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { deviceTopic, type Presence, type Report } from '../../protocol/index.js';
import { SAMPLE_DIGESTS } from '../helpers/messages.js';
import { connectDevice, waitFor } from '../helpers/mqtt.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';

interface Credentials {
  deviceId: string;
  password: string;
}

function report(device: string, seq: number, overrides: Partial<Report> = {}): Report {
  return { device, seq, sentAt: 1_795_000_000 + seq, phase: 'idle', slots: { booted: { digest: SAMPLE_DIGESTS.manifest, version: '1.0' } }, ...overrides };
}

function presence(device: string, online: boolean): Presence {
  return { device, online, since: 1_795_000_000 };
}

describe('devices over the API and MQTT (embedded broker)', () => {
  let t: TestServer;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await t.destroy();
  });

  const enroll = async (deviceId: string): Promise<Credentials> => {
    const { status, body } = await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId } });
    expect(status).toBe(201);
    return body as Credentials;
  };
  const online = async (creds: Credentials): Promise<MqttClient> => {
    const will = { topic: deviceTopic(creds.deviceId, 'presence'), payload: Buffer.from(JSON.stringify(presence(creds.deviceId, false))), qos: 1 as const, retain: true };
    const client = await connectDevice({ url: t.mqttUrl, clientId: creds.deviceId, username: creds.deviceId, password: creds.password, will });
    clients.push(client);
    await client.publishAsync(deviceTopic(creds.deviceId, 'presence'), JSON.stringify(presence(creds.deviceId, true)), { qos: 1, retain: true });
    return client;
  };
  const show = async (id: string): Promise<{ device: Record<string, unknown>; events: { kind: string }[] }> => {
    const { status, body } = await t.api('GET', `/api/v1/devices/${id}?events=50`, { token: TOKENS.viewer });
    expect(status).toBe(200);
    return body as { device: Record<string, unknown>; events: { kind: string }[] };
  };

  it('authenticates every API call and enforces roles, but not the probes', async () => {
    expect((await t.api('GET', '/healthz', { token: null })).status).toBe(200);
    expect(await t.api('GET', '/api/v1/devices', { token: null })).toMatchObject({ status: 401, body: { code: 'BOOTFLEET_AUTH_MISSING' } });
    expect(await t.api('GET', '/api/v1/devices', { token: 'bf_nope' })).toMatchObject({ status: 401, body: { code: 'BOOTFLEET_AUTH_INVALID' } });
    // The server's public key is no secret: provisioning fetches it without a token.
    expect(await t.api('GET', '/api/v1/signing-keys', { token: null })).toMatchObject({ status: 200 });
    expect(await t.api('PATCH', '/api/v1/devices/x', { token: TOKENS.viewer, body: {} })).toMatchObject({ status: 403, body: { code: 'BOOTFLEET_AUTH_FORBIDDEN' } });
    expect(await t.api('GET', '/api/v1/audit', { token: TOKENS.operator })).toMatchObject({ status: 403, body: { code: 'BOOTFLEET_AUTH_FORBIDDEN' } });
  });

  it('enrols a device once with the fleet token and refuses a bad token or a second enrolment', async () => {
    expect(await t.api('POST', '/api/v1/enroll', { token: null, body: { token: 'bf_wrong', deviceId: 'e1' } })).toMatchObject({
      status: 401,
      body: { code: 'BOOTFLEET_ENROLL_TOKEN_INVALID' },
    });
    expect(await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: '../x' } })).toMatchObject({ status: 400 });
    const creds = await enroll('e1');
    expect(creds).toMatchObject({ deviceId: 'e1', clientId: 'e1', username: 'e1', topics: { subscribe: [deviceTopic('e1', 'desired'), deviceTopic('e1', 'commands')] } });
    expect(await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'e1' } })).toMatchObject({
      status: 409,
      body: { code: 'BOOTFLEET_ENROLL_EXISTS' },
    });
    const client = await online(creds);
    await waitFor(() => t.server.control.ingest.counters.presenceApplied >= 1, 5_000, 'presence');
    expect((await show('e1')).device).toMatchObject({ id: 'e1', online: true, enrolledWith: 'test-fleet' });
    await client.endAsync();
  });

  it('stores reports once per seq, drops hostile ones, and tracks presence with the last will', async () => {
    const creds = await enroll('r1');
    const client = await online(creds);
    const counters = t.server.control.ingest.counters;
    const topic = deviceTopic('r1', 'reports');
    const base = counters.reportsStored;
    await client.publishAsync(topic, JSON.stringify(report('r1', 1, { phase: 'downloading', inventory: [SAMPLE_DIGESTS.layer1] })), { qos: 1 });
    await client.publishAsync(topic, JSON.stringify(report('r1', 1, { phase: 'failed' })), { qos: 1 });
    await client.publishAsync(topic, '{"device":"r1","seq":', { qos: 1 });
    await client.publishAsync(topic, JSON.stringify(report('e1', 9)), { qos: 1 });
    await client.publishAsync(topic, JSON.stringify({ ...report('r1', 10), extra: true }), { qos: 1 });
    await client.publishAsync(topic, JSON.stringify(report('r1', 2, { phase: 'verifying' })), { qos: 1 });
    await waitFor(() => counters.reportsStored >= base + 2, 5_000, 'two stored reports');
    expect(counters.reportsDuplicate).toBeGreaterThanOrEqual(1);
    expect(counters.dropped).toMatchObject({ BOOTFLEET_JSON_INVALID: 1, BOOTFLEET_DEVICE_MISMATCH: 1, BOOTFLEET_MESSAGE_INVALID: 1 });
    const { device, events } = await show('r1');
    expect(device).toMatchObject({ lastReport: { seq: 2, phase: 'verifying' }, inventory: [SAMPLE_DIGESTS.layer1], slots: { booted: { digest: SAMPLE_DIGESTS.manifest } } });
    expect(events.filter((e) => e.kind === 'phase').length).toBe(2);
    // A dead connection: the broker publishes the will, the registry marks the device offline.
    client.stream.destroy();
    const deadline = Date.now() + 5_000;
    let offline = false;
    while (!offline && Date.now() < deadline) {
      offline = (await show('r1')).device.online === false;
      if (!offline) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(offline).toBe(true);
    const state = await t.api('GET', '/api/v1/broker', { token: TOKENS.viewer });
    expect(state).toMatchObject({ status: 200, body: { mode: 'embedded', ingest: { dropped: { BOOTFLEET_JSON_INVALID: 1 } } } });
  });

  it('lists devices with label, group and online filters and cursor pagination; changes are audited', async () => {
    for (const id of ['p1', 'p2', 'p3', 'p4', 'p5']) await enroll(id);
    expect(await t.api('PATCH', '/api/v1/devices/p2', { token: TOKENS.operator, body: { labels: { site: 'paris', tier: 'canary' }, addGroups: ['lab'] } })).toMatchObject({
      status: 200,
      body: { device: { labels: { site: 'paris', tier: 'canary' }, groups: ['lab'] } },
    });
    await t.api('PATCH', '/api/v1/devices/p4', { token: TOKENS.operator, body: { labels: { site: 'paris' } } });
    await t.api('PATCH', '/api/v1/devices/p2', { token: TOKENS.operator, body: { labels: { tier: null } } });
    const ids = (body: unknown): string[] => (body as { devices: { id: string }[] }).devices.map((d) => d.id);
    expect(ids((await t.api('GET', '/api/v1/devices?label=site=paris', { token: TOKENS.viewer })).body)).toEqual(['p2', 'p4']);
    expect(ids((await t.api('GET', '/api/v1/devices?group=lab', { token: TOKENS.viewer })).body)).toEqual(['p2']);
    expect(ids((await t.api('GET', '/api/v1/devices?label=site=paris&label=tier=canary', { token: TOKENS.viewer })).body)).toEqual([]);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const { body } = await t.api('GET', `/api/v1/devices?limit=2${cursor === undefined ? '' : `&cursor=${cursor}`}`, { token: TOKENS.viewer });
      seen.push(...ids(body));
      cursor = (body as { nextCursor?: string }).nextCursor;
      if (cursor === undefined) break;
    }
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining(['e1', 'p1', 'p2', 'p3', 'p4', 'p5', 'r1']));
    expect(new Set(seen).size).toBe(seen.length);
    expect(await t.api('GET', '/api/v1/devices?cursor=Li4vZXRj', { token: TOKENS.viewer })).toMatchObject({ status: 400, body: { code: 'BOOTFLEET_DEVICE_CURSOR_INVALID' } });
    expect(await t.api('GET', '/api/v1/devices/nope', { token: TOKENS.viewer })).toMatchObject({ status: 404, body: { code: 'BOOTFLEET_DEVICE_NOT_FOUND' } });
    const audit = (await t.api('GET', '/api/v1/audit?limit=50')).body as { entries: { action: string; actor: string; target: string }[] };
    expect(audit.entries).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: 'device.update', actor: 'token:operator', target: 'p2' }),
      expect.objectContaining({ action: 'device.enroll', actor: 'enrollment:test-fleet', target: 'p5' }),
    ]));
  });

  it('revokes credentials: the connection closes, the old password is refused, and the device may enrol again', async () => {
    const creds = await enroll('v1');
    const client = await online(creds);
    client.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => client.once('close', resolve));
    expect((await t.api('DELETE', '/api/v1/devices/v1/credentials', { token: TOKENS.operator })).status).toBe(403);
    expect((await t.api('DELETE', '/api/v1/devices/v1/credentials', { token: TOKENS.admin })).status).toBe(204);
    await closed;
    await expect(connectDevice({ url: t.mqttUrl, clientId: 'v1', username: 'v1', password: creds.password })).rejects.toBeDefined();
    const again = await enroll('v1');
    expect(again.password).not.toBe(creds.password);
  });
});
