/**
 * Campaigns in level, under their own sublevels:
 *   campaigns        c!<campaign>            campaign record (JSON)
 *                    d!<campaign>!<device>   the device's progress in the campaign (JSON), written for
 *                                            any change but the two below, which it supersedes
 *                    f!<campaign>            the devices frozen at start, in rollout order, all pending
 *                                            (device-records.ts: one JSON array of tuples)
 *                    i!<campaign>!<device>!<ms>!<n>  devices issued their first desired state, up to
 *                                            1,024 per record (device-records.ts); the key names the
 *                                            record's first device and when it was written
 *                    A campaign started by an earlier version has a `d!` record for every device and
 *                    no `f!` one; its first issues are written as `d!` records too.
 *                    p!<campaign>!<device>   a desired state signed ahead by an earlier version; no longer
 *                                            read (desired-states.ts holds them now), deleted when
 *                                            its campaign ends
 *   campaign-seq     <device>!desired        last desired-state seq signed for the device
 *                    <device>!command        last command seq signed for the device
 * A campaign record and the device records that change with it are written
 * in one batch, so a crash never leaves a wave advanced without its devices.
 * Sequences are written before the message they number is published: a seq
 * is never used twice, across restarts too (docs/protocol.md, "Security properties").
 */
import type { Level } from 'level';
import { BootfleetError } from '../../protocol/index.js';
import { KeyedMutex } from '../devices/keyed-mutex.js';
import { FIRST_ISSUE_CHUNK, firstIssueEntry, frozenEntry, fromFirstIssue, fromFrozen, type FirstIssueEntry, type FrozenEntry } from './device-records.js';
import type { Campaign, DeviceProgress } from './schemas.js';

export type SeqKind = 'desired' | 'command';

/** Sequences remembered at most per kind (about 100 bytes each); past it that memory starts again from empty. */
const MAX_KNOWN_SEQS = 200_000;

const END = '\uffff';

export class CampaignStore {
  private readonly records;
  private readonly seqs;
  private readonly seqMutex = new KeyedMutex();
  /**
   * The sequences read or allocated since open, written through by
   * `nextSeqs` (this store is the only writer of the sublevel: one per
   * database, as the server has): a start checks each device's newest seq
   * (issuer.ts, `reusable`) without reading the ones its creation allocated.
   */
  private readonly knownSeqs: Record<SeqKind, Map<string, number>> = { desired: new Map(), command: new Map() };
  /** Campaigns started with a frozen list (written or read since open): their first issues are written compact. */
  private readonly frozen = new Set<string>();
  /** Makes first-issue keys unique within a millisecond. */
  private written = 0;
  constructor(db: Level) {
    this.records = db.sublevel('campaigns', { valueEncoding: 'utf8' });
    this.seqs = db.sublevel('campaign-seq', { valueEncoding: 'utf8' });
  }

  async get(id: string): Promise<Campaign | undefined> {
    const text: string | undefined = await this.records.get(`c!${id}`);
    // Written only by this module: our own JSON.
    return text === undefined ? undefined : (JSON.parse(text) as Campaign);
  }

  async list(): Promise<Campaign[]> {
    const campaigns: Campaign[] = [];
    for await (const text of this.records.values({ gt: 'c!', lt: `c!${END}` })) campaigns.push(JSON.parse(text) as Campaign);
    return campaigns;
  }

  /** The campaign's devices: in rollout order when it was started by this version (its frozen list), each as last written. */
  async devices(id: string): Promise<DeviceProgress[]> {
    return (await this.load(id)).devices;
  }

  /** The campaign's devices, and whether it was started with a frozen list (its first issues are then written compact). */
  async load(id: string): Promise<{ devices: DeviceProgress[]; frozen: boolean }> {
    const devices = new Map<string, DeviceProgress>();
    const frozen: string | undefined = await this.records.get(`f!${id}`);
    // Written only by this module: our own JSON. Each later form replaces the earlier in place (Map order stays the rollout order).
    if (frozen !== undefined) {
      this.frozen.add(id);
      for (const entry of JSON.parse(frozen) as FrozenEntry[]) devices.set(entry[0], fromFrozen(entry));
    }
    for await (const text of this.records.values({ gt: `i!${id}!`, lt: `i!${id}!${END}` })) {
      for (const entry of JSON.parse(text) as FirstIssueEntry[]) devices.set(entry[0], fromFirstIssue(entry));
    }
    for await (const text of this.records.values({ gt: `d!${id}!`, lt: `d!${id}!${END}` })) {
      const device = JSON.parse(text) as DeviceProgress;
      devices.set(device.device, device);
    }
    return { devices: [...devices.values()], frozen: frozen !== undefined };
  }

  /**
   * Writes the started campaign with its devices, all pending, as one frozen
   * list (one value instead of a record per device: a start writes nothing
   * per device before the first one is sent its desired state).
   */
  async putStarted(campaign: Campaign, devices: readonly DeviceProgress[]): Promise<void> {
    const entries = devices.map((d): FrozenEntry => {
      const entry = frozenEntry(d);
      if (entry === undefined) throw new BootfleetError('BOOTFLEET_INTERNAL', `device ${d.device} is ${d.state}, not plainly pending, at start`);
      return entry;
    });
    await this.write([
      { type: 'put', key: `c!${campaign.id}`, value: JSON.stringify(campaign) },
      { type: 'put', key: `f!${campaign.id}`, value: JSON.stringify(entries) },
    ]);
    this.frozen.add(campaign.id);
  }

  /**
   * Writes the campaign and the given device records atomically; devices in
   * `firstIssued` (just issued their first desired state) in the compact
   * form when the campaign was started with a frozen list.
   */
  async put(campaign: Campaign, devices: Iterable<DeviceProgress> = [], firstIssued: readonly DeviceProgress[] = []): Promise<void> {
    const ops = [{ type: 'put' as const, key: `c!${campaign.id}`, value: JSON.stringify(campaign) }, ...deviceOps(campaign.id, devices)];
    await this.write(this.withFirstIssued(campaign.id, ops, firstIssued));
  }

  async putDevices(campaignId: string, devices: Iterable<DeviceProgress>, firstIssued: readonly DeviceProgress[] = []): Promise<void> {
    await this.write(this.withFirstIssued(campaignId, deviceOps(campaignId, devices), firstIssued));
  }

  private withFirstIssued(campaignId: string, ops: PutOp[], firstIssued: readonly DeviceProgress[]): PutOp[] {
    if (firstIssued.length === 0) return ops;
    if (!this.frozen.has(campaignId)) return [...ops, ...deviceOps(campaignId, firstIssued)];
    const entries: FirstIssueEntry[] = [];
    const whole: DeviceProgress[] = [];
    for (const device of firstIssued) {
      const entry = firstIssueEntry(device);
      if (entry === undefined) whole.push(device);
      else entries.push(entry);
    }
    for (let i = 0; i < entries.length; i += FIRST_ISSUE_CHUNK) {
      const chunk = entries.slice(i, i + FIRST_ISSUE_CHUNK);
      this.written += 1;
      ops.push({ type: 'put', key: `i!${campaignId}!${chunk[0]?.[0] ?? ''}!${Date.now()}!${this.written}`, value: JSON.stringify(chunk) });
    }
    return [...ops, ...deviceOps(campaignId, whole)];
  }

  /** The array form of batch: unlike a chained batch it waits for the sublevel to open. */
  private async write(ops: PutOp[]): Promise<void> {
    if (ops.length > 0) await this.records.batch(ops);
  }

  /** Deletes the campaign's desired states signed ahead by an earlier version (`p!` records), when it ends. */
  async dropLegacyPrepared(campaignId: string): Promise<void> {
    await this.records.clear({ gt: `p!${campaignId}!`, lt: `p!${campaignId}!${END}` });
  }

  /** The last sequence allocated for each device's messages of `kind` (0 when none); only unknown ones are read. */
  async currentSeqs(devices: readonly string[], kind: SeqKind): Promise<number[]> {
    // Looked up by device id (a string already hashed: a key of the campaign's maps), not by a key built per call.
    const memory = this.knownSeqs[kind];
    return fillMissing(
      devices.map((device) => memory.get(device)),
      devices,
      (missing) => this.seqs.getMany(missing.map((device) => `${device}!${kind}`)),
      (text, device) => {
        const value = text === undefined ? 0 : Number(text);
        this.remember(kind, device, value);
        return value;
      },
    );
  }

  /** The next sequence for the device's messages of `kind`; durable before it is returned. */
  async nextSeq(device: string, kind: SeqKind): Promise<number> {
    const [seq] = await this.nextSeqs([device], kind);
    if (seq === undefined) throw new Error('no sequence allocated');
    return seq;
  }

  /** The next sequence of each device, allocated in one read and one batch write (one lock for all: allocations never interleave). */
  nextSeqs(devices: readonly string[], kind: SeqKind): Promise<number[]> {
    return this.seqMutex.run('seq', async () => {
      // Under the lock, from memory where it holds them (write-through: this store is the only writer).
      const next = (await this.currentSeqs(devices, kind)).map((seq) => seq + 1);
      await this.seqs.batch(devices.map((device, i) => ({ type: 'put' as const, key: `${device}!${kind}`, value: String(next[i] ?? 1) })));
      devices.forEach((device, i) => {
        this.remember(kind, device, next[i] ?? 1);
      });
      return next;
    });
  }

  private remember(kind: SeqKind, device: string, seq: number): void {
    const memory = this.knownSeqs[kind];
    if (memory.size >= MAX_KNOWN_SEQS && !memory.has(device)) memory.clear();
    memory.set(device, seq);
  }
}

/**
 * `known` (one value per device, from memory) with each gap filled, in
 * order, from one read of the devices it lacks; no read when there is none.
 */
async function fillMissing<T, V>(
  known: readonly (T | undefined)[],
  devices: readonly string[],
  read: (missing: string[]) => Promise<(V | undefined)[]>,
  convert: (value: V | undefined, device: string) => T,
): Promise<T[]> {
  const missing = devices.filter((_, i) => known[i] === undefined);
  const values = missing.length === 0 ? [] : await read(missing);
  let next = 0;
  return known.map((value, i) => value ?? convert(values[next++], devices[i] ?? ''));
}

interface PutOp {
  type: 'put';
  key: string;
  value: string;
}

function deviceOps(campaignId: string, devices: Iterable<DeviceProgress>): PutOp[] {
  const ops: PutOp[] = [];
  for (const device of devices) ops.push({ type: 'put', key: `d!${campaignId}!${device.device}`, value: JSON.stringify(device) });
  return ops;
}
