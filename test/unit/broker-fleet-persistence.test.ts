/**
 * The embedded broker's persistence on a real level database: retained
 * messages written by group commit, read back by exact topic and by
 * wildcard, deleted by an empty payload, in the library's own format.
 */
import type { Readable } from 'node:stream';
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js';
import type { Level } from 'level';
import { describe, expect, it, vi } from 'vitest';
import { FleetPersistence, type PersistenceDb } from '../../server/broker/fleet-persistence.js';
import { GroupCommit, MAX_BATCH_OPS, type WriteOp } from '../../server/broker/group-commit.js';
import { DesiredStates } from '../../server/campaigns/desired-states.js';
import { useLevelDb } from '../helpers/level-db.js';

async function topicsOf(stream: Readable): Promise<string[]> {
  const topics: string[] = [];
  for await (const packet of stream) topics.push((packet as { topic: string }).topic);
  return topics.sort();
}

const retained = (topic: string, payload: string): { cmd: 'publish'; topic: string; payload: Buffer; qos: 1; retain: true } => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  retain: true,
});

type MqttSublevel = ReturnType<typeof Level.prototype.sublevel<string, Buffer>>;

describe('FleetPersistence', () => {
  const db = useLevelDb('bootfleet-persistence-');
  const sublevel = (): MqttSublevel => db().sublevel<string, Buffer>('mqtt', { valueEncoding: 'buffer' });

  it('stores a burst of retained messages and reads each back by its exact topic, or all by wildcard', async () => {
    const persistence = new FleetPersistence(sublevel());
    const topics = Array.from({ length: 3 * MAX_BATCH_OPS + 5 }, (_, i) => `bootfleet/v1/devices/d${String(i)}/desired`);
    await Promise.all(topics.map((topic) => persistence.storeRetained(retained(topic, `state of ${topic}`))));
    expect(await topicsOf(persistence.createRetainedStream('bootfleet/v1/devices/d7/desired'))).toEqual(['bootfleet/v1/devices/d7/desired']);
    expect(await topicsOf(persistence.createRetainedStreamCombi(['bootfleet/v1/devices/d1/desired', 'bootfleet/v1/devices/nobody/desired']))).toEqual([
      'bootfleet/v1/devices/d1/desired',
    ]);
    expect(await topicsOf(persistence.createRetainedStream('bootfleet/v1/devices/+/desired'))).toHaveLength(topics.length);
  });

  it('deletes a retained message on an empty payload [MQTT-3.3.1-10], the later write winning', async () => {
    const persistence = new FleetPersistence(sublevel());
    const topic = 'bootfleet/v1/devices/d1/desired';
    await Promise.all([persistence.storeRetained(retained(topic, 'one')), persistence.storeRetained(retained(topic, ''))]);
    expect(await topicsOf(persistence.createRetainedStream(topic))).toEqual([]);
    await Promise.all([persistence.storeRetained(retained(topic, '')), persistence.storeRetained(retained(topic, 'two'))]);
    const [packet] = (await persistence.createRetainedStream(topic).toArray()) as { payload: Buffer }[];
    expect(Buffer.from(packet?.payload ?? '').toString()).toBe('two');
  });

  it('writes what the library reads: a state directory stays readable without this class', async () => {
    const persistence = new FleetPersistence(sublevel());
    await persistence.storeRetained(retained('bootfleet/v1/devices/d1/desired', 'kept'));
    await persistence.destroy();
    await db().open();
    const plain = new AsyncLevelPersistence(sublevel());
    const [packet] = (await plain.createRetainedStream('bootfleet/v1/devices/#').toArray()) as { topic: string; payload: Buffer }[];
    expect(packet?.topic).toBe('bootfleet/v1/devices/d1/desired');
    expect(Buffer.from(packet?.payload ?? '').toString()).toBe('kept');
  });

  it('reads a retained copy by its exact topic from the moment it is handed over, before it is written; a failed write leaves what is on disk', async () => {
    const level = sublevel();
    // The real sublevel, its batches held until released (or failed): the moment between hand-over and write.
    let release: ((fail: boolean) => void) | undefined;
    const held: PersistenceDb = {
      get: (key) => level.get(key),
      keys: (range) => level.keys(range),
      batch: (ops) =>
        new Promise<void>((resolve, reject) => {
          release = (fail) => {
            if (fail) reject(new Error('disk full'));
            else resolve(level.batch(ops));
          };
        }),
    };
    const persistence = new FleetPersistence(held);
    const topic = 'bootfleet/v1/devices/d1/desired';
    const payloadAt = async (): Promise<string | undefined> => {
      const [packet] = (await persistence.createRetainedStream(topic).toArray()) as { payload: Buffer }[];
      return packet === undefined ? undefined : Buffer.from(packet.payload).toString();
    };
    const heldWrite = async (write: Promise<void>, fail: boolean): Promise<PromiseSettledResult<void>> => {
      await vi.waitFor(() => {
        expect(release).toBeDefined();
      });
      release?.(fail);
      release = undefined;
      return (await Promise.allSettled([write]))[0];
    };

    const first = persistence.storeRetainedMany([retained(topic, 'one')]);
    expect(await payloadAt()).toBe('one');
    expect(await level.get(`retained:${topic}`)).toBeUndefined();
    expect((await heldWrite(first, false)).status).toBe('fulfilled');
    expect(await payloadAt()).toBe('one');

    // A deletion (empty payload) reads as no retained message while it waits, too.
    const deletion = persistence.storeRetainedMany([retained(topic, '')]);
    expect(await payloadAt()).toBeUndefined();
    expect((await heldWrite(deletion, true)).status).toBe('rejected');
    // The deletion failed: the written copy is what a subscription reads again.
    expect(await payloadAt()).toBe('one');

    const second = persistence.storeRetainedMany([retained(topic, 'two')]);
    const third = persistence.storeRetainedMany([retained(topic, 'three')]);
    // The latest hand-over wins at once, and stays after the earlier write lands.
    expect(await payloadAt()).toBe('three');
    expect((await heldWrite(Promise.all([second, third]).then(() => undefined), false)).status).toBe('fulfilled');
    expect(await payloadAt()).toBe('three');
  });

  it('clears an in-flight QoS 1 message on PUBACK after a restart, and answers an unknown id without a record', async () => {
    const first = new FleetPersistence(sublevel());
    await first.setup({ id: 'broker-1', counter: 0 });
    const packet = { cmd: 'publish', topic: 'bootfleet/v1/devices/d1/commands', payload: Buffer.from('cmd'), qos: 1, retain: false, brokerId: 'broker-1', brokerCounter: 1 };
    await first.outgoingEnqueue({ clientId: 'd1' }, packet);
    await first.outgoingUpdate({ id: 'd1' }, { ...packet, messageId: 7 });
    await first.destroy();
    await db().open();
    const again = new FleetPersistence(sublevel());
    await again.setup({ id: 'broker-2', counter: 0 });
    expect(await again.outgoingClearMessageId({ id: 'd1' }, { messageId: 8 })).toBeUndefined();
    expect((await again.outgoingClearMessageId({ id: 'd1' }, { messageId: 7 }))?.topic).toBe(packet.topic);
    expect(await again.outgoingClearMessageId({ id: 'd1' }, { messageId: 7 })).toBeUndefined();
  });

  it("restores a session's queued messages from the store, after a restart too, and a session with none without reading it", async () => {
    const client = 'site/d:1';
    const queued = (counter: number): Record<string, unknown> & { topic: string; payload: Buffer } => ({
      cmd: 'publish',
      topic: `bootfleet/v1/devices/${client}/commands`,
      payload: Buffer.from(`command ${String(counter)}`),
      qos: 1,
      retain: false,
      brokerId: 'broker-1',
      brokerCounter: counter,
    });
    const payloads = async (stream: Readable): Promise<string[]> => {
      const found: string[] = [];
      for await (const packet of stream) found.push(String((packet as { payload: Buffer }).payload));
      return found;
    };
    const libraryRead = vi.spyOn(AsyncLevelPersistence.prototype, 'outgoingStream');
    try {
      const first = new FleetPersistence(sublevel());
      await first.setup({ id: 'broker-1', counter: 0 });
      expect(await payloads(first.outgoingStream({ id: client }))).toEqual([]);
      expect(libraryRead).not.toHaveBeenCalled();
      for (const counter of [1, 2, 3]) await first.outgoingEnqueue({ clientId: client }, queued(counter));
      expect(await payloads(first.outgoingStream({ id: client }))).toEqual(['command 1', 'command 2', 'command 3']);
      // Delivered and acknowledged: its queued record goes with its in-flight one.
      await first.outgoingUpdate({ id: client }, { ...queued(1), messageId: 7 });
      await first.outgoingClearMessageId({ id: client }, { messageId: 7 });
      expect(await payloads(first.outgoingStream({ id: client }))).toEqual(['command 2', 'command 3']);
      await first.destroy();
      await db().open();
      const again = new FleetPersistence(sublevel());
      await again.setup({ id: 'broker-2', counter: 0 });
      expect(await payloads(again.outgoingStream({ id: client }))).toEqual(['command 2', 'command 3']);
      expect(await payloads(new AsyncLevelPersistence(sublevel()).outgoingStream({ id: client }))).toEqual(['command 2', 'command 3']);
      for (const [counter, messageId] of [
        [2, 8],
        [3, 9],
      ] as const) {
        await again.outgoingUpdate({ id: client }, { ...queued(counter), messageId });
        await again.outgoingClearMessageId({ id: client }, { messageId });
      }
      libraryRead.mockClear();
      expect(await payloads(again.outgoingStream({ id: client }))).toEqual([]);
      expect(await payloads(again.outgoingStream({ id: 'd2' }))).toEqual([]);
      expect(libraryRead).not.toHaveBeenCalled();
    } finally {
      libraryRead.mockRestore();
    }
  });
});

describe('FleetPersistence with a retained source', () => {
  const db = useLevelDb('bootfleet-persistence-source-');
  const sublevel = (): MqttSublevel => db().sublevel<string, Buffer>('mqtt', { valueEncoding: 'buffer' });
  const desiredOf = (device: string): string => `bootfleet/v1/devices/${device}/desired`;
  const openedSource = async (): Promise<DesiredStates> => {
    const source = new DesiredStates(db());
    await source.open();
    return source;
  };
  const payloadsAt = async (persistence: FleetPersistence, pattern: string): Promise<string[]> =>
    ((await persistence.createRetainedStream(pattern).toArray()) as { payload: Buffer }[]).map((packet) => Buffer.from(packet.payload).toString());

  it("keeps devices' desired topics in the source, not as copies, and every other retained topic as before", async () => {
    const source = await openedSource();
    const persistence = new FleetPersistence(sublevel(), source);
    await persistence.setup({ id: 'broker-1', counter: 0 });
    await persistence.storeRetainedMany([retained(desiredOf('d1'), 'one'), retained('fleet/notice', 'kept here'), retained(desiredOf('d2'), 'two')]);
    await persistence.storeRetained(retained(desiredOf('d2'), 'two again'));
    expect(await payloadsAt(persistence, desiredOf('d1'))).toEqual(['one']);
    expect(await payloadsAt(persistence, desiredOf('d2'))).toEqual(['two again']);
    expect(await retainedText(source, 'd2')).toBe('two again');
    expect(await payloadsAt(persistence, 'fleet/notice')).toEqual(['kept here']);
    expect((await sublevel().keys().all()).filter((key) => key.startsWith('retained:'))).toEqual(['retained:fleet/notice']);
    // A wildcard read (never granted to a device) sees only the broker's own copies.
    expect(await payloadsAt(persistence, '#')).toEqual(['kept here']);
    // An empty payload clears it [MQTT-3.3.1-10].
    await persistence.storeRetained(retained(desiredOf('d1'), ''));
    expect(await payloadsAt(persistence, desiredOf('d1'))).toEqual([]);
  });

  it('hands the copies an earlier version kept to the source at setup, unless the source holds a newer one, and deletes them', async () => {
    const before = new FleetPersistence(sublevel());
    await before.storeRetainedMany([retained(desiredOf('d1'), 'old one'), retained(desiredOf('d2'), 'old two'), retained('fleet/notice', 'notice')]);
    await before.destroy();
    await db().open();
    const source = await openedSource();
    await source.store([{ device: 'd2', payload: Buffer.from('newer two'), qos: 1 }]);
    const persistence = new FleetPersistence(sublevel(), source);
    await persistence.setup({ id: 'broker-2', counter: 0 });
    expect(await payloadsAt(persistence, desiredOf('d1'))).toEqual(['old one']);
    expect(await payloadsAt(persistence, desiredOf('d2'))).toEqual(['newer two']);
    expect((await sublevel().keys().all()).filter((key) => key.startsWith('retained:'))).toEqual(['retained:fleet/notice']);
    // Read with the broker's id, as aedes stamps its own retained packets.
    const [packet] = (await persistence.createRetainedStream(desiredOf('d1')).toArray()) as { brokerId: string; retain: boolean; qos: number }[];
    expect(packet).toMatchObject({ brokerId: 'broker-2', retain: true, qos: 1 });
  });
});

async function retainedText(source: DesiredStates, device: string): Promise<string | undefined> {
  return (await source.read(device))?.payload.toString();
}

describe('GroupCommit', () => {
  it('writes concurrent requests in few batches, in order, and fails only the writes of a failed batch', async () => {
    const batches: WriteOp[][] = [];
    let failNext = false;
    const commit = new GroupCommit({
      batch: (ops) => {
        batches.push(ops);
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('disk full'));
        }
        return Promise.resolve();
      },
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => commit.write({ type: 'del', key: `k${String(i)}` })));
    expect(batches).toHaveLength(1);
    expect(batches[0]?.map((op) => op.key)).toEqual(Array.from({ length: 10 }, (_, i) => `k${String(i)}`));
    failNext = true;
    const outcome = await Promise.allSettled([commit.write({ type: 'del', key: 'lost' })]);
    expect(outcome[0].status).toBe('rejected');
    await expect(commit.write({ type: 'del', key: 'after' })).resolves.toBeUndefined();
    await commit.flush();
  });

  it('keeps each writeAll request whole in one batch, in order, and splits between requests past the batch size', async () => {
    const batches: WriteOp[][] = [];
    const commit = new GroupCommit({
      batch: (ops) => {
        batches.push(ops);
        return Promise.resolve();
      },
    });
    const request = (name: string, count: number): WriteOp[] => Array.from({ length: count }, (_, i) => ({ type: 'del', key: `${name}${String(i)}` }));
    const big = request('big', MAX_BATCH_OPS + 10);
    const small = request('small', MAX_BATCH_OPS - 5);
    const last = request('last', 10);
    await Promise.all([commit.writeAll(big), commit.writeAll(small), commit.writeAll(last), commit.writeAll([])]);
    // The request larger than a batch goes alone; the next two do not fit together, so each starts a batch.
    expect(batches.map((b) => b.length)).toEqual([big.length, small.length, last.length]);
    expect(batches.flat().map((op) => op.key)).toEqual([...big, ...small, ...last].map((op) => op.key));
  });
});
