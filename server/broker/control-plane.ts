/**
 * What the rest of the server needs from MQTT, whichever broker carries it:
 * publish to a device's topics, receive what devices publish, and give a
 * newly enrolled device an account.
 */
import type { GuardRejection } from './packet-guard.js';

export interface PublishOptions {
  readonly qos: 0 | 1;
  readonly retain: boolean;
}

/** One message the server publishes. */
export interface OutgoingMessage {
  readonly topic: string;
  readonly payload: Buffer | string;
  readonly options: PublishOptions;
  /**
   * The name under which the embedded broker's retained source already
   * holds this payload durably (a desired state signed ahead:
   * server/campaigns/desired-states.ts): the broker then records a pointer
   * to it as the topic's retained message instead of a copy. Ignored by an
   * external broker, and by an embedded one without a source.
   */
  readonly stored?: string;
}

/** Receives one message a device published; must not throw. */
export type DeviceMessageHandler = (topic: string, payload: Buffer) => Promise<void>;

export interface BrokerCounters {
  authFailures: number;
  publishDenied: number;
  subscribeDenied: number;
  rejected: Partial<Record<GuardRejection | 'too-many-connections', number>>;
}

export function newBrokerCounters(): BrokerCounters {
  return { authFailures: 0, publishDenied: 0, subscribeDenied: 0, rejected: {} };
}

export interface ControlPlane {
  readonly mode: 'embedded' | 'external';
  /** Where devices connect (embedded listeners, or the external broker's URL). */
  readonly endpoints: Readonly<{ tcp?: string; tls?: string; ws?: string }>;
  readonly counters: BrokerCounters;
  publish(topic: string, payload: Buffer | string, options: PublishOptions): Promise<void>;
  /**
   * Publishes every message with the guarantees `publish` gives each one (a
   * retained message is stored before it is delivered); resolves when all
   * are, rejects with the first failure. No order among them is promised.
   */
  publishMany(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Delivers every message matching `filter` (the server's subscriptions: reports, presence). */
  onDeviceMessage(filter: string, handler: DeviceMessageHandler): Promise<void>;
  /** Gives an enrolled device its account and ACL in the broker (a no-op when embedded: the broker asks our store). */
  provisionDevice(deviceId: string, password: string): Promise<void>;
  /** Removes the device's broker account and closes its connection, if the broker holds one. */
  revokeDevice(deviceId: string): Promise<void>;
  connectedClients(): number;
  close(): Promise<void>;
}

/** `publishMany` as one `publish` per message, all at once (the external broker; test doubles). */
export async function publishEach(plane: Pick<ControlPlane, 'publish'>, messages: readonly OutgoingMessage[]): Promise<void> {
  await Promise.all(messages.map((m) => plane.publish(m.topic, m.payload, m.options)));
}
