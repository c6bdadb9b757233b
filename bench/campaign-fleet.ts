/**
 * Fleet simulator (docs/campaigns.md, "Benchmark"): N light simulated agents,
 * each a real mqtt.js client with its own enrolled credentials, against the
 * server (the built CLI, its own process, embedded broker). Measured:
 *   - time from `POST .../start` of a one-wave campaign to the last device
 *     holding its signed desired state (at the devices, not at a PUBACK);
 *   - report ingestion: all devices report at once, until the server stored all;
 *   - server RSS with every device connected.
 * Baseline in the same run: the same clients subscribed to a bare Mosquitto,
 * one publisher sending one retained QoS 1 message per device topic.
 *
 *   npm run build && node dist/bench/campaign-fleet.js        BENCH_DEVICES=10000
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic, digestOf, MediaType } from '../protocol/index.js';
import { hashToken } from '../server/identity/tokens.js';
import { findTool } from './lib/find-tool.js';
import { freePort } from '../scripts/lib/free-port.js';
import { rssOf, startProcess, waitForHttp } from './lib/measure.js';

const N = Number(process.env.BENCH_DEVICES ?? '1000');
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const TOKEN = 'bf_bench-admin-token';
const ENROLL = 'bf_bench-enrollment-token';
const REGISTRY = 'bench-registry-token';

interface Device {
  readonly id: string;
  readonly client: MqttClient;
  received: number;
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  }));
}

async function connect(url: string, id: string, password?: string): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: id, username: password === undefined ? undefined : id, password, reconnectPeriod: 0, connectTimeout: 60_000, protocolVersion: 4 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => { resolve(); });
    client.once('error', reject);
  });
  return client;
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1_000_000; i += 1) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function api(base: string, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

async function pushImage(base: string): Promise<void> {
  const layer = Buffer.from('bench layer');
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { 'org.opencontainers.image.version': '1.0' } }, rootfs: { type: 'layers', diff_ids: [digestOf(layer).value] } }));
  for (const blob of [layer, config]) {
    const res = await fetch(`${base}/v2/bench/os/blobs/uploads/?digest=${digestOf(blob).value}`, { method: 'POST', headers: { authorization: `Bearer ${REGISTRY}` }, body: blob });
    if (res.status !== 201) throw new Error(`blob push ${res.status}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: digestOf(config).value, size: config.byteLength },
    layers: [{ mediaType: MediaType.ociLayerTar, digest: digestOf(layer).value, size: layer.byteLength }],
  });
  const res = await fetch(`${base}/v2/bench/os/manifests/1.0`, { method: 'PUT', headers: { authorization: `Bearer ${REGISTRY}`, 'content-type': MediaType.ociManifest }, body: manifest });
  if (res.status !== 201) throw new Error(`manifest push ${res.status}`);
}

async function bootfleet(work: string): Promise<Record<string, number>> {
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${httpPort}`;
  const config = join(work, 'server.json');
  await writeFile(config, JSON.stringify({
    dataDir: join(work, 'data'),
    http: { host: '127.0.0.1', port: httpPort },
    logLevel: 'warn',
    broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: mqttPort }, maxConnectionsPerAddress: N + 100 },
    auth: { apiTokens: [{ name: 'bench', role: 'admin', hash: hashToken(TOKEN) }], enrollmentTokens: [{ name: 'bench', hash: hashToken(ENROLL) }] },
    registry: { operatorTokenSha256: [createHash('sha256').update(REGISTRY).digest('hex')] },
  }));
  const child = startProcess(process.execPath, [CLI, 'server', 'start', '--config', config]);
  const devices: Device[] = [];
  try {
    await waitForHttp(`${base}/healthz`);
    await pushImage(base);
    const ids = Array.from({ length: N }, (_, i) => `sim${String(i).padStart(5, '0')}`);
    await pool(ids, 8, async (id) => {
      const creds = (await api(base, 'POST', '/api/v1/enroll', { token: ENROLL, deviceId: id }, null)) as { password: string };
      const client = await connect(`mqtt://127.0.0.1:${mqttPort}`, id, creds.password);
      const device: Device = { id, client, received: 0 };
      client.on('message', () => { device.received += 1; });
      await client.subscribeAsync(deviceTopic(id, 'desired'), { qos: 1 });
      devices.push(device);
    });
    const rssConnected = (await rssOf(child.pid ?? 0)) ?? 0;
    const reportStart = performance.now();
    await Promise.all(devices.map((d, i) => d.client.publishAsync(deviceTopic(d.id, 'reports'), JSON.stringify({ device: d.id, seq: 1, sentAt: 1_795_000_000 + i, phase: 'idle', slots: {}, inventory: [] }), { qos: 1 })));
    await waitUntil(async () => ((await api(base, 'GET', '/api/v1/broker')) as { ingest: { reportsStored: number } }).ingest.reportsStored >= N, 300_000, 'reports stored');
    const ingestSeconds = (performance.now() - reportStart) / 1000;
    await api(base, 'POST', '/api/v1/campaigns', { id: 'bench', image: `127.0.0.1:${httpPort}/bench/os:1.0`, selector: { ids }, waves: [100] });
    const started = performance.now();
    await api(base, 'POST', '/api/v1/campaigns/bench/start');
    await waitUntil(() => devices.every((d) => d.received > 0), 300_000, 'every device notified');
    const notifySeconds = (performance.now() - started) / 1000;
    const rssAfter = (await rssOf(child.pid ?? 0)) ?? 0;
    return { notifySeconds, ingestPerSecond: N / ingestSeconds, rssConnectedMiB: rssConnected / 2 ** 20, rssAfterMiB: rssAfter / 2 ** 20 };
  } finally {
    await Promise.all(devices.map((d) => d.client.endAsync(true)));
    child.kill('SIGKILL');
  }
}

/** The same clients on a bare Mosquitto; one publisher sends one retained QoS 1 message (of a desired state's size) per device topic. */
async function mosquitto(work: string, binary: string): Promise<Record<string, number>> {
  const port = await freePort();
  await writeFile(join(work, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nlog_dest none\n`);
  const child = startProcess(binary, ['-c', join(work, 'mosquitto.conf')]);
  const devices: Device[] = [];
  try {
    await waitUntil(async () => connect(`mqtt://127.0.0.1:${port}`, 'probe').then(async (c) => { await c.endAsync(true); return true; }, () => false), 10_000, 'mosquitto up');
    const ids = Array.from({ length: N }, (_, i) => `sim${String(i).padStart(5, '0')}`);
    await pool(ids, 32, async (id) => {
      const client = await connect(`mqtt://127.0.0.1:${port}`, id);
      const device: Device = { id, client, received: 0 };
      client.on('message', () => { device.received += 1; });
      await client.subscribeAsync(deviceTopic(id, 'desired'), { qos: 1 });
      devices.push(device);
    });
    const rss = (await rssOf(child.pid ?? 0)) ?? 0;
    const publisher = await connect(`mqtt://127.0.0.1:${port}`, 'publisher');
    const payload = Buffer.alloc(1500, 'x');
    const started = performance.now();
    await Promise.all(ids.map((id) => publisher.publishAsync(deviceTopic(id, 'desired'), payload, { qos: 1, retain: true })));
    await waitUntil(() => devices.every((d) => d.received > 0), 300_000, 'every device notified');
    const notifySeconds = (performance.now() - started) / 1000;
    await publisher.endAsync(true);
    return { notifySeconds, rssConnectedMiB: rss / 2 ** 20 };
  } finally {
    await Promise.all(devices.map((d) => d.client.endAsync(true)));
    child.kill('SIGKILL');
  }
}

const work = await mkdtemp(join(tmpdir(), 'bootfleet-fleet-bench-'));
try {
  const binary = findTool('mosquitto') ?? '/usr/sbin/mosquitto';
  const base = await mosquitto(work, binary);
  const ours = await bootfleet(work);
  const ratio = (ours.notifySeconds ?? 0) / (base.notifySeconds ?? 1);
  process.stdout.write(`${JSON.stringify({ devices: N, bootfleet: ours, mosquitto: base, notifyRatio: ratio })}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
