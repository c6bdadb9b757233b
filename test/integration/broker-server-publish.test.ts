/**
 * The embedded broker's `publishMany`, as the campaign issuer uses it: a
 * batch of the server's messages reaches each subscribed device once, on
 * its own topic only, as a live message (RETAIN 0, [MQTT-3.3.1-9]); the
 * retained copies are stored, so a device that subscribes later, or again,
 * gets its own (RETAIN 1); a persistent session's copy is queued; and a
 * restart of the broker keeps every retained copy.
 * Real mqtt.js clients against the real broker on 127.0.0.1 port 0.
 */
import { describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/index.js';
import type { OutgoingMessage } from '../../server/broker/control-plane.js';
import { useTestBrokers, type TestBroker } from '../helpers/embedded-broker.js';
import { collect, connectDevice, waitFor } from '../helpers/mqtt.js';

const RETAINED = { qos: 1, retain: true } as const;
const desired = (id: string, payload: string): OutgoingMessage => ({ topic: deviceTopic(id, 'desired'), payload, options: RETAINED });

describe('embedded broker: the server publishing a batch', () => {
  const brokers = useTestBrokers();
  let broker: TestBroker;

  async function device(b: TestBroker, id: string, password: string, clean = true): Promise<{ client: MqttClient; seen: ReturnType<typeof collect> }> {
    const client = await connectDevice({ url: b.url, clientId: id, username: id, password, clean });
    brokers.track(client);
    const seen = collect(client);
    await client.subscribeAsync([deviceTopic(id, 'desired'), deviceTopic(id, 'commands')], { qos: 1 });
    return { client, seen };
  }

  it('delivers each message once to its own device, live, and keeps the retained copy for later subscribers', async () => {
    broker = await brokers.start();
    const b = broker;
    const ids = ['dd0', 'dd1', 'dd2', 'dd3'];
    const passwords = await Promise.all(ids.map((id) => b.enroll(id)));
    const live = await device(b, 'dd0', passwords[0] ?? '');
    const persistent = await device(b, 'dd1', passwords[1] ?? '', false);
    // dd2 is connected but subscribed to its commands only; dd3 is offline.
    const commandsOnly = await connectDevice({ url: b.url, clientId: 'dd2', username: 'dd2', password: passwords[2] });
    brokers.track(commandsOnly);
    const commandsSeen = collect(commandsOnly);
    await commandsOnly.subscribeAsync(deviceTopic('dd2', 'commands'), { qos: 1 });

    await b.plane.publishMany(ids.map((id) => desired(id, `state of ${id}`)));
    await waitFor(() => live.seen.length === 1 && persistent.seen.length === 1, 5_000, 'live deliveries');
    expect(live.seen).toEqual([{ topic: deviceTopic('dd0', 'desired'), payload: 'state of dd0', retain: false }]);
    expect(persistent.seen).toEqual([{ topic: deviceTopic('dd1', 'desired'), payload: 'state of dd1', retain: false }]);

    const later = await device(b, 'dd3', passwords[3] ?? '');
    await waitFor(() => later.seen.length === 1, 5_000, 'the retained copy of an offline device');
    expect(later.seen).toEqual([{ topic: deviceTopic('dd3', 'desired'), payload: 'state of dd3', retain: true }]);
    await commandsOnly.subscribeAsync(deviceTopic('dd2', 'desired'), { qos: 1 });
    await waitFor(() => commandsSeen.length === 1, 5_000, 'the retained copy on a late subscription');
    expect(commandsSeen).toEqual([{ topic: deviceTopic('dd2', 'desired'), payload: 'state of dd2', retain: true }]);

    // An empty retained message clears the copy and is delivered as one [MQTT-3.3.1-10].
    await b.plane.publishMany([desired('dd0', '')]);
    await waitFor(() => live.seen.length === 2, 5_000, 'the withdrawal');
    expect(live.seen[1]).toEqual({ topic: deviceTopic('dd0', 'desired'), payload: '', retain: false });
    // Nothing reached a device that was not its own, nor came twice.
    expect([live.seen.length, persistent.seen.length, later.seen.length, commandsSeen.length]).toEqual([2, 1, 1, 1]);

    await b.stop();
    broker = await brokers.start({}, b.dir);
    const again = await device(broker, 'dd1', passwords[1] ?? '');
    const cleared = await device(broker, 'dd0', passwords[0] ?? '');
    await waitFor(() => again.seen.length === 1, 5_000, 'the retained copy after a restart');
    expect(again.seen).toEqual([{ topic: deviceTopic('dd1', 'desired'), payload: 'state of dd1', retain: true }]);
    // A retained copy would come right after the SUBACK, before a message published after it on the same connection.
    await broker.plane.publish(deviceTopic('dd0', 'commands'), 'marker', { qos: 1, retain: false });
    await waitFor(() => cleared.seen.length > 0, 5_000, 'the marker');
    expect(cleared.seen).toEqual([{ topic: deviceTopic('dd0', 'commands'), payload: 'marker', retain: false }]);
  });

  it('queues a command for a persistent session that went offline, as aedes does', async () => {
    broker = await brokers.start();
    const password = await broker.enroll('sleeper2');
    const first = await device(broker, 'sleeper2', password, false);
    await first.client.endAsync();
    await broker.plane.publishMany([{ topic: deviceTopic('sleeper2', 'commands'), payload: 'queued', options: { qos: 1, retain: false } }]);
    const again = await connectDevice({ url: broker.url, clientId: 'sleeper2', username: 'sleeper2', password, clean: false });
    brokers.track(again);
    const seen = collect(again);
    await waitFor(() => seen.length === 1, 5_000, 'the queued command');
    expect(seen[0]).toMatchObject({ topic: deviceTopic('sleeper2', 'commands'), payload: 'queued' });
  });
});
