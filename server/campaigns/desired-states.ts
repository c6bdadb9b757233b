/**
 * The signed desired states, each stored once when it is signed, and which
 * message is each device's retained desired state (docs/control-plane.md,
 * "Seventh round"). The embedded broker reads and writes a `desired` topic's
 * retained message here (server/broker/retained-source.ts) instead of
 * keeping its own copy, so a campaign's start writes pointers, not bundles.
 *
 *   desired   m!<device>!<name>   one message: its facts as one line of JSON, a newline, then its bytes
 *                                 as published (read back without copying). <name> is <seq>!<campaign>
 *                                 for a desired state signed ahead for a campaign, ~<record>.<i> for
 *                                 bytes the broker was handed (a desired state signed at issue, a
 *                                 withdrawal's replacement, any retained publish on the topic)
 *             l!<record>          pointers, <record> a 16-digit number: a JSON array of
 *                                 [device, name | null] (null: no retained message), later records winning
 *
 * A message is kept while it is its device's retained message or while its
 * campaign has not ended and its seq is the device's newest (it may still be
 * published as it is: issuer.ts, `reusable`); `sweep` deletes the others,
 * and rewrites the pointers compactly once most of them are superseded.
 * Up to a memory budget the desired states signed ahead are kept in memory
 * too, so a start reads none of them from disk.
 */
import type { Level } from 'level';
import { parseTopic, TOPIC_SPECS } from '../../protocol/index.js';
import type { RetainedBytes, RetainedName, RetainedSource, SourcedRetained } from '../broker/retained-source.js';

/** A desired state signed for one device of a campaign (issuer.ts). */
export interface SignedState {
  readonly device: string;
  readonly campaign: string;
  readonly seq: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** The layer entries it lists, as JSON: reused only while the device's inventory gives the same. */
  readonly layers: string;
  /** The signed bundle (UTF-8 JSON), as published. */
  readonly bundle: Buffer;
}

type SignedFacts = Omit<SignedState, 'bundle' | 'device'>;

/** Bytes of signed states kept in memory, all campaigns together (about 1.6 KiB a device: 40,000 devices). */
export const MAX_SIGNED_MEMORY_BYTES = 64 * 1024 * 1024;
/** What one state costs in memory beyond its bundle and layers (object, map entry, strings). */
const STATE_OVERHEAD_BYTES = 256;
/** Pointers per record when the pointers are rewritten. */
const POINTERS_PER_RECORD = 1_024;
/** Superseded pointers tolerated on disk beyond the live ones before they are rewritten. */
const COMPACT_SLACK = 4_096;
/** Messages deleted per batch by a sweep. */
const SWEEP_BATCH = 1_024;
const NEWLINE = 0x0a;
const END = '\uffff';
const DESIRED_QOS = TOPIC_SPECS.desired.qos;

export interface SweepResult {
  readonly deleted: number;
  readonly compacted: boolean;
}

export class DesiredStates implements RetainedSource {
  private readonly db;
  /** Each device's retained message by name; null or absent: none. */
  private readonly index = new Map<string, string | null>();
  /** Pointer records on disk (or being written) and how many pointers each holds. */
  private readonly records = new Map<string, number>();
  private pointers = 0;
  private nextRecord = 1;
  /** Pointer records being written (a compaction waits for none). */
  private readonly writing = new Set<string>();
  /** Bytes handed to `store` and not yet written, by `<device>!<name>`. */
  private readonly pending = new Map<string, SourcedRetained>();
  /** Signed states kept in memory, by campaign and device, up to the budget. */
  private readonly memory = new Map<string, Map<string, SignedState>>();
  private memoryBytesUsed = 0;

  constructor(
    db: Level,
    /** Bytes of signed states kept in memory (`MAX_SIGNED_MEMORY_BYTES`). */
    private readonly memoryBudget = MAX_SIGNED_MEMORY_BYTES,
  ) {
    this.db = db.sublevel<string, Buffer>('desired', { valueEncoding: 'buffer' });
  }

  /** Reads the pointers: which message is each device's retained one. */
  async open(): Promise<void> {
    for await (const [key, value] of this.db.iterator({ gt: 'l!', lt: `l!${END}` })) {
      // Written only by this module: our own JSON.
      const entries = JSON.parse(value.toString('utf8')) as [string, string | null][];
      for (const [device, name] of entries) this.index.set(device, name);
      this.records.set(key, entries.length);
      this.pointers += entries.length;
      this.nextRecord = Math.max(this.nextRecord, Number(key.slice(2)) + 1);
    }
  }

  /** Stores desired states signed ahead (durable when it resolves), and keeps them in memory within the budget. */
  async put(states: readonly SignedState[]): Promise<void> {
    if (states.length === 0) return;
    await this.db.batch(states.map((state) => ({ type: 'put' as const, key: messageKey(state.device, signedName(state)), value: signedRecord(state) })));
    for (const state of states) this.remember(state);
  }

  /**
   * The desired states signed ahead for the campaign whose seq is still
   * each device's newest (`seqs`, one per device); undefined where none. From
   * memory where it holds them, else from disk.
   */
  async signedAhead(campaign: string, devices: readonly string[], seqs: readonly number[]): Promise<(SignedState | undefined)[]> {
    const memory = this.memory.get(campaign);
    const found = devices.map((device, i) => {
      const state = memory?.get(device);
      return state !== undefined && state.seq === seqs[i] ? state : undefined;
    });
    const missing = devices.flatMap((device, i) => (found[i] === undefined && (seqs[i] ?? 0) > 0 ? [i] : []));
    if (missing.length === 0) return found;
    const values = await this.db.getMany(missing.map((i) => messageKey(devices[i] ?? '', `${seqs[i] ?? 0}!${campaign}`)));
    missing.forEach((i, n) => {
      const value = values[n];
      if (value !== undefined) found[i] = signedOf(devices[i] ?? '', value);
    });
    return found;
  }

  /** Drops the campaign's states from memory (it ended); what is on disk goes with the next `sweep`. */
  forget(campaign: string): void {
    const memory = this.memory.get(campaign);
    if (memory === undefined) return;
    for (const state of memory.values()) this.memoryBytesUsed -= stateBytes(state);
    this.memory.delete(campaign);
  }

  /** Bytes of signed states held in memory. */
  memoryBytes(): number {
    return this.memoryBytesUsed;
  }

  deviceOf(topic: string): string | undefined {
    if (!topic.endsWith('/desired')) return undefined;
    try {
      const { deviceId, kind } = parseTopic(topic);
      return kind === 'desired' ? deviceId : undefined;
    } catch {
      return undefined;
    }
  }

  read(device: string): Promise<SourcedRetained | undefined> {
    return this.readPointed(device, true);
  }

  private async readPointed(device: string, again: boolean): Promise<SourcedRetained | undefined> {
    const name = this.index.get(device);
    if (name === undefined || name === null) return undefined;
    const pending = this.pending.get(`${device}!${name}`);
    if (pending !== undefined) return pending;
    const remembered = this.remembered(device, name);
    if (remembered !== undefined) return { payload: remembered.bundle, qos: DESIRED_QOS };
    const value = await this.db.get(messageKey(device, name));
    // A sweep deletes a message only once no pointer names it: a later pointer replaced it meanwhile.
    if (value === undefined) return again && this.index.get(device) !== name ? this.readPointed(device, false) : undefined;
    const newline = value.indexOf(NEWLINE);
    const facts = JSON.parse(value.toString('utf8', 0, newline)) as { qos?: 0 | 1 };
    return { payload: value.subarray(newline + 1), qos: facts.qos ?? DESIRED_QOS };
  }

  point(messages: readonly RetainedName[]): Promise<void> {
    return this.writePointers(
      this.nextRecord++,
      messages.map((m) => [m.device, m.name]),
      [],
    );
  }

  store(messages: readonly RetainedBytes[]): Promise<void> {
    const record = this.nextRecord++;
    const entries: [string, string | null][] = [];
    const held: string[] = [];
    const records: { type: 'put'; key: string; value: Buffer }[] = [];
    messages.forEach((message, i) => {
      if (message.payload.length === 0) {
        entries.push([message.device, null]);
        return;
      }
      const name = `~${record}.${i}`;
      entries.push([message.device, name]);
      this.pending.set(`${message.device}!${name}`, { payload: message.payload, qos: message.qos });
      held.push(`${message.device}!${name}`);
      records.push({ type: 'put', key: messageKey(message.device, name), value: Buffer.concat([Buffer.from(`{"qos":${message.qos}}\n`), message.payload]) });
    });
    const written = this.writePointers(record, entries, records);
    return written.finally(() => {
      for (const key of held) this.pending.delete(key);
    });
  }

  adopt(messages: readonly RetainedBytes[]): Promise<void> {
    return this.store(messages.filter((m) => !this.index.has(m.device)));
  }

  /**
   * Deletes the messages no pointer names that can no longer be published
   * as they are: bytes the broker was handed, desired states of a campaign
   * that ended (`hasEnded`: a campaign created while the sweep runs has
   * not), or whose seq is no longer the device's newest (`currentSeqs`).
   * Then rewrites the pointers if most are superseded.
   */
  async sweep(hasEnded: (campaign: string) => boolean, currentSeqs: (devices: readonly string[]) => Promise<number[]>): Promise<SweepResult> {
    const doomed: string[] = [];
    const check: { key: string; device: string; seq: number }[] = [];
    for await (const key of this.db.keys({ gt: 'm!', lt: `m!${END}` })) {
      const split = key.indexOf('!', 2);
      const device = key.slice(2, split);
      const name = key.slice(split + 1);
      if (this.index.get(device) === name) continue;
      const bang = name.indexOf('!');
      if (name.startsWith('~') || bang < 0 || hasEnded(name.slice(bang + 1))) doomed.push(key);
      else check.push({ key, device, seq: Number(name.slice(0, bang)) });
    }
    for (let i = 0; i < check.length; i += SWEEP_BATCH) {
      const chunk = check.slice(i, i + SWEEP_BATCH);
      const current = await currentSeqs(chunk.map((c) => c.device));
      chunk.forEach((c, n) => {
        if (c.seq < (current[n] ?? 0)) doomed.push(c.key);
      });
    }
    // A pointer written since the keys were read keeps its message.
    const deletable = doomed.filter((key) => {
      const split = key.indexOf('!', 2);
      return this.index.get(key.slice(2, split)) !== key.slice(split + 1);
    });
    for (let i = 0; i < deletable.length; i += SWEEP_BATCH) {
      await this.db.batch(deletable.slice(i, i + SWEEP_BATCH).map((key) => ({ type: 'del' as const, key })));
    }
    return { deleted: deletable.length, compacted: await this.compact() };
  }

  /**
   * Rewrites the live pointers in few records, all superseded ones deleted
   * in the same batch. Not while a pointer write is in flight (the next
   * sweep does it): its pointers are in memory already, and a write that
   * then failed would live on in the rewritten records.
   */
  private async compact(): Promise<boolean> {
    let live = 0;
    for (const name of this.index.values()) if (name !== null) live += 1;
    if (this.pointers <= 2 * live + COMPACT_SLACK || this.writing.size > 0) return false;
    const old = [...this.records.keys()];
    const entries = [...this.index].filter((entry): entry is [string, string] => entry[1] !== null);
    const ops: ({ type: 'del'; key: string } | { type: 'put'; key: string; value: Buffer })[] = old.map((key) => ({ type: 'del', key }));
    const added = new Map<string, number>();
    for (let i = 0; i < entries.length; i += POINTERS_PER_RECORD) {
      const chunk = entries.slice(i, i + POINTERS_PER_RECORD);
      const key = recordKey(this.nextRecord++);
      added.set(key, chunk.length);
      ops.push({ type: 'put', key, value: Buffer.from(JSON.stringify(chunk)) });
    }
    await this.db.batch(ops);
    for (const key of old) {
      this.pointers -= this.records.get(key) ?? 0;
      this.records.delete(key);
    }
    for (const [key, count] of added) {
      this.records.set(key, count);
      this.pointers += count;
    }
    // Cleared devices have no pointer left on disk: none is the same as null now.
    for (const [device, name] of [...this.index]) if (name === null) this.index.delete(device);
    return true;
  }

  /**
   * Points each device at its name in memory now, and writes the pointer
   * record `record` (with `extra` puts in the same batch); a failed write
   * puts back what each device pointed at, unless a later write changed it.
   */
  private writePointers(record: number, entries: readonly [string, string | null][], extra: { type: 'put'; key: string; value: Buffer }[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const key = recordKey(record);
    const previous = entries.map(([device]) => this.index.get(device));
    for (const [device, name] of entries) this.index.set(device, name);
    this.records.set(key, entries.length);
    this.pointers += entries.length;
    const written = this.db.batch([...extra, { type: 'put' as const, key, value: Buffer.from(JSON.stringify(entries)) }]).catch((error: unknown) => {
      this.records.delete(key);
      this.pointers -= entries.length;
      entries.forEach(([device, name], i) => {
        if (this.index.get(device) !== name) return;
        const before = previous[i];
        if (before === undefined) this.index.delete(device);
        else this.index.set(device, before);
      });
      throw error;
    });
    this.writing.add(key);
    return written.finally(() => this.writing.delete(key));
  }

  private remember(state: SignedState): void {
    let memory = this.memory.get(state.campaign);
    const previous = memory?.get(state.device);
    if (previous !== undefined) {
      this.memoryBytesUsed -= stateBytes(previous);
      memory?.delete(state.device);
    }
    if (this.memoryBytesUsed + stateBytes(state) > this.memoryBudget) return;
    if (memory === undefined) this.memory.set(state.campaign, (memory = new Map<string, SignedState>()));
    memory.set(state.device, state);
    this.memoryBytesUsed += stateBytes(state);
  }

  /** The signed state `name` names, when memory holds it. */
  private remembered(device: string, name: string): SignedState | undefined {
    if (name.startsWith('~')) return undefined;
    const bang = name.indexOf('!');
    const state = this.memory.get(name.slice(bang + 1))?.get(device);
    return state !== undefined && signedName(state) === name ? state : undefined;
  }
}

/** The name a desired state signed for a campaign is stored under. */
export function signedName(state: Pick<SignedState, 'seq' | 'campaign'>): string {
  return `${state.seq}!${state.campaign}`;
}

function messageKey(device: string, name: string): string {
  return `m!${device}!${name}`;
}

function recordKey(record: number): string {
  return `l!${String(record).padStart(16, '0')}`;
}

function signedRecord(state: SignedState): Buffer {
  const facts: SignedFacts = { campaign: state.campaign, seq: state.seq, issuedAt: state.issuedAt, expiresAt: state.expiresAt, layers: state.layers };
  return Buffer.concat([Buffer.from(`${JSON.stringify(facts)}\n`), state.bundle]);
}

/** Written only by this module; JSON.stringify never writes a raw newline, so the first one ends the facts. */
function signedOf(device: string, value: Buffer): SignedState {
  const newline = value.indexOf(NEWLINE);
  const facts = JSON.parse(value.toString('utf8', 0, newline)) as SignedFacts;
  // Field by field rather than a spread: read for every device of a start after a restart.
  return { device, campaign: facts.campaign, seq: facts.seq, issuedAt: facts.issuedAt, expiresAt: facts.expiresAt, layers: facts.layers, bundle: value.subarray(newline + 1) };
}

/** What a state holds in memory, near enough for a budget (strings counted at two bytes a character). */
function stateBytes(state: SignedState): number {
  return state.bundle.length + 2 * (state.layers.length + state.device.length) + STATE_OVERHEAD_BYTES;
}
