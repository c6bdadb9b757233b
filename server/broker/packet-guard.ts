/**
 * A guard between a client's socket and aedes. aedes 1.2.0 buffers a whole
 * packet before `authenticate` runs and has no maximum packet size (aedes
 * #831): a CONNECT that announces 64 MiB makes the broker hold 64 MiB. The
 * guard reads each MQTT fixed header itself [MQTT-2.2] as bytes arrive and
 * destroys the connection as soon as a packet announces more than allowed,
 * before aedes has buffered its body. Until the client has authenticated,
 * the first packet must be CONNECT [MQTT-3.1.0-1] and the bytes received in
 * total are capped much lower.
 */
import type { Duplex } from 'node:stream';

export interface PacketLimits {
  /** Largest packet (fixed header + remaining length) after authentication, bytes. */
  readonly maxPacketBytes: number;
  /** Bytes a client may send before it has authenticated (its CONNECT and anything pipelined after it). */
  readonly maxPreAuthBytes: number;
}

export type GuardRejection = 'packet-too-large' | 'pre-auth-too-large' | 'first-packet-not-connect' | 'malformed-length';

const CONNECT = 1;
/** [MQTT-2.2.3] the remaining length is at most four bytes long. */
const MAX_LENGTH_BYTES = 4;

/** Incremental parser of MQTT fixed headers over a byte stream. */
export class FixedHeaderScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private type = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private bodyLeft = 0;
  private packets = 0;
  private total = 0;
  private authenticated = false;

  constructor(private readonly limits: PacketLimits) {}

  markAuthenticated(): void {
    this.authenticated = true;
  }

  /** Authenticated, and the next byte starts a packet (no packet is half read). */
  atPacketStartAfterAuth(): boolean {
    return this.authenticated && this.state === 'type';
  }

  /** Returns why the stream must be cut, or undefined when the chunk is acceptable. */
  scan(chunk: Uint8Array): GuardRejection | undefined {
    if (!this.authenticated) {
      this.total += chunk.length;
      if (this.total > this.limits.maxPreAuthBytes) return 'pre-auth-too-large';
    }
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i] ?? 0;
      i += 1;
      const rejection = this.state === 'type' ? this.readType(byte) : this.readLength(byte);
      if (rejection !== undefined) return rejection;
    }
    return undefined;
  }

  private readType(byte: number): GuardRejection | undefined {
    this.type = byte >> 4;
    if (this.packets === 0 && this.type !== CONNECT) return 'first-packet-not-connect';
    this.state = 'length';
    this.length = 0;
    this.multiplier = 1;
    this.lengthBytes = 0;
    return undefined;
  }

  private readLength(byte: number): GuardRejection | undefined {
    this.length += (byte & 0x7f) * this.multiplier;
    this.multiplier *= 128;
    this.lengthBytes += 1;
    if ((byte & 0x80) !== 0) return this.lengthBytes >= MAX_LENGTH_BYTES ? 'malformed-length' : undefined;
    const size = 1 + this.lengthBytes + this.length;
    const limit = this.authenticated ? this.limits.maxPacketBytes : Math.min(this.limits.maxPacketBytes, this.limits.maxPreAuthBytes);
    if (size > limit) return this.authenticated ? 'packet-too-large' : 'pre-auth-too-large';
    this.packets += 1;
    this.bodyLeft = this.length;
    this.state = this.length === 0 ? 'type' : 'body';
    return undefined;
  }
}

/** The guard on one connection: its scanner, and the device id a verified client certificate proved (mTLS), if any. */
export interface ConnectionGuard {
  readonly scanner: FixedHeaderScanner;
  readonly identity: string | undefined;
}

const guards = new WeakMap<object, ConnectionGuard>();

export interface GuardOptions {
  readonly limits: PacketLimits;
  readonly onReject: (reason: GuardRejection) => void;
  /** The device id a verified client certificate proved (mTLS), if any. */
  readonly identity?: string | undefined;
  /**
   * Offered each chunk that is exactly one PUBACK [MQTT-3.4] arriving
   * between packets after authentication; returns true when it took it, and
   * aedes never reads it (embedded.ts: a PUBACK with nothing to clear).
   */
  readonly onPuback?: (stream: Duplex) => boolean;
}

/** PUBACK: packet type 4, flags 0 [MQTT-3.4.1], remaining length 2 (the packet id). */
const PUBACK_TYPE = 0x40;
const PUBACK_BYTES = 4;

/**
 * Puts the guard on a connection's stream before aedes reads it: every
 * chunk the stream hands its reader is scanned first, and a chunk the
 * scanner refuses destroys the stream instead of reaching aedes.
 *
 * It wraps the stream's own `push`, the one way a Readable implementation
 * hands received bytes to its reader (Node's stream implementer API): a
 * net.Socket and a TLSSocket push what the socket read, ws's
 * `createWebSocketStream` pushes each message's bytes. aedes then reads and
 * writes the socket itself, with no second stream in between: an earlier
 * guard was a Duplex wrapped around the socket, which cost one more stream
 * state per connection (10,000 of them on a fleet server) and a pass
 * through it for every packet in and out (docs/control-plane.md, "Scale").
 */
export function guardConnection(stream: Duplex, options: GuardOptions): ConnectionGuard {
  const { limits, onReject, onPuback } = options;
  const guard: ConnectionGuard = { scanner: new FixedHeaderScanner(limits), identity: options.identity };
  const push = stream.push.bind(stream);
  const refuse = (reason: GuardRejection): false => {
    onReject(reason);
    stream.destroy();
    return false;
  };
  stream.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk === null) return push(chunk, encoding);
    // A socket pushes bytes only (no setEncoding here); anything else is refused, not passed on unscanned.
    if (!(chunk instanceof Uint8Array)) return refuse('malformed-length');
    if (onPuback !== undefined && isOnePuback(chunk) && guard.scanner.atPacketStartAfterAuth() && onPuback(stream)) return true;
    const rejection = guard.scanner.scan(chunk);
    return rejection === undefined ? push(chunk, encoding) : refuse(rejection);
  };
  guards.set(stream, guard);
  return guard;
}

function isOnePuback(chunk: Uint8Array): boolean {
  return chunk.length === PUBACK_BYTES && chunk[0] === PUBACK_TYPE && chunk[1] === 2;
}

/** The guard `guardConnection` put on this connection; undefined for one that never passed it. */
export function connectionGuard(connection: object): ConnectionGuard | undefined {
  return guards.get(connection);
}
