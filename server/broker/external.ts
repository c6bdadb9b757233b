/**
 * External-broker mode: the server joins an existing broker (Mosquitto,
 * EMQX, HiveMQ) as one MQTT client with a persistent session (client id
 * `bootfleet:server`, which no device id can take: `:` is not an id
 * character), so reports published while the server is down wait in the
 * broker. With `provisioning: mosquitto-dynsec` or `emqx-http`, enrolment
 * creates each device's account and ACL in the broker (provisioning.ts).
 */
import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { BootfleetError } from '../../protocol/index.js';
import type { BrokerConfig } from './config.js';
import { newBrokerCounters, publishEach, type ControlPlane, type DeviceMessageHandler } from './control-plane.js';
import { startProvisioner, type BrokerProvisioner } from './provisioning.js';
import { topicMatches } from './topic-filter.js';

export const SERVER_CLIENT_ID = 'bootfleet:server';
/** Messages kept while no handler for their topic is registered yet (a persistent session replays at once). */
const MAX_EARLY_MESSAGES = 10_000;

export interface ExternalBrokerDeps {
  readonly config: BrokerConfig;
  readonly logger: Logger;
}

export async function startExternalBroker({ config, logger }: ExternalBrokerDeps): Promise<ControlPlane> {
  if (config.url === undefined) throw new BootfleetError('BOOTFLEET_CONFIG_INVALID', 'broker.url is required when broker.mode is external');
  const password = config.passwordFile === undefined ? undefined : (await readFile(config.passwordFile, 'utf8')).trim();
  // Listen before the CONNACK: a persistent session replays queued messages in the same read as the CONNACK.
  const client = mqtt.connect(config.url, {
    clientId: SERVER_CLIENT_ID,
    username: config.username,
    password,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
  });
  const handlers: { filter: string; handler: DeviceMessageHandler }[] = [];
  const early: { topic: string; payload: Buffer }[] = [];
  client.on('message', (topic, payload) => {
    const matching = handlers.filter((h) => topicMatches(h.filter, topic));
    if (matching.length === 0 && early.length < MAX_EARLY_MESSAGES && topic.startsWith('bootfleet/')) early.push({ topic, payload });
    for (const { handler } of matching) void handler(topic, payload);
  });
  await firstConnection(client, config.url);
  client.on('error', (error) => {
    logger.warn({ err: error }, 'mqtt client error');
  });
  let provisioner: BrokerProvisioner | undefined;
  try {
    provisioner = await startProvisioner(config, client);
  } catch (error) {
    await client.endAsync(true);
    throw error;
  }
  const plane: ControlPlane = {
    mode: 'external',
    endpoints: { [config.url.startsWith('mqtts:') ? 'tls' : config.url.startsWith('ws') ? 'ws' : 'tcp']: config.url },
    counters: newBrokerCounters(),
    async publish(topic, payload, options) {
      await client.publishAsync(topic, payload, { qos: options.qos, retain: options.retain });
    },
    // The server is one client of the external broker: mqtt.js pipelines the publishes on its connection.
    publishMany: (messages) => publishEach(plane, messages),
    async onDeviceMessage(filter, handler) {
      handlers.push({ filter, handler });
      for (const message of early.filter((m) => topicMatches(filter, m.topic))) void handler(message.topic, message.payload);
      await client.subscribeAsync(filter, { qos: 1 });
    },
    async provisionDevice(deviceId, devicePassword) {
      await provisioner?.provision(deviceId, devicePassword);
    },
    async revokeDevice(deviceId) {
      await provisioner?.revoke(deviceId);
    },
    connectedClients: () => 0,
    async close() {
      provisioner?.close();
      await client.endAsync();
    },
  };
  return plane;
}

/** Resolves on the first CONNACK; a refusal or an unreachable broker fails the start. */
function firstConnection(client: MqttClient, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (cause?: unknown): void => {
      client.off('connect', ok);
      client.off('error', fail);
      client.off('offline', fail);
      client.end(true);
      reject(new BootfleetError('BOOTFLEET_BROKER_UNAVAILABLE', `cannot connect to the MQTT broker at ${url}`, { cause }));
    };
    const ok = (): void => {
      client.off('error', fail);
      client.off('offline', fail);
      resolve();
    };
    client.once('connect', ok);
    client.once('error', fail);
    client.once('offline', fail);
  });
}
