/** Starts the embedded broker alone on 127.0.0.1 port 0 with a temporary level database. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import type { MqttClient } from 'mqtt';
import { afterEach } from 'vitest';
import { pino } from 'pino';
import { parseDeviceId } from '../../protocol/index.js';
import { startEmbeddedBroker } from '../../server/broker/embedded.js';
import type { BrokerConfig } from '../../server/broker/config.js';
import type { ControlPlane } from '../../server/broker/control-plane.js';
import { DeviceCredentials } from '../../server/identity/device-credentials.js';
import { DesiredStates } from '../../server/campaigns/desired-states.js';

export interface TestBroker {
  readonly plane: ControlPlane;
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  enroll(deviceId: string): Promise<string>;
  /** Closes the broker and database, keeping the directory (for restart tests). */
  stop(): Promise<void>;
  /** stop() and remove the directory. */
  destroy(): Promise<void>;
}

export async function startTestBroker(overrides: Partial<BrokerConfig> = {}, dir?: string): Promise<TestBroker> {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'bootfleet-broker-')));
  const db = new Level<string, string>(join(dataDir, 'state'), { valueEncoding: 'utf8' });
  await db.open();
  const credentials = new DeviceCredentials(db);
  // As the server runs it: devices' retained desired states kept by the store of signed desired states.
  const retained = new DesiredStates(db);
  await retained.open();
  const plane = await startEmbeddedBroker({
    retained,
    config: { mode: 'embedded', tcp: { host: '127.0.0.1', port: 0 }, ...overrides },
    db,
    credentials,
    logger: pino({ level: 'silent' }),
  });
  const url = plane.endpoints.tcp ?? '';
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await plane.close();
    await db.close();
  };
  return {
    plane,
    url,
    port: Number(new URL(url).port),
    dir: dataDir,
    enroll: (deviceId) => credentials.issue(parseDeviceId(deviceId)),
    stop,
    async destroy() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestBrokers {
  /** Starts a broker (on `dir` to restart one on its state); the latest one started is destroyed after the test. */
  start(overrides?: Partial<BrokerConfig>, dir?: string): Promise<TestBroker>;
  /** A client to end (forcibly) after the test. */
  track(client: MqttClient): MqttClient;
}

/** Embedded brokers for each test of the calling file or `describe`, and the clients connected to them, all closed after each test. */
export function useTestBrokers(): TestBrokers {
  let latest: TestBroker | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await latest?.destroy();
    latest = undefined;
  });
  return {
    async start(overrides = {}, dir) {
      latest = await startTestBroker(overrides, dir);
      return latest;
    },
    track(client) {
      clients.push(client);
      return client;
    },
  };
}
