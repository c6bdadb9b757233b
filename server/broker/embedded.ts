/**
 * The embedded broker: aedes 1.2.0 with its state (retained messages,
 * sessions, QoS 1 queues, wills) in our level database, so retained desired
 * state and queued commands survive a restart. Devices authenticate with
 * their own credentials (or client certificate) and a client id equal to
 * their device id; the ACL in acl.ts is enforced on subscribe, publish and
 * every delivery. The server publishes from inside the broker, not as a
 * network client.
 */
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes';
import type { Level } from 'level';
import type { Logger } from 'pino';
import { ID_MAX_LENGTH } from '../../protocol/index.js';
import type { DeviceCredentials } from '../identity/device-credentials.js';
import { deviceAccessHooks, type CertificateLogin } from './access-hooks.js';
import { BROKER_DEFAULTS, type BrokerConfig } from './config.js';
import { FleetPersistence } from './fleet-persistence.js';
import type { ControlPlane, DeviceMessageHandler, PublishOptions } from './control-plane.js';
import { newBrokerCounters } from './control-plane.js';
import { startListeners } from './listeners.js';

export interface EmbeddedBrokerDeps {
  readonly config: BrokerConfig;
  readonly db: Level;
  readonly credentials: DeviceCredentials;
  readonly logger: Logger;
  /** Registers a device that logged in with a client certificate (mTLS) and was never enrolled. */
  readonly onCertificateLogin?: CertificateLogin;
  /** Whether a device's client certificate was revoked (identity/revocations.ts); absent, none is. */
  readonly isCertificateRevoked?: (deviceId: string) => boolean;
}

export async function startEmbeddedBroker(deps: EmbeddedBrokerDeps): Promise<ControlPlane> {
  const { config, logger } = deps;
  const counters = newBrokerCounters();
  const persistence = new FleetPersistence(deps.db.sublevel<string, Buffer>('mqtt', { valueEncoding: 'buffer' }));
  const aedes = await Aedes.createBroker({
    persistence,
    connectTimeout: config.connectTimeoutMs ?? BROKER_DEFAULTS.connectTimeoutMs,
    maxClientsIdLength: ID_MAX_LENGTH,
    ...deviceAccessHooks(deps.credentials, counters, logger, { onCertificateLogin: deps.onCertificateLogin, isCertificateRevoked: deps.isCertificateRevoked }),
  });
  const connected = new Map<string, Client>();
  aedes.on('client', (client) => connected.set(client.id, client));
  aedes.on('clientDisconnect', (client) => {
    if (connected.get(client.id) === client) connected.delete(client.id);
  });
  aedes.on('clientError', (client, error) => {
    logger.debug({ client: client.id, err: error }, 'mqtt client error');
  });
  const listeners = await startListeners(config, {
    limits: {
      maxPacketBytes: config.maxPacketBytes ?? BROKER_DEFAULTS.maxPacketBytes,
      maxPreAuthBytes: config.maxPreAuthBytes ?? BROKER_DEFAULTS.maxPreAuthBytes,
    },
    maxConnectionsPerAddress: config.maxConnectionsPerAddress ?? BROKER_DEFAULTS.maxConnectionsPerAddress,
    handle: (connection, request) => aedes.handle(connection, request),
    onReject: (reason) => {
      counters.rejected[reason] = (counters.rejected[reason] ?? 0) + 1;
      logger.warn({ reason }, 'mqtt connection cut before reaching the broker');
    },
  });
  return {
    mode: 'embedded',
    endpoints: {
      ...(listeners.tcp === undefined ? {} : { tcp: `mqtt://${hostOf(listeners.tcp.address)}:${listeners.tcp.port}` }),
      ...(listeners.tls === undefined ? {} : { tls: `mqtts://${hostOf(listeners.tls.address)}:${listeners.tls.port}` }),
      ...(listeners.ws === undefined ? {} : { ws: `ws://${hostOf(listeners.ws.address)}:${listeners.ws.port}/mqtt` }),
    },
    counters,
    publish: (topic, payload, options) => publishInside(aedes, topic, payload, options),
    // Each through aedes' publish path: a batch's retained copies still go to LevelDB together (group-commit.ts).
    publishMany: async (messages) => {
      await Promise.all(messages.map((m) => publishInside(aedes, m.topic, m.payload, m.options)));
    },
    onDeviceMessage: (filter, handler) => subscribeInside(aedes, filter, handler),
    provisionDevice: () => Promise.resolve(),
    revokeDevice: (deviceId) => {
      // The credentials are gone from our store; a connected session must not outlive them.
      connected.get(deviceId)?.close();
      return Promise.resolve();
    },
    connectedClients: () => aedes.connectedClients,
    async close() {
      await listeners.close();
      await new Promise<void>((resolve) => {
        aedes.close(() => {
          resolve();
        });
      });
      await persistence.destroy();
    },
  } satisfies ControlPlane;
}

function publishInside(aedes: Aedes, topic: string, payload: Buffer | string, options: PublishOptions): Promise<void> {
  const packet: PublishPacket = { cmd: 'publish', topic, payload, qos: options.qos, retain: options.retain, dup: false };
  return new Promise((resolve, reject) => {
    aedes.publish(packet, (error) => {
      // aedes passes null or undefined on success, whatever its types say.
      if (error instanceof Error) reject(error);
      else resolve();
    });
  });
}

function subscribeInside(aedes: Aedes, filter: string, handler: DeviceMessageHandler): Promise<void> {
  const deliver = (packet: AedesPublishPacket, callback: () => void): void => {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
    void handler(packet.topic, payload).finally(callback);
  };
  return new Promise((resolve) => {
    aedes.subscribe(filter, deliver, () => {
      resolve();
    });
  });
}

function hostOf(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
