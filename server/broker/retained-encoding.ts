/**
 * The retained-message record of aedes-persistence-level, encoded once into
 * a buffer of the right size (docs/control-plane.md, "Scale"). The library
 * stores `msgpack-lite.encode(packet)`; msgpack-lite starts from a small
 * buffer and grows it by throwing and catching an exception, which cost
 * about 4 % of a campaign start's CPU at 10,000 devices. The record of an
 * aedes publish packet has a fixed shape, so it is written here directly,
 * **byte for byte what msgpack-lite writes** (a state directory written
 * before reads the same, and the library reads what we write;
 * test/unit/retained-encoding.test.ts compares the two). Any other shape
 * goes to msgpack-lite.
 *
 * msgpack-lite's choices followed here (its lib/write-type.js): a map of
 * the object's own keys in order; strings as fixstr / str8 / str16 / str32
 * by UTF-8 length; a Buffer as bin8 only below 255 bytes (255 is bin16);
 * an integer in the int32 range as the smallest (u)int, any other number as
 * float64; `undefined` as nil.
 */
import msgpack from 'msgpack-lite';

/** The fields of an aedes publish packet (aedes-packet), in the order it sets them. */
const FIELDS = ['cmd', 'brokerId', 'brokerCounter', 'topic', 'payload', 'qos', 'retain', 'dup'] as const;
/** Set after the others for QoS > 0 [MQTT-2.3.1-5]: undefined until a client's session numbers it. */
const MESSAGE_ID = 'messageId';

interface RetainedPacket {
  readonly cmd: string;
  readonly brokerId: string;
  readonly brokerCounter: number;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: boolean;
  readonly dup: boolean;
  readonly messageId?: number;
}

/** The msgpack bytes of `record`, as msgpack-lite would encode it. */
export function encodeRetained(record: Readonly<Record<string, unknown>>): Buffer {
  const keys = Object.keys(record);
  const packet = plainShape(record, keys);
  if (packet === undefined) return msgpack.encode(record);
  return writeRecord(new Writer(Buffer.allocUnsafe(sizeOf(packet, keys))), packet, keys);
}

/**
 * `encodeRetained` of each record, the records of aedes' shape written into
 * one buffer (one allocation for a batch instead of one per record); each
 * result is its own slice of it.
 */
export function encodeRetainedMany(records: readonly Readonly<Record<string, unknown>>[]): Buffer[] {
  const shapes = records.map((record) => {
    const keys = Object.keys(record);
    const packet = plainShape(record, keys);
    return { keys, packet, size: packet === undefined ? 0 : sizeOf(packet, keys) };
  });
  const slab = Buffer.allocUnsafeSlow(shapes.reduce((total, shape) => total + shape.size, 0));
  let offset = 0;
  return shapes.map(({ keys, packet, size }, i) => {
    if (packet === undefined) return msgpack.encode(records[i]);
    const encoded = writeRecord(new Writer(slab.subarray(offset, offset + size)), packet, keys);
    offset += size;
    return encoded;
  });
}

function writeRecord(writer: Writer, packet: RetainedPacket, keys: readonly string[]): Buffer {
  writer.mapHeader(keys.length);
  writer.string('cmd');
  writer.string(packet.cmd);
  writer.string('brokerId');
  writer.string(packet.brokerId);
  writer.string('brokerCounter');
  writer.number(packet.brokerCounter);
  writer.string('topic');
  writer.string(packet.topic);
  writer.string('payload');
  writer.bin(packet.payload);
  writer.string('qos');
  writer.number(packet.qos);
  writer.string('retain');
  writer.bool(packet.retain);
  writer.string('dup');
  writer.bool(packet.dup);
  if (keys.length > FIELDS.length) {
    writer.string(MESSAGE_ID);
    if (packet.messageId === undefined) writer.nil();
    else writer.number(packet.messageId);
  }
  return writer.done();
}

/** The record as a publish packet when it has exactly aedes' shape (fields, order and types), else undefined. */
function plainShape(record: Readonly<Record<string, unknown>>, keys: readonly string[]): RetainedPacket | undefined {
  const withId = keys.length === FIELDS.length + 1 && keys[FIELDS.length] === MESSAGE_ID;
  if (keys.length !== FIELDS.length && !withId) return undefined;
  if (!FIELDS.every((field, i) => keys[i] === field)) return undefined;
  const { cmd, brokerId, brokerCounter, topic, payload, qos, retain, dup, messageId } = record;
  if (typeof cmd !== 'string' || typeof brokerId !== 'string' || typeof topic !== 'string' || !Buffer.isBuffer(payload)) return undefined;
  if (typeof brokerCounter !== 'number' || typeof qos !== 'number' || typeof retain !== 'boolean' || typeof dup !== 'boolean') return undefined;
  if (messageId !== undefined && typeof messageId !== 'number') return undefined;
  return { cmd, brokerId, brokerCounter, topic, payload, qos, retain, dup, ...(messageId === undefined ? {} : { messageId }) };
}

function sizeOf(packet: RetainedPacket, keys: readonly string[]): number {
  let size = 1;
  for (const key of keys) size += stringSize(Buffer.byteLength(key));
  size += stringSize(Buffer.byteLength(packet.cmd)) + stringSize(Buffer.byteLength(packet.brokerId)) + stringSize(Buffer.byteLength(packet.topic));
  size += numberSize(packet.brokerCounter) + numberSize(packet.qos) + binSize(packet.payload.length) + 2;
  if (keys.length > FIELDS.length) size += packet.messageId === undefined ? 1 : numberSize(packet.messageId);
  return size;
}

function stringSize(bytes: number): number {
  return bytes + (bytes < 32 ? 1 : bytes <= 0xff ? 2 : bytes <= 0xffff ? 3 : 5);
}

function binSize(bytes: number): number {
  return bytes + (bytes < 0xff ? 2 : bytes <= 0xffff ? 3 : 5);
}

function numberSize(value: number): number {
  const int = value | 0;
  if (value !== int) return 9;
  if (int >= -0x20 && int <= 0x7f) return 1;
  if (int >= 0) return int <= 0xff ? 2 : int <= 0xffff ? 3 : 5;
  return int >= -0x80 ? 2 : int >= -0x8000 ? 3 : 5;
}

/** Writes msgpack tokens into a buffer sized in advance (big-endian, as msgpack requires). */
class Writer {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  mapHeader(entries: number): void {
    // Never more than 15 entries here: a fixmap.
    this.byte(0x80 + entries);
  }

  string(value: string): void {
    const bytes = Buffer.byteLength(value);
    if (bytes < 32) this.byte(0xa0 + bytes);
    else if (bytes <= 0xff) this.head(0xd9, bytes, 1);
    else if (bytes <= 0xffff) this.head(0xda, bytes, 2);
    else this.head(0xdb, bytes, 4);
    this.offset += this.buffer.write(value, this.offset, 'utf8');
  }

  bin(value: Buffer): void {
    const bytes = value.length;
    if (bytes < 0xff) this.head(0xc4, bytes, 1);
    else if (bytes <= 0xffff) this.head(0xc5, bytes, 2);
    else this.head(0xc6, bytes, 4);
    this.offset += value.copy(this.buffer, this.offset);
  }

  number(value: number): void {
    const int = value | 0;
    if (value !== int) {
      this.byte(0xcb);
      this.offset = this.buffer.writeDoubleBE(value, this.offset);
    } else if (int >= -0x20 && int <= 0x7f) this.byte(int & 0xff);
    else if (int >= 0) {
      if (int <= 0xff) this.head(0xcc, int, 1);
      else if (int <= 0xffff) this.head(0xcd, int, 2);
      else this.head(0xce, int, 4);
    } else {
      this.byte(int >= -0x80 ? 0xd0 : int >= -0x8000 ? 0xd1 : 0xd2);
      this.offset = this.buffer.writeIntBE(int, this.offset, int >= -0x80 ? 1 : int >= -0x8000 ? 2 : 4);
    }
  }

  bool(value: boolean): void {
    this.byte(value ? 0xc3 : 0xc2);
  }

  nil(): void {
    this.byte(0xc0);
  }

  done(): Buffer {
    if (this.offset !== this.buffer.length) throw new Error(`retained record size: wrote ${String(this.offset)} of ${String(this.buffer.length)} bytes`);
    return this.buffer;
  }

  private byte(value: number): void {
    this.buffer[this.offset] = value;
    this.offset += 1;
  }

  private head(type: number, value: number, bytes: 1 | 2 | 4): void {
    this.byte(type);
    this.offset = this.buffer.writeUIntBE(value, this.offset, bytes);
  }
}
