/** aedes-persistence-level ships no types; this is the part bootfleet uses (the async persistence aedes 1.x expects). */
declare module 'aedes-persistence-level/asyncPersistence.js' {
  import type { Readable } from 'node:stream';

  /** A packet as aedes hands it to its persistence (an aedes-packet object). */
  export interface PersistedPacket {
    readonly topic: string;
    readonly payload: Buffer | string;
    readonly [field: string]: unknown;
  }

  export default class AsyncLevelPersistence {
    /** `db` is an abstract-level database or sublevel; values are stored as buffers. */
    constructor(db: unknown);
    setup(broker: unknown): Promise<void>;
    outgoingEnqueue(subscription: { readonly clientId: string }, packet: PersistedPacket): Promise<void>;
    outgoingUpdate(client: { readonly id: string }, packet: PersistedPacket): Promise<void>;
    outgoingClearMessageId(client: { readonly id: string }, packet: { readonly messageId?: number }): Promise<PersistedPacket | undefined>;
    /** The client's queued messages, oldest first. */
    outgoingStream(client: { readonly id: string }): Readable;
    storeRetained(packet: PersistedPacket): Promise<void>;
    createRetainedStream(pattern: string): Readable;
    createRetainedStreamCombi(patterns: readonly string[]): Readable;
    destroy(): Promise<void>;
  }
}

/** msgpack-lite ships no types; aedes-persistence-level stores its values with it. */
declare module 'msgpack-lite' {
  export function encode(value: unknown): Buffer;
  export function decode(buffer: Uint8Array): unknown;
}
