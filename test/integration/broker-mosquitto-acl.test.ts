/**
 * External-broker mode against a real Mosquitto with the dynamic-security
 * plugin: the server joins as a client, provisions each device's account
 * and ACL, and the same ACL tests as the embedded broker pass.
 */
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { pino } from 'pino';
import { allDevicesFilter } from '../../protocol/index.js';
import { startExternalBroker } from '../../server/broker/external.js';
import { aclSuite } from '../helpers/acl-suite.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { requireTool } from '../helpers/tools.js';

const mosquitto = requireTool('mosquitto');

describe.skipIf(mosquitto.skip)('external Mosquitto', () => {
  aclSuite('mosquitto (dynamic security): device access control', async () => {
    const broker = await startMosquitto(mosquitto.path ?? 'mosquitto');
    try {
      const plane = await startExternalBroker({
        config: { mode: 'external', url: broker.url, username: broker.serverUser, passwordFile: broker.serverPasswordFile, provisioning: 'mosquitto-dynsec' },
        logger: pino({ level: 'silent' }),
      });
      const received: { topic: string; payload: string }[] = [];
      for (const kind of ['reports', 'presence'] as const) {
        await plane.onDeviceMessage(allDevicesFilter(kind), (topic, payload) => {
          received.push({ topic, payload: payload.toString('utf8') });
          return Promise.resolve();
        });
      }
      return {
        url: broker.url,
        async enroll(id) {
          const password = randomBytes(24).toString('base64url');
          await plane.provisionDevice(id, password);
          return password;
        },
        publish: (topic, payload, options) => plane.publish(topic, payload, options),
        received,
        async stop() {
          await plane.close();
          await broker.stop();
        },
      };
    } catch (error) {
      await broker.stop();
      throw error;
    }
  });
});
