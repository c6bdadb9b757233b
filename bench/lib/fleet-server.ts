/** The bootfleet side of the fleet benchmark: the server as its own process, N enrolled and subscribed devices. */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digestOf, MediaType } from '../../protocol/index.js';
import { hashToken } from '../../server/identity/tokens.js';
import { freePort } from '../../scripts/lib/free-port.js';
import { endAll, pool, reconnectStorm, roundStart, secondsUntilNotified, settleBeforeRound, simDevice, simIds, waitUntil, type Notified, type SimDevice, type Storm } from './fleet-sim.js';
import { cpuSecondsOf, peakRssOf, rssOf, startProcess, waitForHttp } from './measure.js';
import { readUnit, unitLaunch } from './unit-launch.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const TOKEN = 'bf_bench-admin-token';
const ENROLL = 'bf_bench-enrollment-token';
const REGISTRY = 'bench-registry-token';
/** How deploy/systemd/bootfleet-server.service starts node: its flags (--expose-gc) and environment. */
const SERVER_UNIT = unitLaunch(readUnit('bootfleet-server.service'));

export interface Bootfleet {
  readonly base: string;
  readonly devices: readonly SimDevice[];
  rss(): Promise<number>;
  /** Peak RSS of the server so far (VmHWM), bytes. */
  peakRss(): Promise<number>;
  /** CPU time the server process has used so far, seconds. */
  cpuSeconds(): Promise<number>;
  reportsStored(): Promise<number>;
  /** Every device cut off and connecting again at once (fleet-sim.ts `reconnectStorm`). */
  reconnectStorm(): Promise<Storm>;
  stop(): Promise<void>;
}

export async function api(base: string, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${String(res.status)} ${text.slice(0, 200)}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

async function pushImage(base: string): Promise<void> {
  const layer = Buffer.from('bench layer');
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { 'org.opencontainers.image.version': '1.0' } }, rootfs: { type: 'layers', diff_ids: [digestOf(layer).value] } }));
  for (const blob of [layer, config]) {
    const res = await fetch(`${base}/v2/bench/os/blobs/uploads/?digest=${digestOf(blob).value}`, { method: 'POST', headers: { authorization: `Bearer ${REGISTRY}` }, body: blob });
    if (res.status !== 201) throw new Error(`blob push ${String(res.status)}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: digestOf(config).value, size: config.byteLength },
    layers: [{ mediaType: MediaType.ociLayerTar, digest: digestOf(layer).value, size: layer.byteLength }],
  });
  const res = await fetch(`${base}/v2/bench/os/manifests/1.0`, { method: 'PUT', headers: { authorization: `Bearer ${REGISTRY}`, 'content-type': MediaType.ociManifest }, body: manifest });
  if (res.status !== 201) throw new Error(`manifest push ${String(res.status)}`);
}

/** SIGTERM (so that a --cpu-prof profile is written, which takes long for a big run), SIGKILL after 120 s. */
async function stopGracefully(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  await exited;
  clearTimeout(timer);
}

export async function startBootfleet(work: string, n: number): Promise<Bootfleet> {
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${String(httpPort)}`;
  const config = join(work, 'server.json');
  await writeFile(config, JSON.stringify({
    dataDir: join(work, 'data'),
    http: { host: '127.0.0.1', port: httpPort },
    logLevel: 'warn',
    broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: mqttPort }, maxConnectionsPerAddress: n + 100 },
    auth: { apiTokens: [{ name: 'bench', role: 'admin', hash: hashToken(TOKEN) }], enrollmentTokens: [{ name: 'bench', hash: hashToken(ENROLL) }] },
    registry: { operatorTokenSha256: [createHash('sha256').update(REGISTRY).digest('hex')] },
  }));
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  // As the unit runs the server (server/heap-collector.ts; docs/control-plane.md, "Scale"); MALLOC_ARENA_MAX may be overridden.
  const env = { ...SERVER_UNIT.env, ...(process.env.MALLOC_ARENA_MAX === undefined ? {} : { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX }) };
  const child = startProcess(process.execPath, [...SERVER_UNIT.flags, ...nodeArgs, CLI, 'server', 'start', '--config', config], env);
  const devices: SimDevice[] = [];
  const mqttUrl = `mqtt://127.0.0.1:${String(mqttPort)}`;
  const stop = async (): Promise<void> => {
    await endAll(devices);
    await stopGracefully(child);
  };
  try {
    await waitForHttp(`${base}/healthz`);
    await pushImage(base);
    await pool(simIds(n), 8, async (id) => {
      const creds = (await api(base, 'POST', '/api/v1/enroll', { token: ENROLL, deviceId: id }, null)) as { password: string };
      devices.push(await simDevice(mqttUrl, id, creds.password));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    base,
    devices,
    rss: async () => (await rssOf(child.pid ?? 0)) ?? 0,
    peakRss: () => peakRssOf(child.pid ?? 0),
    cpuSeconds: () => cpuSecondsOf(child.pid ?? 0),
    reportsStored: async () => ((await api(base, 'GET', '/api/v1/broker')) as { ingest: { reportsStored: number } }).ingest.reportsStored,
    reconnectStorm: () => reconnectStorm(mqttUrl, devices, child.pid ?? 0),
    stop,
  };
}

/**
 * Creates a one-wave campaign over every device, lets the machine settle
 * (fleet-sim.ts `settleBeforeRound`), starts it, and returns the
 * seconds from asking it to start to the last device notified (the devices
 * are watched while the start request is still running), and the server's
 * CPU seconds from asking to start until both the request has answered and
 * the last device is notified.
 */
export async function notifyCampaign(server: Bootfleet, id: string): Promise<Notified & { cpuSeconds: number; window: number[] }> {
  const { base, devices } = server;
  await api(base, 'POST', '/api/v1/campaigns', { id, image: `${new URL(base).host}/bench/os:1.0`, selector: { ids: devices.map((d) => d.id) }, waves: [100] });
  // The creation's own work (signing ahead, writing the bundles, the collections after) ends before the
  // start, as it does while an operator reviews the plan: the round measures the start.
  await settleBeforeRound();
  const cpuBefore = await server.cpuSeconds();
  const window = [monotonicMicros()];
  const start = roundStart();
  const [notified] = await Promise.all([secondsUntilNotified(devices, start), api(base, 'POST', `/api/v1/campaigns/${id}/start`)]);
  window.push(monotonicMicros());
  return { ...notified, cpuSeconds: (await server.cpuSeconds()) - cpuBefore, window };
}

/**
 * The monotonic clock in microseconds: the clock of a `--cpu-prof` profile's
 * timestamps (both CLOCK_MONOTONIC on Linux), so a profile can be cut to the
 * notify rounds (their windows are in the bench's JSON line).
 */
function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Aborts the campaign and waits until every device saw its desired state
 * withdrawn (so rounds do not overlap); returns the seconds that took.
 */
export async function stopCampaign(server: Bootfleet, id: string): Promise<number> {
  const started = performance.now();
  await api(server.base, 'POST', `/api/v1/campaigns/${id}/abort`);
  await waitUntil(() => server.devices.every((d) => d.withdrawn > 0), 300_000, 'every desired state withdrawn');
  return (performance.now() - started) / 1000;
}
