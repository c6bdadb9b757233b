/**
 * The embedded broker's direct path for the server's retained messages on a
 * device's own topics (server/broker/direct-delivery.ts): the frames it
 * writes are what a real MQTT client reads (every remaining-length size,
 * QoS 1 with a packet id or QoS 0 for a QoS 0 subscription, RETAIN 0 on a
 * live delivery), its packet ids never collide with aedes' own deliveries
 * to the same client, and a persistent session offline at publication gets
 * the desired state once, from the retained copy, not also from a queue.
 * Real mqtt.js clients against the real broker on 127.0.0.1 port 0.
 */
import { describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/index.js';
import { useTestBrokers, type TestBroker } from '../helpers/embedded-broker.js';
import { connectDevice, waitFor } from '../helpers/mqtt.js';

const RETAINED = { qos: 1, retain: true } as const;

interface Seen {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: boolean;
  readonly messageId: number | undefined;
}

describe('embedded broker: direct delivery of retained messages to their device', () => {
  const brokers = useTestBrokers();
  let broker: TestBroker;

  async function device(b: TestBroker, id: string, password: string, options: { clean?: boolean; qos?: 0 | 1 } = {}): Promise<{ client: MqttClient; seen: Seen[] }> {
    const client = await connectDevice({ url: b.url, clientId: id, username: id, password, clean: options.clean ?? true });
    brokers.track(client);
    const seen: Seen[] = [];
    client.on('message', (topic, payload, packet) => {
      seen.push({ topic, payload, qos: packet.qos, retain: packet.retain, messageId: packet.messageId });
    });
    await client.subscribeAsync([deviceTopic(id, 'desired'), deviceTopic(id, 'commands')], { qos: options.qos ?? 1 });
    return { client, seen };
  }

  it('writes frames a client reads at every remaining-length size, QoS 1 with a packet id, RETAIN 0', async () => {
    broker = await brokers.start();
    const b = broker;
    const live = await device(b, 'frames0', await b.enroll('frames0'));
    const topic = deviceTopic('frames0', 'desired');
    // Remaining length = 2 + topic + 2 (packet id) + payload [MQTT-3.3.2]; its encoding takes 1 to 4 bytes [MQTT-2.2.3].
    const overhead = 2 + Buffer.byteLength(topic) + 2;
    const sizes = [0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000].flatMap((edge) => [edge - overhead - 1, edge - overhead]);
    for (const [i, size] of sizes.entries()) {
      const payload = Buffer.alloc(size, i + 1);
      await b.plane.publishMany([{ topic, payload, options: RETAINED }]);
      await waitFor(() => live.seen.length === i + 1, 10_000, `the message of ${String(size)} bytes`);
      const got = live.seen[i];
      expect(got?.payload.equals(payload)).toBe(true);
      expect([got?.topic, got?.qos, got?.retain]).toEqual([topic, 1, false]);
      expect(got?.messageId).toBeGreaterThan(0);
    }
    // Each PUBACK was taken: the connection is still open and a later message arrives.
    await b.plane.publishMany([{ topic, payload: Buffer.from('last'), options: RETAINED }]);
    await waitFor(() => live.seen.length === sizes.length + 1, 5_000, 'the last message');
    expect(live.client.connected).toBe(true);
  });

  it('delivers at QoS 0, without a packet id, to a QoS 0 subscription [MQTT-3.8.4-6]', async () => {
    broker = await brokers.start();
    const live = await device(broker, 'qzero0', await broker.enroll('qzero0'), { qos: 0 });
    await broker.plane.publishMany([{ topic: deviceTopic('qzero0', 'desired'), payload: 'state', options: RETAINED }]);
    await waitFor(() => live.seen.length === 1, 5_000, 'the delivery');
    expect(live.seen[0]).toMatchObject({ qos: 0, retain: false, messageId: undefined });
    expect(live.seen[0]?.payload.toString()).toBe('state');
  });

  it('numbers its deliveries from the client counter aedes uses: ids in flight together never collide', async () => {
    broker = await brokers.start();
    const b = broker;
    const live = await device(b, 'ids0', await b.enroll('ids0'));
    const rounds = Array.from({ length: 20 }, (_, i) => i);
    // Commands (aedes' path) and desired states (the direct path) interleaved, all in flight at once.
    await Promise.all(
      rounds.map((i) =>
        i % 2 === 0
          ? b.plane.publish(deviceTopic('ids0', 'commands'), `command ${String(i)}`, { qos: 1, retain: false })
          : b.plane.publishMany([{ topic: deviceTopic('ids0', 'desired'), payload: `state ${String(i)}`, options: RETAINED }]),
      ),
    );
    await waitFor(() => live.seen.length === rounds.length, 5_000, 'every message');
    const ids = live.seen.map((s) => s.messageId);
    expect(new Set(ids).size).toBe(rounds.length);
    expect(live.seen.filter((s) => s.topic.endsWith('/desired')).map((s) => s.payload.toString())).toHaveLength(10);
  });

  it('delivers to a client that subscribed while aedes still sends what its session queued (connecting, not yet connected)', async () => {
    broker = await brokers.start();
    const b = broker;
    const password = await b.enroll('busy4');
    const first = await device(b, 'busy4', password, { clean: false });
    await first.client.endAsync();
    // Queued for the offline session: on reconnecting, aedes sends them all before it marks the client connected,
    // and it reads (and answers) the client's SUBSCRIBE meanwhile.
    const queued = 400;
    await Promise.all(Array.from({ length: queued }, (_, i) => b.plane.publish(deviceTopic('busy4', 'commands'), `command ${String(i)}`, { qos: 1, retain: false })));
    const again = await device(b, 'busy4', password, { clean: false });
    const queuedBefore = again.seen.length;
    await b.plane.publishMany([{ topic: deviceTopic('busy4', 'desired'), payload: 'live', options: RETAINED }]);
    await waitFor(() => again.seen.some((s) => s.payload.toString() === 'live'), 5_000, 'the desired state, live');
    await waitFor(() => again.seen.length === queued + 1, 5_000, 'every queued command');
    // The state went out while the queue was still being sent (else the test proves nothing), exactly once.
    expect(queuedBefore).toBeLessThan(queued);
    expect(again.seen.filter((s) => s.payload.toString() === 'live')).toHaveLength(1);
  });

  it('gives a persistent session that was offline the desired state once, from the retained copy', async () => {
    broker = await brokers.start();
    const b = broker;
    const password = await b.enroll('sleeper3');
    const first = await device(b, 'sleeper3', password, { clean: false });
    await first.client.endAsync();
    await b.plane.publishMany([{ topic: deviceTopic('sleeper3', 'desired'), payload: 'while away', options: RETAINED }]);
    const again = await device(b, 'sleeper3', password, { clean: false });
    await waitFor(() => again.seen.length > 0, 5_000, 'the retained copy');
    // A marker after it on the same connection: anything queued would have come before it.
    await b.plane.publish(deviceTopic('sleeper3', 'commands'), 'marker', { qos: 1, retain: false });
    await waitFor(() => again.seen.some((s) => s.payload.toString() === 'marker'), 5_000, 'the marker');
    expect(again.seen.map((s) => [s.payload.toString(), s.retain])).toEqual([
      ['while away', true],
      ['marker', false],
    ]);
  });

  it('keeps a client alive on PUBACKs alone: a PUBACK taken before aedes still restarts its keep-alive', async () => {
    broker = await brokers.start();
    const b = broker;
    const password = await b.enroll('acker0');
    // Keep-alive 1 s: aedes cuts a client silent for 1.5 s [MQTT-3.1.2-24].
    const client = mqtt.connect(b.url, { clientId: 'acker0', username: 'acker0', password, clean: false, keepalive: 1, reconnectPeriod: 0, protocolVersion: 4 });
    brokers.track(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => { resolve(); });
      client.once('error', reject);
    });
    // mqtt.js's own PINGREQs stopped: its PUBACKs are all the broker hears from it.
    (client as unknown as { keepaliveManager?: { destroy(): void } | null }).keepaliveManager?.destroy();
    let closed = false;
    client.on('close', () => {
      closed = true;
    });
    let received = 0;
    client.on('message', () => {
      received += 1;
    });
    await client.subscribeAsync(deviceTopic('acker0', 'desired'), { qos: 1 });
    const topic = deviceTopic('acker0', 'desired');
    // 2.4 s of PUBACKs only: well past the 1.5 s aedes allows.
    for (let i = 0; i < 8; i += 1) {
      await b.plane.publishMany([{ topic, payload: `state ${String(i)}`, options: RETAINED }]);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await waitFor(() => received === 8, 5_000, 'every state');
    expect(closed).toBe(false);
  }, 15_000);

  it('leaves the PUBACK of a message with an in-flight record to aedes: an acknowledged command is not sent again', async () => {
    broker = await brokers.start();
    const b = broker;
    const password = await b.enroll('acker1');
    const first = await device(b, 'acker1', password, { clean: false });
    await b.plane.publish(deviceTopic('acker1', 'commands'), 'once', { qos: 1, retain: false });
    await waitFor(() => first.seen.length === 1, 5_000, 'the command');
    await b.plane.publishMany([{ topic: deviceTopic('acker1', 'desired'), payload: 'state', options: RETAINED }]);
    await waitFor(() => first.seen.length === 2, 5_000, 'the desired state');
    // Both PUBACKs reach the broker before the clean disconnect; then the session is resumed.
    await first.client.endAsync();
    const again = await device(b, 'acker1', password, { clean: false });
    await b.plane.publish(deviceTopic('acker1', 'commands'), 'marker', { qos: 1, retain: false });
    await waitFor(() => again.seen.some((s) => s.payload.toString() === 'marker'), 5_000, 'the marker');
    expect(again.seen.map((s) => s.payload.toString())).toEqual(['state', 'marker']);
  });
});
