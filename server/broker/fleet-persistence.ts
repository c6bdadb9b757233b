/**
 * The embedded broker's persistence: aedes-persistence-level (same keys,
 * same msgpack values, so an existing state directory reads the same),
 * with two changes that matter for a fleet of 10,000 devices
 * (docs/control-plane.md, "Scale"):
 *
 *  - retained messages are written through a group commit (group-commit.ts)
 *    instead of one LevelDB put each; aedes' publish still waits until its
 *    retained copy is in the log before it delivers it. A retained copy
 *    handed over and not yet written is what a subscription by exact topic
 *    reads meanwhile (the direct path delivers first: direct-delivery.ts);
 *  - a subscription to an exact topic (every device subscribes to its own
 *    topics, never to a wildcard) reads that one retained message by key.
 *    The library scans every retained message for every subscription, so a
 *    reconnect storm of N devices over N retained desired states was O(N²);
 *  - a PUBACK for a message that has no in-flight record (every retained
 *    desired state, every message to a clean session) is answered from an
 *    in-memory index of those records instead of a LevelDB read (one read
 *    per delivered message was the largest cost of a campaign's start);
 *  - a session restored at CONNECT reads its queued messages from the
 *    store only when an in-memory index of the queued records says it has
 *    some (between campaigns no device has), not with one LevelDB iterator
 *    per CONNECT: a reconnect storm of 10,000 devices took 9 % less CPU;
 *  - the retained record is encoded in one buffer of the right size
 *    (retained-encoding.ts), the same bytes msgpack-lite writes;
 *  - with a retained source (retained-source.ts), the retained messages of
 *    devices' `desired` topics are the source's: written, read by exact
 *    topic and deleted there, never as copies here. Copies an earlier
 *    version wrote are handed to the source at setup and deleted here.
 */
import { Readable } from 'node:stream';
import AsyncLevelPersistence, { type PersistedPacket } from 'aedes-persistence-level/asyncPersistence.js';
import msgpack from 'msgpack-lite';
import { GroupCommit, type WriteOp } from './group-commit.js';
import { encodeRetained, encodeRetainedMany } from './retained-encoding.js';
import type { RetainedBytes, RetainedSource } from './retained-source.js';

/** The key prefixes aedes-persistence-level stores retained messages, queued messages and in-flight QoS 1 ids under. */
const RETAINED = 'retained:';
const OUTGOING = 'outgoing:';
const OUTGOING_ID = 'outgoing-id:';

/** The part of the `mqtt` sublevel this class uses (values are buffers). */
export interface PersistenceDb {
  get(key: string): Promise<Buffer | undefined>;
  batch(ops: WriteOp[]): Promise<void>;
  keys(range: { gte: string; lt: string }): AsyncIterable<string>;
}

interface ClientRef {
  readonly id: string;
}

export class FleetPersistence extends AsyncLevelPersistence {
  private readonly writer: GroupCommit;
  /**
   * Keys of the in-flight records (`outgoing-id:`) that may exist, by client
   * id: loaded at setup, added after each outgoingUpdate. A key absent here
   * is absent on disk (only outgoingUpdate writes one); a stale key only
   * costs a read. A client without an entry has no record.
   */
  private readonly inFlight = new ClientKeys();
  /**
   * Keys of the queued messages (`outgoing:`) that may exist, by client id:
   * loaded at setup, added before each outgoingEnqueue writes one, removed
   * when its in-flight record is cleared. A client without an entry has
   * nothing queued, and its session is restored at CONNECT without reading
   * the store (`outgoingStream`).
   */
  private readonly queued = new ClientKeys();
  /**
   * Retained records handed to the group commit and not yet written, by
   * topic, the latest request winning: a subscription by exact topic reads
   * them before the store (the direct path delivers before its copies are
   * written: direct-delivery.ts, "Order of store and delivery").
   */
  private readonly unwritten = new Map<string, PersistedPacket>();

  /** The broker's id, stamped on the retained packets read from the source (as aedes stamps its own). */
  private brokerId = '';

  constructor(
    private readonly db: PersistenceDb,
    /** Keeps the retained messages of the topics it names (devices' `desired` topics) instead of this store. */
    private readonly source?: RetainedSource,
  ) {
    super(db);
    this.writer = new GroupCommit(db);
  }

  override async setup(broker: unknown): Promise<void> {
    await super.setup(broker);
    const id = (broker as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string') this.brokerId = id;
    // ';' follows ':' in byte order: the range is exactly the keys under the prefix.
    for await (const key of this.db.keys({ gte: OUTGOING_ID, lt: `${OUTGOING_ID.slice(0, -1)};` })) {
      this.inFlight.add(decodeURIComponent(key.slice(OUTGOING_ID.length, key.lastIndexOf(':'))), key);
    }
    // A client id is URI-encoded in the key, so the first ':' after the prefix ends it.
    for await (const key of this.db.keys({ gte: OUTGOING, lt: `${OUTGOING.slice(0, -1)};` })) {
      this.queued.add(decodeURIComponent(key.slice(OUTGOING.length, key.indexOf(':', OUTGOING.length))), key);
    }
    await this.handOverCopies();
  }

  /**
   * Copies of the source's topics written by an earlier version go to the
   * source (unless it holds a newer message), then are deleted here: a
   * topic's retained message is then in one place only.
   */
  private async handOverCopies(): Promise<void> {
    const source = this.source;
    if (source === undefined) return;
    // Keys only: every start reads them, and after the first hand-over none is the source's.
    const found: { key: string; device: string }[] = [];
    for await (const key of this.db.keys({ gte: RETAINED, lt: `${RETAINED.slice(0, -1)};` })) {
      const device = source.deviceOf(key.slice(RETAINED.length));
      if (device !== undefined) found.push({ key, device });
    }
    if (found.length === 0) return;
    const copies: RetainedBytes[] = [];
    for (const { key, device } of found) {
      const value = await this.db.get(key);
      if (value !== undefined) copies.push(sourcedOf(device, msgpack.decode(value) as PersistedPacket));
    }
    await source.adopt(copies);
    await this.db.batch(found.map(({ key }) => ({ type: 'del', key })));
  }

  /** Whether the client may have an in-flight record (a PUBACK from it may have something to clear). */
  hasInFlight(clientId: string): boolean {
    return this.inFlight.has(clientId);
  }

  override async outgoingUpdate(client: ClientRef, packet: PersistedPacket): Promise<void> {
    await super.outgoingUpdate(client, packet);
    this.inFlight.add(client.id, outgoingIdKey(client.id, packet.messageId));
  }

  override async outgoingClearMessageId(client: ClientRef, packet: { readonly messageId?: number }): Promise<PersistedPacket | undefined> {
    // Most PUBACKs (every retained delivery, every message to a clean session) have no record: no key to build.
    if (!this.inFlight.has(client.id)) return undefined;
    const key = outgoingIdKey(client.id, packet.messageId);
    if (!this.inFlight.hasKey(client.id, key)) return undefined;
    const cleared = await super.outgoingClearMessageId(client, packet);
    this.inFlight.delete(client.id, key);
    // The library deleted the queued record with the in-flight one.
    if (cleared !== undefined) this.queued.delete(client.id, outgoingKey(client.id, cleared.brokerId, cleared.brokerCounter));
    return cleared;
  }

  /** Indexed before the write: a session restored meanwhile reads the store, and finds the message once written. */
  override async outgoingEnqueue(subscription: { readonly clientId: string }, packet: PersistedPacket): Promise<void> {
    this.queued.add(subscription.clientId, outgoingKey(subscription.clientId, packet.brokerId, packet.brokerCounter));
    await super.outgoingEnqueue(subscription, packet);
  }

  /**
   * The messages queued for a client, which aedes reads at every CONNECT of
   * a persistent session: nothing for a client with nothing queued (every
   * device between campaigns), without a LevelDB iterator. A reconnect
   * storm of 10,000 devices took 0.91 of the server's CPU; its garbage did
   * not move, most of it is the pipeline aedes builds around this stream
   * (docs/control-plane.md, "Eleventh round").
   */
  override outgoingStream(client: ClientRef): Readable {
    return this.queued.has(client.id) ? super.outgoingStream(client) : Readable.from([]);
  }

  override storeRetained(packet: PersistedPacket): Promise<void> {
    return this.storeRetainedMany([packet]);
  }

  /**
   * Stores these retained messages, in order, in one batch of the group
   * commit (direct-delivery.ts); their records in one buffer. A subscription
   * by exact topic reads them from the moment of the call, before they are
   * written; the promise resolves once they are.
   */
  storeRetainedMany(packets: readonly PersistedPacket[]): Promise<void> {
    const source = this.source;
    if (source === undefined) return this.storeCopies(packets);
    const sourced: RetainedBytes[] = [];
    const copies: PersistedPacket[] = [];
    for (const packet of packets) {
      const device = source.deviceOf(packet.topic);
      if (device === undefined) copies.push(packet);
      else sourced.push(sourcedOf(device, packet));
    }
    if (sourced.length === 0) return this.storeCopies(copies);
    return Promise.all([source.store(sourced), this.storeCopies(copies)]).then(() => undefined);
  }

  private storeCopies(packets: readonly PersistedPacket[]): Promise<void> {
    if (packets.length === 0) return Promise.resolve();
    const records = encodeRetainedMany(packets.filter((packet) => packet.payload.length > 0));
    let next = 0;
    return this.remember(packets, this.writer.writeAll(packets.map((packet) => retainedOp(packet, () => records[next++]))));
  }

  /** Keeps `packets` readable by topic until `written` settles (a failed write leaves what is on disk). */
  private remember(packets: readonly PersistedPacket[], written: Promise<void>): Promise<void> {
    for (const packet of packets) this.unwritten.set(packet.topic, packet);
    const forget = (): void => {
      for (const packet of packets) if (this.unwritten.get(packet.topic) === packet) this.unwritten.delete(packet.topic);
    };
    return written.finally(forget);
  }

  override createRetainedStream(pattern: string): Readable {
    return isExact(pattern) ? Readable.from(this.retainedAt([pattern])) : super.createRetainedStream(pattern);
  }

  override createRetainedStreamCombi(patterns: readonly string[]): Readable {
    return patterns.every(isExact) ? Readable.from(this.retainedAt(patterns)) : super.createRetainedStreamCombi(patterns);
  }

  override async destroy(): Promise<void> {
    await this.writer.flush();
    await super.destroy();
  }

  private async *retainedAt(topics: readonly string[]): AsyncGenerator {
    for (const topic of topics) {
      const device = this.source?.deviceOf(topic);
      if (device !== undefined) {
        const sourced = await this.source?.read(device);
        if (sourced !== undefined) yield retainedPacket(this.brokerId, topic, sourced.payload, sourced.qos);
        continue;
      }
      const unwritten = this.unwritten.get(topic);
      if (unwritten !== undefined) {
        // An empty payload deletes the retained message [MQTT-3.3.1-10].
        if (unwritten.payload.length > 0) yield unwritten;
        continue;
      }
      const value = await this.db.get(`${RETAINED}${topic}`);
      if (value !== undefined) yield msgpack.decode(value);
    }
  }
}

/**
 * The packet aedes would have stored for a retained publish (an
 * aedes-packet, fields in its order); aedes renumbers a retained message
 * when it delivers it, so brokerCounter is never read back.
 */
export function retainedPacket(brokerId: string, topic: string, payload: Buffer, qos: 0 | 1): PersistedPacket {
  return { cmd: 'publish', brokerId, brokerCounter: 0, topic, payload, qos, retain: true, dup: false, ...(qos > 0 ? { messageId: undefined } : {}) };
}

/** A retained packet as the source takes it (the payload not copied). */
function sourcedOf(device: string, packet: PersistedPacket): RetainedBytes {
  return { device, payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload, qos: Number(packet.qos) > 0 ? 1 : 0 };
}

function retainedOp(packet: PersistedPacket, encode: (packet: PersistedPacket) => Buffer | undefined = encodeRetained): WriteOp {
  const key = `${RETAINED}${packet.topic}`;
  // An empty retained payload deletes the retained message [MQTT-3.3.1-10].
  if (packet.payload.length === 0) return { type: 'del', key };
  // The library's msgpack record, written in one sized buffer (retained-encoding.ts: the same bytes).
  const value = encode(packet);
  if (value === undefined) throw new Error('a retained record was not encoded');
  return { type: 'put', key, value };
}

/**
 * A filter without wildcards [MQTT-4.7.1] matches only the topic of the same
 * name; `$`-topics are left to the library (its own matching rules).
 */
function isExact(pattern: string): boolean {
  return !pattern.includes('+') && !pattern.includes('#') && !pattern.startsWith('$');
}

/** Keys by client id; a client whose last key is deleted has no entry. */
class ClientKeys {
  private readonly byClient = new Map<string, Set<string>>();

  has(clientId: string): boolean {
    return this.byClient.has(clientId);
  }

  hasKey(clientId: string, key: string): boolean {
    return this.byClient.get(clientId)?.has(key) === true;
  }

  add(clientId: string, key: string): void {
    const keys = this.byClient.get(clientId);
    if (keys === undefined) this.byClient.set(clientId, new Set([key]));
    else keys.add(key);
  }

  delete(clientId: string, key: string): void {
    const keys = this.byClient.get(clientId);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.byClient.delete(clientId);
  }
}

/** The library's key of a queued message (its `outgoingKey`: counter padded to 16 digits). */
function outgoingKey(clientId: string, brokerId: unknown, brokerCounter: unknown): string {
  return `${OUTGOING}${encodeURIComponent(clientId)}:${String(brokerId)}:${padId(brokerCounter)}`;
}

/** The library's `padId` (`id?.toString().padStart(16, '0')` in a template): 16 digits, `undefined` for none (ids are numbers). */
function padId(id: unknown): string {
  return typeof id === 'number' || typeof id === 'string' ? String(id).padStart(16, '0') : 'undefined';
}

/** The library's key for an in-flight message id (its `outgoingByIdKey`: id padded to 16 digits). */
function outgoingIdKey(clientId: string, messageId: unknown): string {
  return `${OUTGOING_ID}${encodeURIComponent(clientId)}:${padId(messageId)}`;
}
