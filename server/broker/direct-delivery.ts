/**
 * Direct delivery of the server's retained messages on a device's own read
 * topics (docs/control-plane.md, "Scale", "Fourth round"): a desired state,
 * or its withdrawal, is written to the device's connection as one PUBLISH
 * frame built here, instead of going through aedes' general publish path
 * (a series of steps per message, a match against every subscription of
 * the fleet, an emitter, three packet objects and mqtt-packet's writer).
 *
 * Why the result is the same as aedes' path:
 *  - Recipients. The ACL (acl.ts) lets only the device itself subscribe to
 *    its `desired` and `commands` topics, by their exact names, and the
 *    server's own subscriptions (reports, presence) never match them; so a
 *    message there has at most one live recipient: the device's client, when
 *    it holds that subscription. A topic any server subscription matches is
 *    left to aedes.
 *  - Order of store and delivery. The caller stores the retained copies
 *    first (group-committed), then calls `deliver`, which looks the
 *    subscriber up only then: a device that subscribes in between reads the
 *    new copy on its subscription, as with aedes (which also stores first).
 *  - Sessions. A retained message is not queued in a persistent session and
 *    gets no in-flight record: the protocol has a device subscribe on every
 *    connection (docs/protocol.md, "Connecting"), so the retained copy is
 *    what a device that missed the live one receives; aedes itself writes no
 *    in-flight record for a retained delivery. Commands (not retained, queued
 *    for an offline persistent session) keep aedes' path.
 *  - The frame. MQTT 3.1.1 PUBLISH [MQTT-3.3]: RETAIN 0 on a live delivery
 *    [MQTT-3.3.1-9], QoS the lower of the message's and the subscription's
 *    [MQTT-3.8.4-6], a packet id from the client's own counter (the one aedes
 *    numbers its QoS 1 deliveries with, so ids never collide). aedes 1.2
 *    accepts only MQTT 3.1 and 3.1.1 clients (no properties to write).
 *  - The PUBACK goes through aedes as for any delivery; with no in-flight
 *    record behind it, it clears nothing (fleet-persistence.ts).
 */
import type { Client } from 'aedes';
import { parseTopic, type DeviceId } from '../../protocol/index.js';
import { mayReceive } from './acl.js';
import { levelsMatch } from './topic-filter.js';
import { clientInternals, takePacketId } from './aedes-internals.js';

/** PUBLISH [MQTT-3.3.1]: packet type 3 in the high nibble; QoS in bits 1-2. */
const PUBLISH = 0x30;

export class DirectDelivery {
  /** The server's own subscriptions inside the broker, split into levels. */
  private readonly serverFilters: string[][] = [];

  constructor(
    /** The connected clients by id (kept by the broker from aedes' `client` and `clientDisconnect` events). */
    private readonly clients: ReadonlyMap<string, Client>,
  ) {}

  /** A subscription of the server's own: messages on topics it matches go through aedes' path. */
  addServerFilter(filter: string): void {
    this.serverFilters.push(filter.split('/'));
  }

  /** The device whose own read topic this is, when a retained message there can take this path; else undefined. */
  recipientOf(topic: string, retain: boolean): DeviceId | undefined {
    if (!retain) return undefined;
    let deviceId: DeviceId;
    try {
      deviceId = parseTopic(topic).deviceId;
    } catch {
      return undefined;
    }
    if (!mayReceive(deviceId, topic)) return undefined;
    const levels = topic.split('/');
    return this.serverFilters.some((filter) => levelsMatch(filter, levels)) ? undefined : deviceId;
  }

  /**
   * Writes the message to the device's connection if it is connected and
   * subscribed to the topic now; returns whether it did. Call only after the
   * retained copy is stored.
   */
  deliver(deviceId: DeviceId, topic: string, payload: Buffer, qos: 0 | 1): boolean {
    const client = this.clients.get(deviceId);
    if (client === undefined || !client.connected || client.closed) return false;
    const internals = clientInternals(client);
    const subscription = internals?.subscriptions[topic];
    if (internals === undefined || subscription === undefined) return false;
    const grantedQos = Math.min(qos, subscription.qos ?? 0);
    const packetId = grantedQos > 0 ? takePacketId(internals) : 0;
    const connection = client.conn;
    connection.cork();
    connection.write(publishHeader(topic, payload.length, grantedQos, packetId));
    if (payload.length > 0) connection.write(payload);
    connection.uncork();
    return true;
  }
}

/**
 * The fixed header, topic and packet id of one PUBLISH packet, DUP 0 and
 * RETAIN 0 (a live delivery); the payload follows it on the wire as it is
 * (written after it, corked: one syscall, no copy of the payload).
 */
export function publishHeader(topic: string, payloadBytes: number, qos: number, packetId: number): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + payloadBytes;
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4;
  const header = Buffer.allocUnsafe(1 + lengthBytes + remaining - payloadBytes);
  header[0] = PUBLISH | (qos << 1);
  // [MQTT-2.2.3] remaining length: 7 bits a byte, least significant first, high bit = more.
  let offset = 1;
  for (let left = remaining, i = 0; i < lengthBytes; i += 1) {
    const digit = left % 0x80;
    left = Math.floor(left / 0x80);
    header[offset++] = left > 0 ? digit | 0x80 : digit;
  }
  offset = header.writeUInt16BE(topicBytes, offset);
  offset += header.write(topic, offset, 'utf8');
  if (qos > 0) header.writeUInt16BE(packetId, offset);
  return header;
}
