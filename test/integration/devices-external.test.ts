/**
 * External-broker mode end to end: a real server joined to a real
 * Mosquitto. Enrolment over HTTP provisions the device in Mosquitto
 * (dynamic security); the device's report reaches the registry; revoking
 * the credentials removes the account.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/index.js';
import { SAMPLE_DIGESTS } from '../helpers/messages.js';
import { collect, connectDevice, waitFor } from '../helpers/mqtt.js';
import { startMosquitto, type RunningMosquitto } from '../helpers/mosquitto.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';
import { pino } from 'pino';
import { startExternalBroker } from '../../server/broker/external.js';

const mosquitto = requireTool('mosquitto');

describe.skipIf(mosquitto.skip)('server with an external Mosquitto', () => {
  let broker: RunningMosquitto | undefined;
  let t: TestServer | undefined;
  beforeAll(async () => {
    broker = await startMosquitto(mosquitto.path ?? 'mosquitto');
    t = await startTestServer({ mode: 'external', url: broker.url, username: broker.serverUser, passwordFile: broker.serverPasswordFile, provisioning: 'mosquitto-dynsec' });
  });
  afterAll(async () => {
    await t?.destroy();
    await broker?.stop();
  });

  it('fails to start with BOOTFLEET_BROKER_UNAVAILABLE when the broker refuses the server account', async () => {
    if (broker === undefined) throw new Error('setup failed');
    const logger = pino({ level: 'silent' });
    await expect(startExternalBroker({ config: { mode: 'external', url: broker.url, username: 'nobody' }, logger })).rejects.toMatchObject({ code: 'BOOTFLEET_BROKER_UNAVAILABLE' });
  });

  it('receives the reports a device sent while the server was down (persistent session in Mosquitto)', async () => {
    if (t === undefined || broker === undefined) throw new Error('setup failed');
    const { body } = await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'ext2' } });
    const { password } = body as { password: string };
    const device = await connectDevice({ url: broker.url, clientId: 'ext2', username: 'ext2', password });
    const dir = t.dir;
    await t.stop();
    const report = { device: 'ext2', seq: 7, sentAt: 1_795_000_000, phase: 'downloading', slots: {} };
    await device.publishAsync(deviceTopic('ext2', 'reports'), JSON.stringify(report), { qos: 1 });
    await device.endAsync();
    t = await startTestServer({ mode: 'external', url: broker.url, username: broker.serverUser, passwordFile: broker.serverPasswordFile, provisioning: 'mosquitto-dynsec' }, dir);
    const counters = t.server.control.ingest.counters;
    await waitFor(() => counters.reportsStored === 1, 5_000, 'report queued while the server was down');
    expect(await t.api('GET', '/api/v1/devices/ext2', { token: TOKENS.viewer })).toMatchObject({ body: { device: { lastReport: { seq: 7, phase: 'downloading' } } } });
  });

  it('enrols over HTTP, ingests the device report through Mosquitto, publishes desired state, and revokes', async () => {
    if (t === undefined || broker === undefined) throw new Error('setup failed');
    const server = t;
    const { status, body } = await server.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'ext1' } });
    expect(status).toBe(201);
    const { password, broker: endpoints } = body as { password: string; broker: { tcp: string } };
    expect(endpoints.tcp).toBe(broker.url);
    const device = await connectDevice({ url: broker.url, clientId: 'ext1', username: 'ext1', password });
    const seen = collect(device);
    await device.subscribeAsync(deviceTopic('ext1', 'desired'), { qos: 1 });
    await server.server.control.plane.publish(deviceTopic('ext1', 'desired'), 'desired-from-server', { qos: 1, retain: true });
    await waitFor(() => seen.length > 0, 5_000, 'desired state at the device');
    const report = { device: 'ext1', seq: 1, sentAt: 1_795_000_000, phase: 'idle', slots: { booted: { digest: SAMPLE_DIGESTS.manifest } } };
    const stored = server.server.control.ingest.counters.reportsStored;
    await device.publishAsync(deviceTopic('ext1', 'reports'), JSON.stringify(report), { qos: 1 });
    await waitFor(() => server.server.control.ingest.counters.reportsStored > stored, 5_000, 'report stored');
    expect(await server.api('GET', '/api/v1/devices/ext1', { token: TOKENS.viewer })).toMatchObject({ status: 200, body: { device: { lastReport: { seq: 1 } } } });
    // The metrics count what crosses an external broker too.
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).text();
    expect(metrics).toMatch(/^bootfleet_mqtt_messages_total\{direction="in",kind="report"\} [1-9]/m);
    expect(metrics).toMatch(/^bootfleet_devices\{state="enrolled"\} [1-9]/m);
    device.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => device.once('close', resolve));
    expect((await server.api('DELETE', '/api/v1/devices/ext1/credentials')).status).toBe(204);
    await closed;
    await expect(connectDevice({ url: broker.url, clientId: 'ext1', username: 'ext1', password })).rejects.toBeDefined();
  });
});
