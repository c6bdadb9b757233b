/**
 * Where the embedded broker keeps the retained messages of devices'
 * `desired` topics (docs/control-plane.md, "Seventh round"): not as its own
 * copies, but in the store of signed desired states
 * (server/campaigns/desired-states.ts), which holds each desired state once,
 * written when it was signed, and records which one is each device's
 * retained message. A start of 10,000 devices then writes about 0.3 MB of
 * pointers instead of 15 MB of copies.
 *
 * The broker's persistence (fleet-persistence.ts) routes every retained
 * write and exact read of such a topic here; a wildcard read never sees
 * them (the ACL grants a device only its own topics by their exact names,
 * and the server's own subscriptions never match a `desired` topic).
 */

/** A retained message as the source holds it. */
export interface SourcedRetained {
  readonly payload: Buffer;
  readonly qos: 0 | 1;
}

export interface RetainedSource {
  /** The device whose retained message on `topic` the source keeps; undefined for a topic the broker keeps itself. */
  deviceOf(topic: string): string | undefined;
  /** The device's retained message, or undefined when it has none. */
  read(device: string): Promise<SourcedRetained | undefined>;
  /**
   * Makes these bytes the devices' retained messages, an empty payload
   * clearing one [MQTT-3.3.1-10]; readable at once, in order, the last of a
   * device winning; resolves once durable.
   */
  store(messages: readonly RetainedBytes[]): Promise<void>;
  /**
   * Makes messages the source already holds durably (by the name it gave
   * them) the devices' retained messages: readable at once, resolves once
   * the pointers are durable. Nothing of the messages' bytes is written.
   */
  point(messages: readonly RetainedName[]): Promise<void>;
  /** `store` for the devices that have no retained message here yet (the broker's own copies from an earlier version). */
  adopt(messages: readonly RetainedBytes[]): Promise<void>;
}

export interface RetainedBytes {
  readonly device: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1;
}

export interface RetainedName {
  readonly device: string;
  readonly name: string;
}
