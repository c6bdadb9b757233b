/** The baseline side of the fleet benchmark: the same simulated devices on a bare Mosquitto. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deviceTopic } from '../../protocol/index.js';
import { freePort } from '../../scripts/lib/free-port.js';
import { findTool } from './find-tool.js';
import { connect, endAll, pool, simDevice, simIds, waitUntil, type SimDevice } from './fleet-sim.js';
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
    devices.push(await simDevice(url, id, deviceTopic(id, 'desired')));
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
    stop: async () => {
      await endAll(devices);
      await Promise.all([collector.endAsync(true), publisher.endAsync(true)]);
      child.kill('SIGKILL');
    },
  };
}
