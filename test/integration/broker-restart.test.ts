/**
 * The embedded broker keeps its MQTT state in the level database: retained
 * desired state and QoS 1 messages queued for an offline device with a
 * persistent session survive a restart of the broker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/index.js';
import { collect, connectDevice, waitFor } from '../helpers/mqtt.js';
import { startTestBroker, type TestBroker } from '../helpers/embedded-broker.js';

describe('embedded broker restart', () => {
  let broker: TestBroker | undefined;
  afterEach(async () => {
    await broker?.destroy();
    broker = undefined;
  });

  it('keeps retained desired state and queued QoS 1 commands across a restart', async () => {
    broker = await startTestBroker();
    const dir = broker.dir;
    const password = await broker.enroll('sleeper');
    const watcherPassword = await broker.enroll('watcher');
    const login = { clientId: 'sleeper', username: 'sleeper', password, clean: false };
    const first = await connectDevice({ url: broker.url, ...login });
    await first.subscribeAsync(deviceTopic('sleeper', 'commands'), { qos: 1 });
    await first.endAsync();
    await broker.plane.publish(deviceTopic('sleeper', 'commands'), 'queued-command', { qos: 1, retain: false });
    await broker.plane.publish(deviceTopic('watcher', 'desired'), 'watcher-desired', { qos: 1, retain: true });
    await broker.stop();

    broker = await startTestBroker({}, dir);
    const again = await connectDevice({ url: broker.url, ...login });
    const seen = collect(again);
    await waitFor(() => seen.length > 0, 5_000, 'queued command');
    expect(seen[0]).toMatchObject({ topic: deviceTopic('sleeper', 'commands'), payload: 'queued-command' });
    await again.endAsync();

    const watcher = await connectDevice({ url: broker.url, clientId: 'watcher', username: 'watcher', password: watcherPassword });
    const watched = collect(watcher);
    await watcher.subscribeAsync(deviceTopic('watcher', 'desired'), { qos: 1 });
    await waitFor(() => watched.length > 0, 5_000, 'retained desired state');
    expect(watched[0]).toMatchObject({ payload: 'watcher-desired', retain: true });
    await watcher.endAsync();
  });
});
