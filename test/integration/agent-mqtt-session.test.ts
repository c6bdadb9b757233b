/**
 * The agent's MQTT session against the real embedded broker (aedes, level
 * persistence): it subscribes and says it is online, and after the broker
 * goes away and comes back it reconnects with backoff and jitter, and a
 * command published then reaches it. Every presence of one connection
 * carries the time that connection was opened.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MqttSession } from '../../agent/managed/mqtt-session.js';
import { allDevicesFilter, deviceTopic, parsePresence, type Presence } from '../../protocol/index.js';
import { startTestBroker, type TestBroker } from '../helpers/embedded-broker.js';
import { eventually } from '../helpers/agent-daemon.js';

describe('agent MQTT session', () => {
  let broker: TestBroker | undefined;
  let session: MqttSession | undefined;
  afterEach(async () => {
    await session?.stop();
    await broker?.destroy();
    session = undefined;
    broker = undefined;
  });

  it('reconnects with backoff after the broker restarts and receives what is published then', async () => {
    broker = await startTestBroker();
    const { dir, port } = broker;
    const password = await broker.enroll('dev-r');
    const logs: { event: string; fields: Record<string, unknown> }[] = [];
    const received: string[] = [];
    session = new MqttSession({
      url: broker.url,
      deviceId: 'dev-r',
      username: 'dev-r',
      password,
      reconnectMinMs: 50,
      reconnectMaxMs: 400,
      log: (event, fields = {}) => logs.push({ event, fields }),
      onMessage: (kind, payload) => received.push(`${kind}:${payload.toString()}`),
    });
    session.start();
    const connected = (): number => logs.filter((l) => l.event === 'mqtt-connected').length;
    await eventually(() => (connected() === 1 ? true : undefined), 'first connection', 5_000);
    await eventually(() => (broker?.plane.connectedClients() === 1 ? true : undefined), 'subscribed', 5_000);

    await broker.stop();
    broker = await startTestBroker({ tcp: { host: '127.0.0.1', port } }, dir);
    await eventually(() => (connected() === 2 ? true : undefined), 'reconnection', 10_000);
    const delays = logs.filter((l) => l.event === 'mqtt-reconnect').map((l) => l.fields.delayMs as number);
    expect(delays.length).toBeGreaterThan(0);
    // Equal jitter: each delay lies between half and all of min(400, 50 * 2^(n-1)).
    delays.forEach((d, i) => {
      const step = Math.min(400, 50 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(step / 2);
      expect(d).toBeLessThanOrEqual(step);
    });
    await eventually(async () => {
      await broker?.plane.publish(deviceTopic('dev-r', 'commands'), 'after-restart', { qos: 1, retain: false });
      return received.includes('commands:after-restart') ? true : undefined;
    }, 'command after the restart', 10_000);
  }, 30_000);

  it('stamps the online presence and a clean stop\'s offline one with the time the connection was opened', async () => {
    broker = await startTestBroker();
    const password = await broker.enroll('dev-p');
    const presences: Presence[] = [];
    await broker.plane.onDeviceMessage(allDevicesFilter('presence'), (_topic, payload) => {
      presences.push(parsePresence(payload));
      return Promise.resolve();
    });
    session = new MqttSession({ url: broker.url, deviceId: 'dev-p', username: 'dev-p', password, log: () => undefined, onMessage: () => undefined });
    const opened = Math.floor(Date.now() / 1000);
    session.start();
    await eventually(() => (presences.some((p) => p.online) ? true : undefined), 'online presence', 5_000);
    // Into the next second at least: a stop stamped with its own time would now differ from the connection's.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await session.stop();
    session = undefined;
    await eventually(() => (presences.some((p) => !p.online) ? true : undefined), 'offline presence', 5_000);
    const [online, offline] = [presences.find((p) => p.online), presences.find((p) => !p.online)];
    expect(online?.since).toBeGreaterThanOrEqual(opened);
    expect(offline?.since).toBe(online?.since);
  }, 30_000);
});
