/**
 * Delta cost (docs/campaigns.md, "Plan"): for each targeted device, the
 * campaign's layers its last reported inventory lacks and their bytes, and
 * the campaign's total transfer cost. A device that never reported an
 * inventory lacks everything.
 */
import type { LayerEntry } from '../../protocol/index.js';
import type { CampaignLayer } from './schemas.js';

export interface DeviceDelta {
  readonly device: string;
  readonly missingLayers: number;
  readonly missingBytes: number;
}

export interface CampaignPlan {
  readonly devices: DeviceDelta[];
  readonly totalLayers: number;
  readonly imageBytes: number;
  /** Sum over devices of the bytes each must fetch. */
  readonly totalMissingBytes: number;
  /** Bytes of the distinct layers at least one device lacks: what a cache in front of the registry fetches. */
  readonly distinctMissingBytes: number;
}

/** The desired state's layer list for one device: every layer, marked missing or not. */
export function layerEntries(layers: readonly CampaignLayer[], inventory: readonly string[]): LayerEntry[] {
  const held = new Set(inventory);
  return layers.map((layer) => ({ ...layer, missing: !held.has(layer.digest) }));
}

export function deviceDelta(device: string, layers: readonly CampaignLayer[], inventory: readonly string[]): DeviceDelta {
  const missing = layerEntries(layers, inventory).filter((l) => l.missing);
  return { device, missingLayers: missing.length, missingBytes: missing.reduce((sum, l) => sum + l.size, 0) };
}

/** A device's layer list and delta, worked out for one inventory. */
export interface InventoryPlan {
  readonly entries: readonly LayerEntry[];
  /** `entries` as JSON: what a desired state signed ahead is compared with (issuer.ts). */
  readonly entriesJson: string;
  readonly missingLayers: number;
  readonly missingBytes: number;
}

/**
 * `layerEntries` and `deviceDelta` for many devices of one campaign: a
 * fleet has few distinct inventories (most devices run the same image), so
 * each distinct one is worked out once instead of once per device and per
 * step (docs/control-plane.md, "Scale"). The same array asked again (the
 * issuer and the rollout both ask for each device of a batch) is found by
 * identity, without building its key again. Bounded: past `maxEntries`
 * distinct inventories it starts again from empty.
 */
export class InventoryPlanner {
  private readonly plans = new Map<string, InventoryPlan>();
  private byArray = new WeakMap<readonly string[], InventoryPlan>();

  constructor(
    private readonly layers: readonly CampaignLayer[],
    private readonly maxEntries = 1_024,
  ) {}

  of(inventory: readonly string[]): InventoryPlan {
    const seen = this.byArray.get(inventory);
    if (seen !== undefined) return seen;
    const key = inventory.length === 0 ? '' : JSON.stringify(inventory);
    let plan = this.plans.get(key);
    if (plan === undefined) {
      plan = this.plan(inventory);
      if (this.plans.size >= this.maxEntries) {
        this.plans.clear();
        this.byArray = new WeakMap();
      }
      this.plans.set(key, plan);
    }
    this.byArray.set(inventory, plan);
    return plan;
  }

  private plan(inventory: readonly string[]): InventoryPlan {
    const entries = layerEntries(this.layers, inventory);
    const missing = entries.filter((l) => l.missing);
    return { entries, entriesJson: JSON.stringify(entries), missingLayers: missing.length, missingBytes: missing.reduce((sum, l) => sum + l.size, 0) };
  }
}

export function planCampaign(layers: readonly CampaignLayer[], devices: readonly { id: string; inventory: readonly string[] }[]): CampaignPlan {
  const planner = new InventoryPlanner(layers);
  const deltas = devices.map((d): DeviceDelta => {
    const { missingLayers, missingBytes } = planner.of(d.inventory);
    return { device: d.id, missingLayers, missingBytes };
  });
  // Per distinct inventory, not per device: the planner has the entries of each.
  const needed = new Set<string>();
  for (const plan of new Set(devices.map((d) => planner.of(d.inventory)))) for (const entry of plan.entries) if (entry.missing) needed.add(entry.digest);
  return {
    devices: deltas,
    totalLayers: layers.length,
    imageBytes: layers.reduce((sum, l) => sum + l.size, 0),
    totalMissingBytes: deltas.reduce((sum, d) => sum + d.missingBytes, 0),
    distinctMissingBytes: layers.filter((l) => needed.has(l.digest)).reduce((sum, l) => sum + l.size, 0),
  };
}
