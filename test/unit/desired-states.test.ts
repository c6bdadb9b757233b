/**
 * The store of signed desired states (server/campaigns/desired-states.ts):
 * each stored once when signed, read back from memory or disk; which one is
 * each device's retained desired state, kept across a reopen; the sweep of
 * the ones no device holds and no open campaign can publish; the pointers
 * rewritten compactly. Real level database on disk.
 */
import { describe, expect, it } from 'vitest';
import { DesiredStates, signedName, type SignedState } from '../../server/campaigns/desired-states.js';
import { SAMPLE_NOW } from '../helpers/campaigns.js';
import { useLevelDb } from '../helpers/level-db.js';

const signed = (device: string, seq: number, campaign = 'c1', bytes = `{"signed":"${device}.${String(seq)}"}`): SignedState => ({
  device,
  campaign,
  seq,
  issuedAt: SAMPLE_NOW,
  expiresAt: SAMPLE_NOW + 100,
  layers: '[]',
  bundle: Buffer.from(bytes),
});

/** What a read gives, as text (undefined: no retained message). */
async function retainedText(states: DesiredStates, device: string): Promise<string | undefined> {
  return (await states.read(device))?.payload.toString();
}

describe('DesiredStates', () => {
  const db = useLevelDb('bootfleet-desired-states-');
  const opened = async (budget?: number): Promise<DesiredStates> => {
    const states = new DesiredStates(db(), budget);
    await states.open();
    return states;
  };
  const messageKeys = async (): Promise<string[]> => (await db().sublevel('desired').keys().all()).filter((key) => key.startsWith('m!')).sort();

  it('answers states signed ahead whose seq is the newest, from memory within its budget and from disk past it or after a reopen', async () => {
    const budget = 2_000;
    const states = await opened(budget);
    const big = (device: string, seq: number): SignedState => signed(device, seq, 'c1', 'x'.repeat(600));
    await states.put([big('d1', 1), big('d2', 1), big('d3', 1), big('d4', 1)]);
    expect(states.memoryBytes()).toBeGreaterThan(0);
    expect(states.memoryBytes()).toBeLessThanOrEqual(budget);
    const devices = ['d1', 'd2', 'd3', 'd4', 'd5'];
    const read = async (from: DesiredStates, seqs: number[]): Promise<unknown[]> =>
      (await from.signedAhead('c1', devices, seqs)).map((state) => (state === undefined ? undefined : [state.device, state.seq, state.bundle.length]));
    expect(await read(states, [1, 1, 1, 1, 0])).toEqual([['d1', 1, 600], ['d2', 1, 600], ['d3', 1, 600], ['d4', 1, 600], undefined]);
    // A seq allocated since (signed again, or for another campaign): not the newest, not answered.
    expect(await read(states, [2, 1, 1, 1, 1])).toEqual([undefined, ['d2', 1, 600], ['d3', 1, 600], ['d4', 1, 600], undefined]);
    expect(await read(await opened(budget), [1, 1, 1, 1, 0])).toEqual([['d1', 1, 600], ['d2', 1, 600], ['d3', 1, 600], ['d4', 1, 600], undefined]);
    expect(await states.signedAhead('c2', ['d1'], [1])).toEqual([undefined]);
    states.forget('c1');
    expect(states.memoryBytes()).toBe(0);
    // Out of memory, still on disk until a sweep finds its campaign ended.
    expect((await states.signedAhead('c1', ['d1'], [1]))[0]?.bundle.length).toBe(600);
  });

  it("keeps each device's retained message, the last write winning, readable at once and after a reopen", async () => {
    const states = await opened();
    await states.put([signed('d1', 1), signed('d2', 1)]);
    await states.point([
      { device: 'd1', name: signedName({ seq: 1, campaign: 'c1' }) },
      { device: 'd2', name: '1!c1' },
    ]);
    const stored = states.store([
      { device: 'd3', payload: Buffer.from('plain bytes'), qos: 1 },
      { device: 'd2', payload: Buffer.alloc(0), qos: 1 },
    ]);
    // Readable from the call on, before it is written.
    expect(await retainedText(states, 'd3')).toBe('plain bytes');
    expect(await states.read('d2')).toBeUndefined();
    await stored;
    await states.store([{ device: 'd3', payload: Buffer.from('newer bytes'), qos: 0 }]);
    const expected = { d1: '{"signed":"d1.1"}', d2: undefined, d3: 'newer bytes', d4: undefined };
    const all = async (from: DesiredStates): Promise<Record<string, string | undefined>> =>
      Object.fromEntries(await Promise.all(Object.keys(expected).map(async (device): Promise<[string, string | undefined]> => [device, await retainedText(from, device)])));
    expect(await all(states)).toEqual(expected);
    const reopened = await opened();
    expect(await all(reopened)).toEqual(expected);
    expect((await reopened.read('d3'))?.qos).toBe(0);
    expect((await reopened.read('d1'))?.qos).toBe(1);
    // Handing over an earlier version's copies: only where the store holds nothing yet.
    await reopened.adopt([
      { device: 'd1', payload: Buffer.from('older copy'), qos: 1 },
      { device: 'd4', payload: Buffer.from('adopted copy'), qos: 1 },
    ]);
    expect(await retainedText(reopened, 'd1')).toBe('{"signed":"d1.1"}');
    expect(await retainedText(reopened, 'd4')).toBe('adopted copy');
  });

  it('puts back what a device held when the write of its new retained message fails', async () => {
    const states = await opened();
    await states.put([signed('d1', 1)]);
    await states.point([{ device: 'd1', name: '1!c1' }]);
    await db().close();
    await expect(states.store([{ device: 'd1', payload: Buffer.from('lost'), qos: 1 }])).rejects.toThrow();
    // The signed state is in memory: readable with the database closed.
    expect(await retainedText(states, 'd1')).toBe('{"signed":"d1.1"}');
    await db().open();
  });

  it('sweeps the messages no device holds and no open campaign can publish, and keeps the others', async () => {
    const states = await opened();
    // c1 ended: d1 holds its state (kept), d2 was never sent it (swept). c2 runs: d3's is its newest seq
    // (kept, may still be published), d4's was signed again since (seq 5 < 6: swept).
    await states.put([signed('d1', 1), signed('d2', 1), signed('d3', 4, 'c2'), signed('d4', 5, 'c2'), signed('d4', 6, 'c2')]);
    await states.point([{ device: 'd1', name: '1!c1' }]);
    // Bytes handed over, then replaced: the first ones are swept, the ones held kept.
    await states.store([{ device: 'd5', payload: Buffer.from('first'), qos: 1 }]);
    await states.store([{ device: 'd5', payload: Buffer.from('second'), qos: 1 }]);
    const current: Record<string, number> = { d1: 1, d2: 1, d3: 4, d4: 6, d5: 0 };
    const result = await states.sweep(
      (campaign) => campaign === 'c1',
      (devices) => Promise.resolve(devices.map((device) => current[device] ?? 0)),
    );
    expect(result.deleted).toBe(3);
    const keys = await messageKeys();
    expect(keys.filter((key) => !key.startsWith('m!d5!'))).toEqual(['m!d1!1!c1', 'm!d3!4!c2', 'm!d4!6!c2']);
    expect(keys.filter((key) => key.startsWith('m!d5!'))).toHaveLength(1);
    const reopened = await opened();
    expect(await retainedText(reopened, 'd1')).toBe('{"signed":"d1.1"}');
    expect(await retainedText(reopened, 'd5')).toBe('second');
    expect((await reopened.signedAhead('c2', ['d3', 'd4'], [4, 6])).map((state) => state?.seq)).toEqual([4, 6]);
  });

  it('rewrites superseded pointers compactly: the same retained messages after a reopen, cleared ones included', async () => {
    const states = await opened();
    const devices = Array.from({ length: 2_000 }, (_, i) => `d${String(i)}`);
    for (let round = 1; round <= 5; round += 1) {
      await states.store(devices.map((device) => ({ device, payload: Buffer.from(`${device} round ${String(round)}`), qos: 1 as const })));
    }
    await states.store([{ device: 'd7', payload: Buffer.alloc(0), qos: 1 }]);
    const records = async (): Promise<number> => (await db().sublevel('desired').keys().all()).filter((key) => key.startsWith('l!')).length;
    expect(await records()).toBe(6);
    const result = await states.sweep(
      () => true,
      (list) => Promise.resolve(list.map(() => 0)),
    );
    expect(result).toEqual({ deleted: 4 * 2_000 + 1, compacted: true });
    // 1,999 live pointers, 1,024 a record.
    expect(await records()).toBe(2);
    expect(await messageKeys()).toHaveLength(1_999);
    const reopened = await opened();
    expect(await retainedText(reopened, 'd0')).toBe('d0 round 5');
    expect(await retainedText(reopened, 'd1999')).toBe('d1999 round 5');
    expect(await reopened.read('d7')).toBeUndefined();
    // Nothing more to compact: a second sweep deletes nothing and leaves the records.
    expect(await reopened.sweep(() => true, (list) => Promise.resolve(list.map(() => 0)))).toEqual({ deleted: 0, compacted: false });
  });
});
