/**
 * The few fields of aedes 1.2's `Client` the broker's fast paths use
 * (direct-delivery.ts, the PUBACK path in embedded.ts). aedes has no public
 * API for them: a client's subscriptions by filter, the counter it numbers
 * its QoS 1 deliveries with, its keep-alive timer, where it is in its
 * connection's life, and the client a connection belongs to. Each view
 * checks the shape it reads, and a caller that gets undefined takes aedes'
 * own path, so a later aedes that changes them costs speed, not correctness
 * (the tests on these paths would fail).
 */
import type { Client } from 'aedes';

export interface ClientInternals {
  readonly subscriptions: Readonly<Record<string, { readonly qos?: number } | undefined>>;
  _nextId: number;
  readonly _keepaliveInterval: number;
  readonly _keepaliveTimer: { refresh(): unknown } | null;
  /** Set once the CONNACK is written. */
  readonly connackSent: boolean;
  /** From CONNECT until the session is restored (aedes sets `connected` only then). */
  readonly connecting: boolean;
}

const LAST_PACKET_ID = 65_535;

export function clientInternals(client: Client): ClientInternals | undefined {
  const candidate = client as unknown as Partial<ClientInternals>;
  if (
    typeof candidate._nextId !== 'number' ||
    typeof candidate.subscriptions !== 'object' ||
    typeof candidate._keepaliveInterval !== 'number' ||
    typeof candidate.connackSent !== 'boolean' ||
    typeof candidate.connecting !== 'boolean'
  ) {
    return undefined;
  }
  return candidate as ClientInternals;
}

/** The next packet id of the client's deliveries, taken as aedes' QoSPacket takes it (1 to 65535, wrapping). */
export function takePacketId(internals: ClientInternals): number {
  const id = internals._nextId;
  internals._nextId = id >= LAST_PACKET_ID ? 1 : id + 1;
  return id;
}

/**
 * Whether aedes would write a delivery to the client now: its CONNACK is
 * out and it is connected, or still connecting. aedes resumes reading a
 * client's packets once the CONNACK is out but sets `connected` only after
 * it has sent what the session queued, so a client can subscribe (and hold
 * its SUBACK) before `connected` is set; aedes' own writer (lib/write.js)
 * writes to a connecting client too.
 */
export function acceptsDeliveries(client: Client, internals: ClientInternals): boolean {
  return internals.connackSent && !client.closed && (internals.connecting || client.connected);
}

/** What aedes does for every packet a client sends: its keep-alive starts again [MQTT-3.1.2-24]. */
export function refreshKeepalive(internals: ClientInternals): void {
  if (internals._keepaliveInterval > 0) internals._keepaliveTimer?.refresh();
}

/** The aedes client reading this connection (aedes sets `conn.client` when it takes a connection). */
export function clientOfConnection(connection: object): Client | undefined {
  const client = (connection as { client?: unknown }).client;
  return typeof client === 'object' && client !== null && 'id' in client ? (client as Client) : undefined;
}
