/**
 * The server's own messages handed straight to their one subscriber
 * (docs/control-plane.md, "Scale"). The ACL (acl.ts) lets exactly one client
 * subscribe to a device's `desired` or `commands` topic: the device itself,
 * with the exact topic name. So a message the server publishes there has at
 * most one live recipient, and aedes' general path for it (a series of steps
 * per message, a lookup of persistent subscriptions, a match against every
 * subscription in the broker, an emitter that runs 100 messages at a time)
 * can be replaced by:
 *
 *   1. the batch's retained messages stored in one group commit, awaited
 *      (aedes, too, awaits `storeRetained` before it delivers);
 *   2. each message handed to its subscriber with `client.publish`, aedes'
 *      own per-client delivery: the ACL's `authorizeForward` (aedes #719),
 *      duplicate suppression, the QoS downgrade to the subscription's, the
 *      packet id, and the session's queue for a `clean: false` client.
 *
 * A message takes aedes' general path whenever that reasoning may not hold:
 * a wildcard or `$` subscription was ever granted to a client, one of the
 * server's own subscriptions matches the topic, or no connected client is
 * subscribed to it (an offline device with a persistent session gets it
 * queued there by aedes; a retained message waits for the next SUBSCRIBE).
 */
import type { Aedes, AedesPublishPacket, Client, Subscription } from 'aedes';
import type { OutgoingMessage } from './control-plane.js';
import { isExact, type FleetPersistence } from './fleet-persistence.js';
import { topicMatches } from './topic-filter.js';

interface Subscriber {
  readonly client: Client;
  /** MQTT 5 retain-as-published; without it a message sent to a subscriber has RETAIN 0 [MQTT-3.3.1-9]. */
  readonly retainAsPublished: boolean;
  /** A server subscription matches the topic too (worked out once, not per message). */
  shadowed: boolean;
}

/** [MQTT-3.9.3] return code 0x80 in a SUBACK: the subscription was refused. */
const REFUSED = 0x80;

export type Fallback = (message: OutgoingMessage) => Promise<void>;

export class DirectDelivery {
  /** The live subscriber of each exact topic, as aedes announced it ('subscribe' is emitted before the retained read). */
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly topicsOf = new WeakMap<Client, string[]>();
  private readonly serverFilters: string[] = [];
  private wildcardGranted = false;
  /** Own broker id: these packets' counter never meets aedes' own in its duplicate check (per broker id). */
  private readonly brokerId: string;
  private counter = 0;

  constructor(
    aedes: Aedes,
    private readonly persistence: Pick<FleetPersistence, 'storeRetainedMany'>,
  ) {
    // aedes' id is a random UUID per process: counters of a previous process never suppress this one's.
    this.brokerId = `${aedes.id}:direct`;
    aedes.on('subscribe', (subscriptions, client) => {
      this.subscribed(subscriptions, client);
    });
    aedes.on('unsubscribe', (topics, client) => {
      for (const topic of topics) this.forget(topic, client);
    });
    aedes.on('clientDisconnect', (client) => {
      for (const topic of this.topicsOf.get(client) ?? []) this.forget(topic, client);
      this.topicsOf.delete(client);
    });
  }

  /** A subscription of the server's own, inside the broker: messages matching it take aedes' path. */
  addServerFilter(filter: string): void {
    this.serverFilters.push(filter);
    for (const [topic, subscriber] of this.subscribers) subscriber.shadowed ||= topicMatches(filter, topic);
  }

  /** Publishes every message, directly where that is exact (see the top), through `fallback` otherwise. */
  async publishMany(messages: readonly OutgoingMessage[], fallback: Fallback): Promise<void> {
    const direct: AedesPublishPacket[] = [];
    const others: Promise<void>[] = [];
    for (const message of messages) {
      if (this.subscriberOf(message.topic) === undefined) others.push(fallback(message));
      else direct.push(this.packetOf(message));
    }
    const delivered = this.persistence.storeRetainedMany(direct.filter((p) => p.retain)).then(() => Promise.all(direct.map((p) => this.deliver(p, fallback))));
    await Promise.all([delivered, ...others]);
  }

  /**
   * After the store: the subscriber is looked up again. One that subscribed
   * meanwhile may have read the retained store before this batch was in it,
   * so it is sent the message; one that left gets it through aedes' path.
   */
  private deliver(packet: AedesPublishPacket, fallback: Fallback): Promise<void> {
    const subscriber = this.subscriberOf(packet.topic);
    if (subscriber === undefined) return fallback({ topic: packet.topic, payload: packet.payload, options: { qos: packet.qos === 0 ? 0 : 1, retain: packet.retain } });
    // A counter of its own, taken now: aedes drops a packet whose counter is below one already sent to the client
    // (its duplicate check), so counters must grow in the order of delivery, not of publication.
    const sent: AedesPublishPacket = { ...packet, brokerCounter: this.nextCounter(), retain: packet.retain && subscriber.retainAsPublished };
    return new Promise((resolve, reject) => {
      // The callback runs once written to the socket (or refused by authorizeForward), as for aedes' own deliveries.
      subscriber.client.publish(sent, (error) => {
        if (error instanceof Error) reject(error);
        else resolve();
      });
    });
  }

  private subscriberOf(topic: string): Subscriber | undefined {
    if (this.wildcardGranted) return undefined;
    const subscriber = this.subscribers.get(topic);
    return subscriber === undefined || subscriber.shadowed || subscriber.client.closed ? undefined : subscriber;
  }

  private packetOf(message: OutgoingMessage): AedesPublishPacket {
    const { topic, payload, options } = message;
    return { cmd: 'publish', brokerId: this.brokerId, brokerCounter: this.nextCounter(), topic, payload, qos: options.qos, retain: options.retain, dup: false };
  }

  private nextCounter(): number {
    this.counter += 1;
    return this.counter;
  }

  private subscribed(subscriptions: readonly Subscription[], client: Client): void {
    for (const { topic, qos, rap } of subscriptions) {
      // aedes reports the granted QoS in `qos`, 0x80 for a refusal.
      if ((qos as number) === REFUSED) continue;
      if (!isExact(topic)) {
        this.wildcardGranted = true;
        continue;
      }
      const shadowed = this.serverFilters.some((filter) => topicMatches(filter, topic));
      this.subscribers.set(topic, { client, retainAsPublished: rap === true, shadowed });
      const topics = this.topicsOf.get(client) ?? [];
      if (!topics.includes(topic)) topics.push(topic);
      this.topicsOf.set(client, topics);
    }
  }

  private forget(topic: string, client: Client): void {
    if (this.subscribers.get(topic)?.client === client) this.subscribers.delete(topic);
  }
}
