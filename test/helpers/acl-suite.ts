/**
 * The device ACL tests, run against every broker mode (embedded aedes,
 * external Mosquitto): what one device can and cannot read or write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/index.js';
import { collect, connectDevice, subscribeGrants, waitFor } from './mqtt.js';

export interface AclTarget {
  readonly url: string;
  enroll(deviceId: string): Promise<string>;
  /** Publishes as the server (desired state, commands). */
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** Messages the server received from devices, in order. */
  readonly received: { topic: string; payload: string }[];
  stop(): Promise<void>;
}

/** SUBACK return code for a refused subscription [MQTT-3.9.3]. */
const SUBACK_FAILURE = 128;

export function aclSuite(name: string, start: () => Promise<AclTarget>): void {
  describe(name, () => {
    let target: AclTarget;
    const clients: MqttClient[] = [];
    let alpha = '';
    let beta = '';

    beforeAll(async () => {
      target = await start();
      alpha = await target.enroll('alpha');
      beta = await target.enroll('beta');
      await target.publish(deviceTopic('beta', 'desired'), 'beta-desired', { qos: 1, retain: true });
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await target.stop();
    });

    const login = async (id: string, password: string, clientId = id): Promise<MqttClient> => {
      const client = await connectDevice({ url: target.url, clientId, username: id, password });
      clients.push(client);
      return client;
    };

    it('lets a device subscribe to its own desired and commands topics and receive its retained desired state', async () => {
      await target.publish(deviceTopic('alpha', 'desired'), 'alpha-desired', { qos: 1, retain: true });
      const client = await login('alpha', alpha);
      const seen = collect(client);
      const grants = await client.subscribeAsync([deviceTopic('alpha', 'desired'), deviceTopic('alpha', 'commands')], { qos: 1 });
      expect(grants.map((g) => g.qos)).toEqual([1, 1]);
      await waitFor(() => seen.length > 0, 5_000, 'retained desired state');
      expect(seen[0]).toMatchObject({ topic: deviceTopic('alpha', 'desired'), payload: 'alpha-desired', retain: true });
    });

    it('refuses subscriptions to another device, to wildcards and to $SYS, and delivers none of their retained messages', async () => {
      const client = await login('alpha', alpha);
      const seen = collect(client);
      const filters = [deviceTopic('beta', 'desired'), 'bootfleet/v1/devices/+/desired', '#', '$SYS/#', deviceTopic('alpha', 'reports')];
      expect(await subscribeGrants(client, filters)).toEqual(filters.map(() => SUBACK_FAILURE));
      // A barrier: our own retained desired state arrives after anything the refused filters could have sent.
      await client.subscribeAsync(deviceTopic('alpha', 'commands'), { qos: 1 });
      await target.publish(deviceTopic('alpha', 'commands'), 'barrier', { qos: 1, retain: false });
      await waitFor(() => seen.some((m) => m.payload === 'barrier'), 5_000, 'barrier');
      expect(seen.filter((m) => !m.topic.startsWith('bootfleet/v1/devices/alpha/'))).toEqual([]);
    });

    it('drops a publish to another device topic and to its own server-to-device topics', async () => {
      const client = await login('alpha', alpha);
      client.on('error', () => undefined);
      await client.publishAsync(deviceTopic('alpha', 'reports'), 'own-report', { qos: 1 });
      await waitFor(() => target.received.some((m) => m.payload === 'own-report'), 5_000, 'own report');
      const forged = [deviceTopic('beta', 'reports'), deviceTopic('beta', 'presence'), deviceTopic('alpha', 'desired')];
      for (const topic of forged) {
        const writer = await login('alpha', alpha);
        writer.on('error', () => undefined);
        writer.publish(topic, 'forged', { qos: 0 });
        await writer.endAsync();
      }
      const check = await login('alpha', alpha);
      await check.publishAsync(deviceTopic('alpha', 'reports'), 'after-forgery', { qos: 1 });
      await waitFor(() => target.received.some((m) => m.payload === 'after-forgery'), 5_000, 'report after forgery');
      expect(target.received.filter((m) => m.payload === 'forged')).toEqual([]);
      const reader = await login('beta', beta);
      const seen = collect(reader);
      await reader.subscribeAsync(deviceTopic('beta', 'desired'), { qos: 1 });
      await waitFor(() => seen.length > 0, 5_000, 'beta retained desired');
      expect(seen.map((m) => m.payload)).toEqual(['beta-desired']);
    });

    it('refuses a client id that is not the device id, another device password and a missing password', async () => {
      await expect(login('alpha', alpha, 'beta')).rejects.toMatchObject({ code: expect.any(Number) as number });
      await expect(login('alpha', beta)).rejects.toBeDefined();
      await expect(connectDevice({ url: target.url, clientId: 'alpha' })).rejects.toBeDefined();
      await expect(login('gamma', alpha)).rejects.toBeDefined();
    });

    it('never delivers a last will set on another device topic', async () => {
      const forged = Buffer.from('{"device":"beta","online":false,"since":1}');
      const will = { topic: deviceTopic('beta', 'presence'), payload: forged, qos: 1 as const, retain: true };
      // The embedded broker refuses the CONNECT; Mosquitto accepts it and drops the will when it fires.
      const accepted = await connectDevice({ url: target.url, clientId: 'alpha', username: 'alpha', password: alpha, will }).catch(() => undefined);
      accepted?.stream.destroy();
      const barrier = await login('alpha', alpha);
      await barrier.publishAsync(deviceTopic('alpha', 'reports'), 'after-will', { qos: 1 });
      await waitFor(() => target.received.some((m) => m.payload === 'after-will'), 5_000, 'report after the will');
      expect(target.received.filter((m) => m.topic === deviceTopic('beta', 'presence'))).toEqual([]);
    });
  });
}
