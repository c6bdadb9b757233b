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

export function planCampaign(layers: readonly CampaignLayer[], devices: readonly { id: string; inventory: readonly string[] }[]): CampaignPlan {
  const deltas = devices.map((d) => deviceDelta(d.id, layers, d.inventory));
  const needed = new Set<string>();
  for (const device of devices) {
    const held = new Set(device.inventory);
    for (const layer of layers) if (!held.has(layer.digest)) needed.add(layer.digest);
  }
  return {
    devices: deltas,
    totalLayers: layers.length,
    imageBytes: layers.reduce((sum, l) => sum + l.size, 0),
    totalMissingBytes: deltas.reduce((sum, d) => sum + d.missingBytes, 0),
    distinctMissingBytes: layers.filter((l) => needed.has(l.digest)).reduce((sum, l) => sum + l.size, 0),
  };
}
