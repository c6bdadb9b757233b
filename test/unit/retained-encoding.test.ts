/**
 * The retained-message record written without msgpack-lite: for every
 * shape aedes gives storeRetained, the bytes are exactly msgpack-lite's
 * (the format aedes-persistence-level reads, and state directories written
 * before hold), across each size boundary of msgpack's string, binary and
 * integer forms; other shapes go to msgpack-lite itself.
 */
import msgpack from 'msgpack-lite';
import { describe, expect, it } from 'vitest';
import { encodeRetained, encodeRetainedMany } from '../../server/broker/retained-encoding.js';

const BROKER_ID = '8d5c1e0a-3b4f-4c2d-9e8f-0a1b2c3d4e5f';

type Fields = Readonly<{ [field: string]: unknown }>;

function packet(overrides: Fields = {}): Fields {
  return { cmd: 'publish', brokerId: BROKER_ID, brokerCounter: 1, topic: 'bootfleet/v1/devices/dev-1/desired', payload: Buffer.from('{}'), qos: 1, retain: true, dup: false, ...overrides };
}

function expectSameAsMsgpack(p: Fields): void {
  const ours = encodeRetained(p);
  expect(ours.toString('hex')).toBe(msgpack.encode(p).toString('hex'));
  expect(msgpack.decode(ours)).toEqual(msgpack.decode(msgpack.encode(p)));
}

describe('encodeRetained', () => {
  it('writes what msgpack-lite writes for payloads around every bin boundary (bin8 below 255 bytes, bin16, bin32)', () => {
    for (const size of [0, 1, 254, 255, 256, 2_048, 65_535, 65_536, 70_000]) expectSameAsMsgpack(packet({ payload: Buffer.alloc(size, 0x61) }));
  });

  it('writes what msgpack-lite writes for topics and ids around every string boundary, UTF-8 included', () => {
    for (const length of [0, 1, 31, 32, 255, 256, 65_535, 65_536]) expectSameAsMsgpack(packet({ topic: 't'.repeat(length) }));
    // A two-byte character: 20 characters are 40 bytes (str8, not fixstr), 150 are 300 (str16).
    for (const length of [15, 16, 20, 127, 128, 150]) expectSameAsMsgpack(packet({ topic: 'é'.repeat(length), brokerId: 'ü'.repeat(length) }));
    expectSameAsMsgpack(packet({ topic: 'devices/\u{1f680}/desired' }));
  });

  it('writes what msgpack-lite writes for counters and ids in every integer form and beyond int32', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40 + 3, 1.5]) expectSameAsMsgpack(packet({ brokerCounter: n }));
    for (const qos of [0, 1, 2]) expectSameAsMsgpack(packet({ qos }));
    for (const n of [-1, -32, -33, -128, -129, -32_768, -32_769]) expectSameAsMsgpack(packet({ brokerCounter: n }));
  });

  it('writes the packets aedes builds for a publish (aedes-packet: messageId set to undefined for QoS > 0), with and without a message id', () => {
    const qos1 = { ...packet(), messageId: undefined };
    expectSameAsMsgpack(qos1);
    expectSameAsMsgpack({ ...qos1, messageId: 7 });
    expectSameAsMsgpack({ ...qos1, messageId: 65_535 });
    expectSameAsMsgpack(packet({ qos: 0, retain: true, topic: 'a/b', payload: Buffer.from('x') }));
  });

  it('hands any other shape to msgpack-lite (same bytes by construction)', () => {
    expectSameAsMsgpack({ ...packet(), payload: 'a string payload' });
    expectSameAsMsgpack({ clientId: 'dev-1', ...packet() });
    expectSameAsMsgpack({ ...packet(), properties: { userProperties: { a: '1' } } });
    const { dup: _dup, ...shorter } = packet();
    expectSameAsMsgpack(shorter);
  });

  it('encodes a batch into slices of one buffer, each what msgpack-lite writes, other shapes included, in order', () => {
    const records = [
      packet({ payload: Buffer.alloc(254, 0x61) }),
      { ...packet(), payload: 'a string payload' },
      { ...packet({ topic: 'é'.repeat(20), brokerCounter: 70_000 }), messageId: undefined },
      packet({ payload: Buffer.alloc(65_536, 0x62) }),
    ];
    const encoded = encodeRetainedMany(records);
    expect(encoded.map((e) => e.toString('hex'))).toEqual(records.map((r) => msgpack.encode(r).toString('hex')));
    // The aedes-shaped ones share one allocation: one batch, one buffer.
    expect(encoded[0]?.buffer).toBe(encoded[3]?.buffer);
    expect(encodeRetainedMany([])).toEqual([]);
  });
});
