/**
 * The device registry in level: one record per device, plus a bounded
 * event history per device. Every change to a record goes through
 * `update`, serialised per device.
 */
import type { Level } from 'level';
import { BootfleetError, type AuditRecord, type DeviceId, type Presence, type Report } from '../../protocol/index.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { Device, DeviceEvent } from './schemas.js';
import { SelectionIndex, type DeviceFacts } from './selection-index.js';

/** Events kept per device; older ones are deleted as new ones arrive. */
export const MAX_EVENTS_PER_DEVICE = 500;

interface StoredDevice {
  readonly device: Device;
  readonly eventCounter: number;
}

export type ReportOutcome = 'stored' | 'duplicate';

export interface DeviceCounts {
  enrolled: number;
  online: number;
}

export interface DeviceQuery {
  readonly labels?: Readonly<Record<string, string>>;
  readonly group?: string;
  readonly online?: boolean;
  /** Id after which to start (exclusive). */
  readonly after?: string;
  readonly limit: number;
}

export class DeviceRegistry {
  private readonly devices;
  private readonly events;
  private readonly mutex = new KeyedMutex();
  /** Set by trackCounts(); kept by update(), the only writer of records. */
  private counts: DeviceCounts | undefined;
  /** Kept by update() too, once a campaign first selects (selection-index.ts). */
  private readonly selection = new SelectionIndex();

  constructor(db: Level, private readonly now: () => number = Date.now) {
    this.devices = db.sublevel('devices', { valueEncoding: 'utf8' });
    this.events = db.sublevel('device-events', { valueEncoding: 'utf8' });
  }

  async get(id: string): Promise<Device | undefined> {
    return (await this.read(id))?.device;
  }

  /** Several records in one read (a campaign wave); undefined for an unknown id. */
  async getMany(ids: readonly string[]): Promise<(Device | undefined)[]> {
    const texts = await this.devices.getMany([...ids]);
    // Written only by update() below: our own JSON, parsed without a schema.
    return texts.map((text: string | undefined) => (text === undefined ? undefined : (JSON.parse(text) as StoredDevice).device));
  }

  async require(id: string): Promise<Device> {
    const device = await this.get(id);
    if (device === undefined) throw new BootfleetError('BOOTFLEET_DEVICE_NOT_FOUND', `no device ${JSON.stringify(id)}`, { details: { device: id } });
    return device;
  }

  /** Creates the record of a newly enrolled device; an existing record (re-enrolment after revocation) is kept as it is. */
  async enroll(id: DeviceId, tokenName: string): Promise<Device> {
    return this.update(id, (existing) => {
      if (existing !== undefined) return undefined;
      const device: Device = {
        id,
        enrolledAt: Math.floor(this.now() / 1000),
        enrolledWith: tokenName,
        labels: {},
        groups: [],
        online: false,
        slots: {},
        inventory: [],
      };
      return { device, event: { kind: 'enrolled', details: { via: tokenName } } };
    });
  }

  /** Applies a parsed report; a report whose seq is not above the last one is a duplicate and changes nothing. */
  async applyReport(report: Report): Promise<ReportOutcome> {
    let outcome: ReportOutcome = 'stored';
    await this.update(report.device, (existing) => {
      const device = requireExisting(existing, report.device);
      if (device.lastReport !== undefined && report.seq <= device.lastReport.seq) {
        outcome = 'duplicate';
        return undefined;
      }
      const receivedAt = Math.floor(this.now() / 1000);
      const next: Device = {
        ...device,
        lastSeenAt: receivedAt,
        lastReport: {
          seq: report.seq,
          sentAt: report.sentAt,
          receivedAt,
          phase: report.phase,
          ...(report.campaign === undefined ? {} : { campaign: report.campaign }),
          ...(report.desiredSeq === undefined ? {} : { desiredSeq: report.desiredSeq }),
          ...(report.error === undefined ? {} : { error: report.error }),
          ...(report.agentVersion === undefined ? {} : { agentVersion: report.agentVersion }),
        },
        slots: report.slots,
        inventory: report.inventory ?? device.inventory,
      };
      const phaseChanged = device.lastReport?.phase !== report.phase;
      const event: Omit<DeviceEvent, 'at'> | undefined =
        report.error !== undefined
          ? { kind: 'error', details: { phase: report.phase, code: report.error.code, seq: report.seq } }
          : phaseChanged
            ? { kind: 'phase', details: { phase: report.phase, seq: report.seq, ...(report.campaign === undefined ? {} : { campaign: report.campaign }) } }
            : undefined;
      const audit = newAuditEntries(device, report);
      const last = audit.at(-1);
      return { device: last === undefined ? next : { ...next, auditSeq: last.seq }, events: [...(event === undefined ? [] : [event]), ...audit.map(auditEvent)] };
    });
    return outcome;
  }

  /** Applies presence; an older connection's presence (smaller `since`) never overrides a newer one. */
  async applyPresence(presence: Presence): Promise<void> {
    await this.update(presence.device, (existing) => {
      const device = requireExisting(existing, presence.device);
      if (device.presenceSince !== undefined && presence.since < device.presenceSince) return undefined;
      if (device.online === presence.online && device.presenceSince === presence.since) return undefined;
      const next: Device = { ...device, online: presence.online, presenceSince: presence.since, lastSeenAt: Math.floor(this.now() / 1000) };
      return { device: next, event: { kind: presence.online ? 'online' : 'offline', details: { since: presence.since } } };
    });
  }

  async setLabelsAndGroups(id: string, change: { labels?: Record<string, string | null>; addGroups?: string[]; removeGroups?: string[] }): Promise<Device> {
    return this.update(id, (existing) => {
      const device = requireExisting(existing, id);
      const labels: Record<string, string> = { ...device.labels };
      for (const [key, value] of Object.entries(change.labels ?? {})) {
        if (value === null) Reflect.deleteProperty(labels, key);
        else labels[key] = value;
      }
      const groups = new Set(device.groups);
      for (const group of change.addGroups ?? []) groups.add(group);
      for (const group of change.removeGroups ?? []) groups.delete(group);
      const next: Device = { ...device, labels, groups: [...groups].sort() };
      return { device: next, event: { kind: 'labels', details: { labels: next.labels, groups: next.groups } } };
    });
  }

  async recordEvent(id: string, event: Omit<DeviceEvent, 'at'>): Promise<void> {
    await this.update(id, (existing) => ({ device: requireExisting(existing, id), event }));
  }

  /** Devices in id order after `query.after`, filtered; at most `query.limit`, and whether more follow. */
  async list(query: DeviceQuery): Promise<{ devices: Device[]; more: boolean }> {
    const devices: Device[] = [];
    const range = query.after === undefined ? {} : { gt: query.after };
    for await (const text of this.devices.values(range)) {
      const { device } = JSON.parse(text) as StoredDevice;
      if (!matches(device, query)) continue;
      if (devices.length === query.limit) return { devices, more: true };
      devices.push(device);
    }
    return { devices, more: false };
  }

  /** Every device's labels, groups and inventory (a campaign's selection), from memory after the first call. */
  async selectionFacts(): Promise<Iterable<DeviceFacts>> {
    return this.selection.all(() => this.scan());
  }

  private async *scan(): AsyncIterable<Device> {
    for await (const text of this.devices.values()) yield (JSON.parse(text) as StoredDevice).device;
  }

  /**
   * Counts enrolled and online devices once, then keeps the counts on every
   * write, so the metrics read them for free at each scrape (a pass over
   * 10,000 records took about 100 ms here). Call it before anything writes:
   * writes made during the pass would be counted twice.
   */
  async trackCounts(): Promise<void> {
    this.counts = await this.scanCounts();
  }

  /** Enrolled devices and those online: the tracked counts, else one pass over the records. */
  async countOnline(): Promise<DeviceCounts> {
    return this.counts === undefined ? this.scanCounts() : { ...this.counts };
  }

  private async scanCounts(): Promise<DeviceCounts> {
    const counts = { enrolled: 0, online: 0 };
    for await (const text of this.devices.values()) {
      counts.enrolled += 1;
      if ((JSON.parse(text) as StoredDevice).device.online) counts.online += 1;
    }
    return counts;
  }

  /** The device's events, newest first. */
  async history(id: string, limit: number): Promise<DeviceEvent[]> {
    const events: DeviceEvent[] = [];
    for await (const text of this.events.values({ gt: `${id}!`, lt: `${id}"`, reverse: true, limit })) events.push(JSON.parse(text) as DeviceEvent);
    return events;
  }

  private async read(id: string): Promise<StoredDevice | undefined> {
    const text = await this.devices.get(id);
    // Written only by update() below: our own JSON, parsed without a schema.
    return text === undefined ? undefined : (JSON.parse(text) as StoredDevice);
  }

  private update(
    id: string,
    change: (existing: Device | undefined) => { device: Device; event?: Omit<DeviceEvent, 'at'> | undefined; events?: readonly Omit<DeviceEvent, 'at'>[] } | undefined,
  ): Promise<Device> {
    return this.mutex.run(id, async () => {
      const stored = await this.read(id);
      const result = change(stored?.device);
      if (result === undefined) return requireExisting(stored?.device, id);
      const events = [...(result.event === undefined ? [] : [result.event]), ...(result.events ?? [])];
      let counter = stored?.eventCounter ?? 0;
      const batch = this.devices.db.batch();
      for (const item of events) {
        counter += 1;
        const event: DeviceEvent = { at: this.now(), ...item };
        batch.put(eventKey(id, counter), JSON.stringify(event), { sublevel: this.events });
        if (counter > MAX_EVENTS_PER_DEVICE) batch.del(eventKey(id, counter - MAX_EVENTS_PER_DEVICE), { sublevel: this.events });
      }
      batch.put(id, JSON.stringify({ device: result.device, eventCounter: counter } satisfies StoredDevice), { sublevel: this.devices });
      await batch.write();
      this.countChange(stored?.device, result.device);
      this.selection.written(result.device);
      return result.device;
    });
  }

  private countChange(before: Device | undefined, after: Device): void {
    if (this.counts === undefined) return;
    if (before === undefined) this.counts.enrolled += 1;
    if ((before?.online ?? false) !== after.online) this.counts.online += after.online ? 1 : -1;
  }
}

/** The report's audit entries the registry has not stored yet, in seq order (a resent entry is skipped: idempotence). */
function newAuditEntries(device: Device, report: Report): AuditRecord[] {
  let stored = device.auditSeq ?? 0;
  const fresh: AuditRecord[] = [];
  for (const entry of [...(report.audit ?? [])].sort((a, b) => a.seq - b.seq)) {
    if (entry.seq <= stored) continue;
    fresh.push(entry);
    stored = entry.seq;
  }
  return fresh;
}

function auditEvent(entry: AuditRecord): Omit<DeviceEvent, 'at'> {
  return { kind: 'audit', details: { ...entry } };
}

/** `!` sorts before every id character, `"` right after it: the range of one device's events. */
function eventKey(id: string, counter: number): string {
  return `${id}!${String(counter).padStart(12, '0')}`;
}

function requireExisting(device: Device | undefined, id: string): Device {
  if (device === undefined) throw new BootfleetError('BOOTFLEET_DEVICE_NOT_FOUND', `no device ${JSON.stringify(id)}`, { details: { device: id } });
  return device;
}

function matches(device: Device, query: DeviceQuery): boolean {
  if (query.online !== undefined && device.online !== query.online) return false;
  if (query.group !== undefined && !device.groups.includes(query.group)) return false;
  for (const [key, value] of Object.entries(query.labels ?? {})) {
    if (device.labels[key] !== value) return false;
  }
  return true;
}
