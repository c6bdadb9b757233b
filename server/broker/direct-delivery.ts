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
 *  - Order of store and delivery. The caller hands the retained messages
 *    to the store (a pointer to a desired state stored when it was signed,
 *    or the bytes: retained-source.ts; a copy for any other topic,
 *    group-committed) and calls `deliverAll` at once, without waiting for
 *    the write: from the hand-over on, a subscription to the topic reads
 *    the new message (desired-states.ts and fleet-persistence.ts keep it
 *    readable until written), so a device subscribing at any moment gets
 *    either the live frame or the new retained message, as with aedes. Only
 *    the device subscribes to these topics, and only by their exact names,
 *    so no wildcard read of the store can miss an unwritten one. The
 *    publish resolves once the store has written it, so the campaign engine
 *    records a device as issued only then; a crash after the frame and
 *    before the write loses a retained message the engine has not
 *    recorded, and it issues the very message again on restart
 *    (server/campaigns/rollout.ts). aedes stores before it delivers;
 *    Mosquitto keeps retained messages in memory and writes them at its
 *    autosave.
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
import type { DeviceId } from '../../protocol/index.js';
import { soleReceiver } from './acl.js';
import { levelsMatch } from './topic-filter.js';
import { acceptsDeliveries, clientInternals, takePacketId } from './aedes-internals.js';

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
    const deviceId = soleReceiver(topic);
    if (deviceId === undefined) return undefined;
    const levels = topic.split('/');
    return this.serverFilters.some((filter) => levelsMatch(filter, levels)) ? undefined : deviceId;
  }

  /**
   * Writes each message to its device's connection if the device is
   * connected and subscribed to the topic now; returns how many it wrote.
   * Call once the retained copies are handed to the store. The frames of one call
   * are built in one buffer, each written as one slice of it: one
   * allocation for the batch and one plain write per frame.
   */
  deliverAll(messages: readonly DirectMessage[]): number {
    const frames: { readonly connection: Client['conn']; readonly message: DirectMessage; readonly layout: FrameLayout; readonly packetId: number }[] = [];
    let total = 0;
    for (const message of messages) {
      const client = this.clients.get(message.deviceId);
      if (client === undefined) continue;
      const internals = clientInternals(client);
      if (internals === undefined || !acceptsDeliveries(client, internals)) continue;
      const subscription = internals.subscriptions[message.topic];
      if (subscription === undefined) continue;
      const layout = frameLayout(message.topic, message.payload.length, Math.min(message.qos, subscription.qos ?? 0));
      frames.push({ connection: client.conn, message, layout, packetId: layout.qos > 0 ? takePacketId(internals) : 0 });
      total += layout.bytes;
    }
    if (frames.length === 0) return 0;
    const slab = Buffer.allocUnsafeSlow(total);
    let offset = 0;
    for (const { connection, message, layout, packetId } of frames) {
      writePublishFrame(slab, offset, layout, message.topic, message.payload, packetId);
      connection.write(slab.subarray(offset, offset + layout.bytes));
      offset += layout.bytes;
    }
    return frames.length;
  }
}

/** One retained message for `deliverAll`. */
export interface DirectMessage {
  readonly deviceId: DeviceId;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1;
}

/** The shape of one PUBLISH packet [MQTT-3.3]: fixed header, topic, packet id (QoS > 0), payload. */
export interface FrameLayout {
  readonly qos: number;
  readonly topicBytes: number;
  /** The remaining length [MQTT-2.2.3]: everything after the fixed header. */
  readonly remaining: number;
  readonly lengthBytes: number;
  /** The whole packet. */
  readonly bytes: number;
}

export function frameLayout(topic: string, payloadBytes: number, qos: number): FrameLayout {
  const topicBytes = Buffer.byteLength(topic);
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + payloadBytes;
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4;
  return { qos, topicBytes, remaining, lengthBytes, bytes: 1 + lengthBytes + remaining };
}

/**
 * Writes one PUBLISH packet, DUP 0 and RETAIN 0 (a live delivery), at
 * `offset` of `target` (`layout.bytes` long).
 */
export function writePublishFrame(target: Buffer, offset: number, layout: FrameLayout, topic: string, payload: Buffer, packetId: number): void {
  let at = offset;
  target[at++] = PUBLISH | (layout.qos << 1);
  // [MQTT-2.2.3] remaining length: 7 bits a byte, least significant first, high bit = more.
  for (let left = layout.remaining, i = 0; i < layout.lengthBytes; i += 1) {
    const digit = left % 0x80;
    left = Math.floor(left / 0x80);
    target[at++] = left > 0 ? digit | 0x80 : digit;
  }
  at = target.writeUInt16BE(layout.topicBytes, at);
  at += target.write(topic, at, 'utf8');
  if (layout.qos > 0) at = target.writeUInt16BE(packetId, at);
  payload.copy(target, at);
}
