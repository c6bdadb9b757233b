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
import { FleetPersistence, retainedPacket } from './fleet-persistence.js';
import type { RetainedSource } from './retained-source.js';
import type { ControlPlane, DeviceMessageHandler, OutgoingMessage, PublishOptions } from './control-plane.js';
import { newBrokerCounters } from './control-plane.js';
import { clientInternals, clientOfConnection, refreshKeepalive } from './aedes-internals.js';
import { DirectDelivery, type DirectMessage } from './direct-delivery.js';
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
  /**
   * Keeps the retained messages of devices' `desired` topics (the store of
   * signed desired states: retained-source.ts); absent, the broker keeps
   * its own copies of them.
   */
  readonly retained?: RetainedSource;
}

export async function startEmbeddedBroker(deps: EmbeddedBrokerDeps): Promise<ControlPlane> {
  const { config, logger } = deps;
  const counters = newBrokerCounters();
  const persistence = new FleetPersistence(deps.db.sublevel<string, Buffer>('mqtt', { valueEncoding: 'buffer' }), deps.retained);
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
  const direct = new DirectDelivery(connected);
  const publishAll = (messages: readonly OutgoingMessage[]): Promise<void> => publishMessages({ aedes, persistence, direct, source: deps.retained }, messages);
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
    onPuback: (connection) => takeAckWithoutRecord(aedes, persistence, connection),
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
    publish: (topic, payload, options) => publishAll([{ topic, payload, options }]),
    publishMany: publishAll,
    onDeviceMessage: (filter, handler) => {
      direct.addServerFilter(filter);
      return subscribeInside(aedes, filter, handler);
    },
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

/** A message for the direct path, with the name the retained source holds it under, if any (`OutgoingMessage.stored`). */
interface StoredDirect extends DirectMessage {
  readonly stored: string | undefined;
}

/** What the publish path works with. */
interface Publisher {
  readonly aedes: Aedes;
  readonly persistence: FleetPersistence;
  readonly direct: DirectDelivery;
  readonly source: RetainedSource | undefined;
}

/**
 * Retained messages on a device's own read topics take the direct path
 * (direct-delivery.ts): their retained messages handed to the store, then
 * each written to its device's connection. Every other message goes
 * through aedes' publish path (its retained copy group-committed too).
 */
async function publishMessages(publisher: Publisher, messages: readonly OutgoingMessage[]): Promise<void> {
  const { aedes, direct } = publisher;
  const directs: StoredDirect[] = [];
  const others: Promise<void>[] = [];
  for (const message of messages) {
    const deviceId = direct.recipientOf(message.topic, message.options.retain);
    if (deviceId === undefined) others.push(publishInside(aedes, message.topic, message.payload, message.options));
    else directs.push({ deviceId, topic: message.topic, payload: typeof message.payload === 'string' ? Buffer.from(message.payload) : message.payload, qos: message.options.qos, stored: message.stored });
  }
  const viaDirect = directs.length === 0 ? Promise.resolve() : deliverDirect(publisher, directs);
  // Every publish settles before the first failure is reported: none outlives the call.
  const failed = (await Promise.allSettled([viaDirect, ...others])).find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
}

/**
 * Hands the retained messages to the store, delivers the frames at once,
 * and resolves when the store has written them (direct-delivery.ts, "Order
 * of store and delivery"): the caller records a device as issued only once
 * its retained message is durable, but the device does not wait for the
 * write. A message the retained source already holds (`stored`, its name
 * there) is only pointed at: none of its bytes are written again.
 */
async function deliverDirect(publisher: Publisher, directs: readonly StoredDirect[]): Promise<void> {
  const { aedes, persistence, direct, source } = publisher;
  const names: { device: string; name: string }[] = [];
  const copies: DirectMessage[] = [];
  for (const message of directs) {
    if (message.stored !== undefined && source !== undefined) names.push({ device: message.deviceId, name: message.stored });
    else copies.push(message);
  }
  // Readable by a subscription from this call on, before it is written (fleet-persistence.ts, desired-states.ts).
  const written = Promise.all([
    names.length === 0 ? undefined : source?.point(names),
    copies.length === 0 ? undefined : persistence.storeRetainedMany(copies.map((m) => retainedPacket(aedes.id, m.topic, m.payload, m.qos))),
  ]);
  try {
    direct.deliverAll(directs);
  } finally {
    await written;
  }
}

/**
 * A PUBACK from a connected client that has no in-flight record has
 * nothing to clear (every PUBACK of a campaign's desired states): it is
 * taken here instead of going through aedes' reading, parsing and handler
 * (docs/control-plane.md, "Scale"). What aedes would have done with it is
 * done: the client's keep-alive starts again, and aedes' `ack` event is
 * emitted (with no packet, as aedes does when nothing was cleared). A
 * client with a record, or not yet connected, gets aedes' path.
 */
function takeAckWithoutRecord(aedes: Aedes, persistence: FleetPersistence, connection: object): boolean {
  const client = clientOfConnection(connection);
  if (client === undefined || !client.connected || client.closed || persistence.hasInFlight(client.id)) return false;
  const internals = clientInternals(client);
  if (internals === undefined) return false;
  refreshKeepalive(internals);
  aedes.emit('ack', undefined, client);
  return true;
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
