/**
 * The agent's MQTT session against the real embedded broker (aedes, level
 * persistence): it subscribes and says it is online, and after the broker
 * goes away and comes back it reconnects with backoff and jitter, and a
 * command published then reaches it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MqttSession } from '../../agent/managed/mqtt-session.js';
import { deviceTopic } from '../../protocol/index.js';
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
});
