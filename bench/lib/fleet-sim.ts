/**
 * Light simulated devices for the fleet benchmark: each a real mqtt.js
 * client (MQTT 3.1.1, a persistent session like the agent's) with its own
 * id, counting the non-empty messages it receives (an empty retained
 * message is a withdrawal, not a notification).
 */
import { PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/index.js';
import { cpuSecondsOf, peakRssOf, resetPeakRss, rssOf, waitForQuiet } from './measure.js';

// The devices' process collects its garbage before each round (`settleBeforeRound`): a major collection of
// 10,000 clients' heap in a round took that process 0.4 to 0.8 CPU-s for the same work.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Milliseconds this process has spent in garbage collection so far. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

export interface SimDevice {
  readonly id: string;
  readonly client: MqttClient;
  /** Non-empty messages received since the last reset. */
  received: number;
  /** Empty (withdrawing) messages received since the last reset. */
  withdrawn: number;
  /** When the first non-empty message since the last reset arrived (performance.now(), ms). */
  firstAt: number | undefined;
}

/** Every device publishes its report of sequence `round + 1` at once (QoS 1), the same on both brokers (the ingest rounds). */
export async function publishReports(devices: readonly SimDevice[], round: number): Promise<void> {
  const seq = round + 1;
  await Promise.all(
    devices.map((d) => d.client.publishAsync(deviceTopic(d.id, 'reports'), JSON.stringify({ device: d.id, seq, sentAt: 1_795_000_000 + seq, phase: 'idle', slots: {}, inventory: [] }), { qos: 1 })),
  );
}

export function simIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `sim${String(i).padStart(5, '0')}`);
}

/** Runs `work` over `items` with at most `width` at once. */
export async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next] as T;
        next += 1;
        await work(item);
      }
    }),
  );
}

/** `clean: false` is the session the agent keeps (docs/protocol.md, "Connecting"); the bench's own clients use `true`. */
export async function connect(url: string, id: string, password?: string, clean = true): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: id, username: password === undefined ? undefined : id, password, clean, reconnectPeriod: 0, connectTimeout: 60_000, protocolVersion: 4 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => {
      resolve();
    });
    client.once('error', reject);
  });
  return client;
}

/** Connects a device with a persistent session, as the agent does, and subscribes it (QoS 1) to its desired-state topic. */
export async function simDevice(url: string, id: string, password?: string): Promise<SimDevice> {
  const client = await connect(url, id, password, false);
  const device: SimDevice = { id, client, received: 0, withdrawn: 0, firstAt: undefined };
  client.on('message', (_topic, payload) => {
    if (payload.length === 0) device.withdrawn += 1;
    else {
      device.received += 1;
      device.firstAt ??= performance.now();
    }
  });
  await client.subscribeAsync(deviceTopic(id, 'desired'), { qos: 1 });
  return device;
}

export function resetCounts(devices: readonly SimDevice[]): void {
  for (const d of devices) {
    d.received = 0;
    d.withdrawn = 0;
    d.firstAt = undefined;
  }
}

/** Polls `check` every 5 ms until it holds; throws after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1_000_000; i += 1) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Notified {
  /** Seconds from `started` until every device had received a non-empty message. */
  readonly seconds: number;
  /** Seconds from `started` until the first device had. */
  readonly firstSeconds: number;
  /**
   * Devices notified in each 50 ms from `started` on: the round's shape (a
   * slow start, a stall in the middle, a long tail).
   */
  readonly notifiedPer50Ms: number[];
  /**
   * CPU time this process (the simulated devices, and in the baseline its
   * publisher too) used meanwhile, seconds: on a 2-core machine the devices
   * and the broker share the cores, so a round is bounded by both.
   */
  readonly devicesCpuSeconds: number;
  /**
   * Share of that time this process's event loop was busy (0 to 1): near 1,
   * the devices' own processing bounded the round; lower, they waited for
   * the broker.
   */
  readonly devicesLoopBusy: number;
  /** Time this process spent collecting garbage meanwhile, seconds. */
  readonly devicesGcSeconds: number;
}

/** The moment a round starts: its time and this process's CPU and event-loop counters. */
export interface RoundStart {
  /** performance.now(), ms. */
  readonly at: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly loop: EventLoopUtilization;
  /** `gcMs` then. */
  readonly gcMs: number;
}

/**
 * Before a round, on both brokers' sides alike: this process collects its
 * garbage (a full collection), so that the devices' own collections do not
 * decide a round, then waits for the machine to be quiet (measure.ts
 * `waitForQuiet`: that collection's concurrent work, and whatever else the
 * previous round left, ends before this one starts).
 */
export async function settleBeforeRound(): Promise<void> {
  collectGarbage();
  await waitForQuiet();
}

/**
 * Take it before anything of the round runs: a publisher's synchronous
 * work (the baseline's 10,000 `publish` calls) is the round's too.
 */
export function roundStart(): RoundStart {
  return { cpu: process.cpuUsage(), loop: performance.eventLoopUtilization(), gcMs, at: performance.now() };
}

export async function secondsUntilNotified(devices: readonly SimDevice[], start: RoundStart): Promise<Notified> {
  await waitUntil(() => devices.every((d) => d.received > 0), 300_000, 'every device notified');
  const seconds = (performance.now() - start.at) / 1000;
  const used = process.cpuUsage(start.cpu);
  let first = Infinity;
  const notifiedPer50Ms = Array.from({ length: Math.ceil((seconds * 1000) / 50) }, () => 0);
  for (const d of devices) {
    const at = d.firstAt ?? start.at;
    first = Math.min(first, at);
    const bucket = Math.floor((at - start.at) / 50);
    notifiedPer50Ms[bucket] = (notifiedPer50Ms[bucket] ?? 0) + 1;
  }
  return { seconds, firstSeconds: (first - start.at) / 1000, notifiedPer50Ms, devicesCpuSeconds: (used.user + used.system) / 1e6, devicesLoopBusy: performance.eventLoopUtilization(start.loop).utilization, devicesGcSeconds: (gcMs - start.gcMs) / 1000 };
}

export async function endAll(devices: readonly SimDevice[]): Promise<void> {
  await Promise.all(devices.map((d) => d.client.endAsync(true)));
}

/** Devices reconnecting at once in a reconnect storm (`reconnectStorm`). */
export const STORM_WIDTH = 64;

/** A reconnect storm as one broker (or server) went through it. */
export interface Storm {
  /** Seconds from the cut to the last device connected and subscribed again. */
  readonly seconds: number;
  /** CPU time of the broker's process meanwhile. */
  readonly cpuSeconds: number;
  /** The broker's RSS before the cut and its peak until the last device was back, bytes. */
  readonly rssBeforeBytes: number;
  readonly peakRssBytes: number;
}

/**
 * A reconnect storm, as after a network cut or a broker restart: every
 * device's connection is cut (no DISCONNECT: the broker sends the wills),
 * then every device connects again with its persistent session,
 * `STORM_WIDTH` at a time, and subscribes again. Each device in `devices`
 * is replaced by its new connection. `broker` is the broker's process,
 * watched for CPU and peak RSS.
 */
export async function reconnectStorm(url: string, devices: SimDevice[], broker: number): Promise<Storm> {
  await resetPeakRss(broker);
  const rssBeforeBytes = (await rssOf(broker)) ?? 0;
  const cpuBefore = await cpuSecondsOf(broker);
  const started = performance.now();
  await endAll(devices);
  await pool(
    devices.map((device, index) => ({ device, index })),
    STORM_WIDTH,
    async ({ device, index }) => {
      const password = device.client.options.password;
      devices[index] = await simDevice(url, device.id, password === undefined ? undefined : String(password));
    },
  );
  const seconds = (performance.now() - started) / 1000;
  return { seconds, cpuSeconds: (await cpuSecondsOf(broker)) - cpuBefore, rssBeforeBytes, peakRssBytes: await peakRssOf(broker) };
}
