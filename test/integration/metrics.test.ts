/**
 * Prometheus metrics as an operator checks them: a real server (HTTP,
 * embedded broker and level on port 0), real mqtt.js devices, a real push and
 * pull over HTTP, a real campaign; then `/metrics` is scraped and its text
 * format parsed, and each figure must have moved by what happened.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { deviceTopic, type TrustedKeys } from '../../protocol/index.js';
import { sha256Hex } from '../../server/registry/index.js';
import { connectDevice, openRawSocket, socketClosed, waitFor } from '../helpers/mqtt.js';
import { blobOf, OPERATOR_TOKEN } from '../helpers/registry.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';
import { enrollSimDevice, pushVersionedImage, serverKeys, type SimDevice } from '../helpers/sim-device.js';

const OLD = `sha256:${'0'.repeat(64)}`;

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Prometheus text exposition format 0.0.4: `name{label="value",...} number`; comments skipped. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key = '', value = ''] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and at least these labels; 0 when absent (a counter not yet touched). */
function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

describe('Prometheus metrics at /metrics', () => {
  let t: TestServer;
  let keys: TrustedKeys;
  const clients: MqttClient[] = [];
  const sims: SimDevice[] = [];
  beforeAll(async () => {
    t = await startTestServer({}, undefined, { registry: { operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)] } });
    keys = await serverKeys(t);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await Promise.all(sims.map((d) => d.disconnect()));
    await t.destroy();
  });

  const scrape = async (token: string | null = TOKENS.viewer): Promise<Sample[]> => {
    const response = await fetch(`${t.url}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await response.text());
  };
  /**
   * Scrapes until `check` holds (bounded): a response is counted when the server
   * has finished it, which may be just after the client has read its last byte.
   */
  const scrapeUntil = async (check: (samples: Sample[]) => boolean, what: string): Promise<Sample[]> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const samples = await scrape();
      if (check(samples)) return samples;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('needs a viewer token, and shows the process metrics of prom-client', async () => {
    expect(await t.api('GET', '/metrics', { token: null })).toMatchObject({ status: 401, body: { code: 'BOOTFLEET_AUTH_MISSING' } });
    expect(await t.api('GET', '/metrics', { token: 'bf_nope' })).toMatchObject({ status: 401, body: { code: 'BOOTFLEET_AUTH_INVALID' } });
    const samples = await scrape();
    expect(valueOf(samples, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('counts devices online and MQTT messages in by kind, and follows the last will', async () => {
    const before = await scrape();
    const { body } = await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'm1' } });
    const password = (body as { password: string }).password;
    const presence = (online: boolean): string => JSON.stringify({ device: 'm1', online, since: 1_795_000_000 });
    const will = { topic: deviceTopic('m1', 'presence'), payload: Buffer.from(presence(false)), qos: 1 as const, retain: true };
    const client = await connectDevice({ url: t.mqttUrl, clientId: 'm1', username: 'm1', password, will });
    clients.push(client);
    await client.publishAsync(deviceTopic('m1', 'presence'), presence(true), { qos: 1, retain: true });
    await client.publishAsync(deviceTopic('m1', 'reports'), JSON.stringify({ device: 'm1', seq: 1, sentAt: 1_795_000_001, phase: 'idle', slots: {} }), { qos: 1 });
    // A report naming another device: received, then dropped at the edge.
    await client.publishAsync(deviceTopic('m1', 'reports'), JSON.stringify({ device: 'm2', seq: 2, sentAt: 1_795_000_001, phase: 'idle', slots: {} }), { qos: 1 });
    const ingest = t.server.control.ingest.counters;
    await waitFor(() => ingest.reportsStored >= 1 && ingest.presenceApplied >= 1 && Object.keys(ingest.dropped).length >= 1, 5_000, 'ingest');

    const after = await scrape();
    expect(valueOf(after, 'bootfleet_devices', { state: 'enrolled' })).toBe(valueOf(before, 'bootfleet_devices', { state: 'enrolled' }) + 1);
    expect(valueOf(after, 'bootfleet_devices', { state: 'online' })).toBe(valueOf(before, 'bootfleet_devices', { state: 'online' }) + 1);
    expect(valueOf(after, 'bootfleet_mqtt_connected_clients')).toBe(1);
    const delta = (kind: string): number =>
      valueOf(after, 'bootfleet_mqtt_messages_total', { direction: 'in', kind }) - valueOf(before, 'bootfleet_mqtt_messages_total', { direction: 'in', kind });
    expect(delta('presence')).toBe(1);
    expect(delta('report')).toBe(2);
    expect(valueOf(after, 'bootfleet_mqtt_dropped_messages_total', { code: 'BOOTFLEET_DEVICE_MISMATCH' })).toBe(1);

    // A dead connection: the broker publishes the will, and the gauge follows.
    client.stream.destroy();
    await waitFor(() => ingest.presenceApplied >= 2, 5_000, 'the last will');
    expect(valueOf(await scrape(), 'bootfleet_devices', { state: 'online' })).toBe(valueOf(before, 'bootfleet_devices', { state: 'online' }));
  });

  it('counts broker refusals: a wrong password, and a connection the packet guard cuts', async () => {
    const before = await scrape();
    await expect(connectDevice({ url: t.mqttUrl, clientId: 'm1', username: 'm1', password: 'not-the-password' })).rejects.toBeDefined();
    const socket = await openRawSocket(Number(new URL(t.mqttUrl).port));
    const closed = socketClosed(socket);
    // A PUBLISH before any CONNECT [MQTT-3.1.0-1].
    socket.write(Buffer.from([0x30, 0x02, 0x00, 0x00]));
    await closed;
    const after = await scrape();
    const delta = (reason: string): number => valueOf(after, 'bootfleet_mqtt_refusals_total', { reason }) - valueOf(before, 'bootfleet_mqtt_refusals_total', { reason });
    expect(delta('auth')).toBe(1);
    expect(delta('first-packet-not-connect')).toBe(1);
  });

  it('counts registry blob bytes received on push and served on pull, a Range included', async () => {
    const before = await scrape();
    const big = blobOf('metrics layer '.repeat(5000));
    const small = blobOf('second layer');
    await pushVersionedImage(t.url, 'fleet/metrics', [big, small], '1.0', '1.0');
    const pushed = await scrape();
    const received = valueOf(pushed, 'bootfleet_registry_blob_bytes_total', { direction: 'received' }) - valueOf(before, 'bootfleet_registry_blob_bytes_total', { direction: 'received' });
    // Both layers and the config blob, byte for byte; manifests are not blobs.
    expect(received).toBeGreaterThan(big.size + small.size);
    expect(received).toBeLessThan(big.size + small.size + 1024);

    const auth = { authorization: `Bearer ${OPERATOR_TOKEN}` };
    const whole = await fetch(`${t.url}/v2/fleet/metrics/blobs/${big.digest}`, { headers: auth });
    expect(Buffer.from(await whole.arrayBuffer()).equals(big.bytes)).toBe(true);
    const part = await fetch(`${t.url}/v2/fleet/metrics/blobs/${big.digest}`, { headers: { ...auth, range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(100);
    const served = (s: Sample[]): number =>
      valueOf(s, 'bootfleet_registry_blob_bytes_total', { direction: 'served' }) - valueOf(pushed, 'bootfleet_registry_blob_bytes_total', { direction: 'served' });
    // The download is timed under its route pattern, not its URL.
    const ranged = (s: Sample[]): number => valueOf(s, 'bootfleet_http_request_duration_seconds_count', { method: 'GET', route: '/v2/*', status: '206' });
    const pulled = await scrapeUntil((s) => served(s) >= big.size + 100 && ranged(s) >= 1, 'both downloads counted');
    expect(served(pulled)).toBe(big.size + 100);
    expect(ranged(pulled)).toBe(1);
  });

  it('shows devices per state and phase of a running campaign, desired states out, and request durations by route and status', async () => {
    const layers = [blobOf('campaign layer for metrics')];
    await pushVersionedImage(t.url, 'fleet/camp', layers, '2.0', '2.0');
    for (const id of ['c1', 'c2']) sims.push(await enrollSimDevice(t, keys, id, { labels: { fleet: 'metrics' }, booted: OLD }));
    const before = await scrape();
    const body = { id: 'metered', image: `${new URL(t.url).host}/fleet/camp:2.0`, selector: { labels: { fleet: 'metrics' } }, waves: [100] };
    expect(valueOf(before, 'bootfleet_campaign_signed_ahead_bytes', {})).toBe(0);
    expect((await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).status).toBe(201);
    // Created: the two devices' desired states are signed ahead and held in memory (about 1 KiB each, and more).
    expect(valueOf(await scrape(), 'bootfleet_campaign_signed_ahead_bytes', {})).toBeGreaterThan(2 * 512);
    expect((await t.api('POST', '/api/v1/campaigns/metered/start', { token: TOKENS.operator })).status).toBe(200);
    await waitFor(() => sims.every((d) => d.desired.length === 1), 5_000, 'desired states');
    const [first] = sims;
    if (first === undefined) throw new Error('no simulated device');
    await first.report('downloading');
    await waitFor(() => t.server.campaigns.activeCounts()[0]?.phases.downloading === 1, 5_000, 'the downloading report');

    const started = (s: Sample[]): number => valueOf(s, 'bootfleet_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/campaigns/:id/start', status: '200' });
    const after = await scrapeUntil((s) => started(s) >= 1, 'the start request counted');
    const out = (s: Sample[]): number => valueOf(s, 'bootfleet_mqtt_messages_total', { direction: 'out', kind: 'desired' });
    expect(out(after) - out(before)).toBe(2);
    expect(valueOf(after, 'bootfleet_campaign_devices', { campaign: 'metered', state: 'issued' }) + valueOf(after, 'bootfleet_campaign_devices', { campaign: 'metered', state: 'in-progress' })).toBe(2);
    expect(valueOf(after, 'bootfleet_campaign_device_phases', { campaign: 'metered', phase: 'downloading' })).toBe(1);
    const requests = (route: string, status: string): number => valueOf(after, 'bootfleet_http_request_duration_seconds_count', { method: 'POST', route, status });
    expect(requests('/api/v1/campaigns', '201')).toBe(1);
    expect(requests('/api/v1/campaigns/:id/start', '200')).toBe(1);
    // Refused calls are timed too, under their own status.
    expect(valueOf(after, 'bootfleet_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status: '401' })).toBe(2);
    expect(valueOf(after, 'bootfleet_http_request_duration_seconds_bucket', { method: 'POST', route: '/api/v1/campaigns', status: '201', le: '+Inf' })).toBe(1);

    // A campaign that ends leaves the gauges: finished campaigns would grow the label set for ever.
    expect((await t.api('POST', '/api/v1/campaigns/metered/abort', { token: TOKENS.operator })).status).toBe(200);
    const ended = await scrape();
    expect(ended.some((s) => s.labels.campaign === 'metered')).toBe(false);
    // And gives back the memory of its bundles signed ahead.
    expect(valueOf(ended, 'bootfleet_campaign_signed_ahead_bytes', {})).toBe(0);
  });
});

describe('metrics.public', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({}, undefined, { metrics: { public: true, processMetrics: false } });
  });
  afterAll(async () => {
    await t.destroy();
  });

  it('serves /metrics without a token, and leaves out the process metrics when told', async () => {
    const response = await fetch(`${t.url}/metrics`);
    expect(response.status).toBe(200);
    const samples = parseExposition(await response.text());
    expect(valueOf(samples, 'bootfleet_devices', { state: 'enrolled' })).toBe(0);
    expect(samples.some((s) => s.name.startsWith('process_'))).toBe(false);
    // The rest of the API still needs its token.
    expect((await t.api('GET', '/api/v1/devices', { token: null })).status).toBe(401);
  });
});
