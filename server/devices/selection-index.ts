/**
 * What a campaign's selection reads of every device (docs/campaigns.md,
 * "Selection"): its labels, groups and inventory, kept in memory once first
 * asked for, so that creating and starting a campaign do not parse every
 * device record again (about 45 ms for 10,000 at a start, before the first
 * device is sent anything). The registry's `update` is the only writer of
 * device records and hands each record it writes to `written`; so one
 * `DeviceRegistry` per database, as the server has.
 */
import type { Device } from './schemas.js';

export interface DeviceFacts {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly groups: readonly string[];
  readonly inventory: readonly string[];
}

/**
 * Distinct inventories kept as one shared array each: a fleet has few (most
 * devices run the same image), and the campaign planner finds a shared
 * array by identity. Bounded: past it, arrays are simply not shared.
 */
const MAX_SHARED_INVENTORIES = 4_096;

export class SelectionIndex {
  private facts: Map<string, DeviceFacts> | undefined;
  private building: Promise<Map<string, DeviceFacts>> | undefined;
  private readonly inventories = new Map<string, readonly string[]>();

  /**
   * A record was written. Kept while the index exists or is being built: a
   * write made during the build's scan wins over the scan's older copy
   * (the scan adds only devices not already there).
   */
  written(device: Device): void {
    this.facts?.set(device.id, this.factsOf(device));
  }

  /** Every device's facts, in no particular order; the first call reads every record once. */
  async all(scan: () => AsyncIterable<Device>): Promise<Iterable<DeviceFacts>> {
    this.building ??= this.build(scan);
    return (await this.building).values();
  }

  private async build(scan: () => AsyncIterable<Device>): Promise<Map<string, DeviceFacts>> {
    const facts = new Map<string, DeviceFacts>();
    this.facts = facts;
    try {
      for await (const device of scan()) if (!facts.has(device.id)) facts.set(device.id, this.factsOf(device));
    } catch (error) {
      // Not kept half built: the next call scans again.
      this.facts = undefined;
      this.building = undefined;
      throw error;
    }
    return facts;
  }

  private factsOf(device: Device): DeviceFacts {
    return { id: device.id, labels: device.labels, groups: device.groups, inventory: this.shared(device.inventory) };
  }

  private shared(inventory: readonly string[]): readonly string[] {
    const key = inventory.length === 0 ? '' : JSON.stringify(inventory);
    const known = this.inventories.get(key);
    if (known !== undefined) return known;
    if (this.inventories.size < MAX_SHARED_INVENTORIES) this.inventories.set(key, inventory);
    return inventory;
  }
}
