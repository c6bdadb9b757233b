/** The baseline side of the fleet benchmark: the same simulated devices on a bare Mosquitto. */
import { fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deviceTopic } from '../../protocol/index.js';
import { freePort } from '../../scripts/lib/free-port.js';
import { findTool } from './find-tool.js';
import { connect, endAll, pool, reconnectStorm, simDevice, simIds, waitUntil, type Notified, type SimDevice, type Storm } from './fleet-sim.js';
import { cpuSecondsOf, rssOf, startProcess } from './measure.js';

export interface BareMosquitto {
  readonly devices: readonly SimDevice[];
  rss(): Promise<number>;
  /** CPU time the broker process has used so far, seconds. */
  cpuSeconds(): Promise<number>;
  /** Reports the collector (one subscriber to every device's reports) has received so far. */
  relayed(): number;
  /** One publisher sends one retained QoS 1 message, of a desired state's size, to every device topic. */
  publishDesired(): Promise<void>;
  /** Every device cut off and connecting again at once (fleet-sim.ts `reconnectStorm`). */
  reconnectStorm(): Promise<Storm>;
  stop(): Promise<void>;
}

/** About the size of a signed desired state (a DSSE bundle with one layer). */
const DESIRED_BYTES = 1500;

export async function startBareMosquitto(work: string, n: number): Promise<BareMosquitto> {
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${String(port)}`;
  await writeFile(join(work, 'mosquitto.conf'), `listener ${String(port)} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nlog_dest none\n`);
  const child = startProcess(findTool('mosquitto') ?? '/usr/sbin/mosquitto', ['-c', join(work, 'mosquitto.conf')]);
  const devices: SimDevice[] = [];
  const ids = simIds(n);
  await waitUntil(async () => connect(url, 'probe').then(async (c) => { await c.endAsync(true); return true; }, () => false), 10_000, 'mosquitto up');
  await pool(ids, 32, async (id) => {
    devices.push(await simDevice(url, id));
  });
  const collector = await connect(url, 'collector');
  let relayed = 0;
  collector.on('message', () => {
    relayed += 1;
  });
  await collector.subscribeAsync('bootfleet/v1/devices/+/reports', { qos: 1 });
  const publisher = await connect(url, 'publisher');
  const payload = Buffer.alloc(DESIRED_BYTES, 'x');
  return {
    devices,
    rss: async () => (await rssOf(child.pid ?? 0)) ?? 0,
    cpuSeconds: () => cpuSecondsOf(child.pid ?? 0),
    relayed: () => relayed,
    publishDesired: async () => {
      await Promise.all(ids.map((id) => publisher.publishAsync(deviceTopic(id, 'desired'), payload, { qos: 1, retain: true })));
    },
    reconnectStorm: () => reconnectStorm(url, devices, child.pid ?? 0),
    stop: async () => {
      await endAll(devices);
      await Promise.all([collector.endAsync(true), publisher.endAsync(true)]);
      child.kill('SIGKILL');
    },
  };
}

/** A notify round of the baseline: the devices' figures and Mosquitto's CPU time in the round, seconds. */
export type BaselineRound = Notified & { readonly cpuSeconds: number };

type BaselineOp = { readonly op: 'rss' | 'notify' | 'storm' | 'stop' } | { readonly op: 'ingest'; readonly round: number };

/** What the bench asks of the baseline's fleet process (fleet-mosquitto-process.ts). */
export type BaselineRequest = BaselineOp & { readonly id: number };

/** What that process answers: once ready (or failed to start), then one reply per request. */
export type BaselineReply =
  | { readonly ready: true }
  | { readonly failed: string }
  | { readonly id: number; readonly value: number | BaselineRound | Storm | null }
  | { readonly id: number; readonly error: string };

/** The baseline's fleet, run in a process of its own. */
export interface MosquittoFleet {
  /** Mosquitto's RSS, bytes. */
  rss(): Promise<number>;
  /** Every device publishes one report (seq `round + 1`) at once; reports relayed per second. */
  ingest(round: number): Promise<number>;
  /** One publisher sends every device its desired state; measured at the devices. */
  notify(): Promise<BaselineRound>;
  /** Every device cut off and connecting again at once. */
  reconnectStorm(): Promise<Storm>;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./fleet-mosquitto-process.js', import.meta.url));

/** Forks fleet-mosquitto-process.ts and waits until its N devices are connected and subscribed. */
export async function startMosquittoFleet(work: string, n: number): Promise<MosquittoFleet> {
  const child = fork(CHILD, [work, String(n)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let gone: Error | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (reply: BaselineReply) => {
      if ('ready' in reply) resolve();
      else if ('failed' in reply) reject(new Error(`baseline fleet: ${reply.failed}`));
      else {
        const waiter = pending.get(reply.id);
        pending.delete(reply.id);
        if ('error' in reply) waiter?.reject(new Error(`baseline fleet: ${reply.error}`));
        else waiter?.resolve(reply.value);
      }
    });
    child.once('exit', (code, signal) => {
      gone = new Error(`baseline fleet process exited (${String(code ?? signal)})`);
      reject(gone);
      for (const waiter of pending.values()) waiter.reject(gone);
      pending.clear();
    });
  });
  const ask = async (request: BaselineOp): Promise<unknown> => {
    if (gone !== undefined) throw gone;
    nextId += 1;
    const id = nextId;
    const answered = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    child.send({ ...request, id });
    return answered;
  };
  try {
    await ready;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    rss: async () => (await ask({ op: 'rss' })) as number,
    ingest: async (round) => (await ask({ op: 'ingest', round })) as number,
    notify: async () => (await ask({ op: 'notify' })) as BaselineRound,
    reconnectStorm: async () => (await ask({ op: 'storm' })) as Storm,
    stop: async () => {
      if (gone !== undefined) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await ask({ op: 'stop' }).catch(() => undefined);
      await exited;
      clearTimeout(timer);
    },
  };
}
