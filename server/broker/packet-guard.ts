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
import { Duplex } from 'node:stream';

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

  /** Returns why the stream must be cut, or undefined when the chunk is acceptable. */
  scan(chunk: Buffer): GuardRejection | undefined {
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

/**
 * A Duplex that aedes reads from and writes to, forwarding to the real
 * stream after the scanner accepted each chunk. Backpressure is kept:
 * the inner stream is paused while aedes is not reading.
 */
export class GuardedConnection extends Duplex {
  readonly scanner: FixedHeaderScanner;
  /** The device id proven by a verified TLS client certificate (mTLS), if any. */
  identity: string | undefined;

  constructor(
    private readonly inner: Duplex,
    limits: PacketLimits,
    private readonly onReject: (reason: GuardRejection) => void,
  ) {
    super({ allowHalfOpen: false });
    this.scanner = new FixedHeaderScanner(limits);
    inner.on('data', (chunk: Buffer) => {
      this.accept(chunk);
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (error) => this.destroy(error));
    inner.on('close', () => this.destroy());
  }

  private accept(chunk: Buffer): void {
    const rejection = this.scanner.scan(chunk);
    if (rejection !== undefined) {
      this.onReject(rejection);
      this.inner.destroy();
      this.destroy();
      return;
    }
    if (!this.push(chunk)) this.inner.pause();
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.inner.destroyed) {
      callback();
      return;
    }
    this.inner.write(chunk, callback);
  }

  /**
   * What aedes wrote while corked (mqtt-packet writes one PUBLISH as several
   * chunks, corked until the next tick) goes to the socket corked too: one
   * writev syscall per packet instead of one write per chunk, and no copy.
   */
  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    if (this.inner.destroyed) {
      callback();
      return;
    }
    this.inner.cork();
    chunks.forEach(({ chunk }, i) => {
      if (i < chunks.length - 1) this.inner.write(chunk);
      else this.inner.write(chunk, callback);
    });
    this.inner.uncork();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner.destroy();
    callback(error);
  }
}
