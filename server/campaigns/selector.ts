/**
 * Which devices a campaign targets (docs/campaigns.md, "Selector"): every
 * label must match, and when groups or ids are given the device must be in
 * one of the groups or be one of the ids. The rollout order is a hash of
 * campaign and device id: stable across restarts, different per campaign,
 * so the same devices are not always the canaries.
 */
import { BootfleetError } from '../../protocol/index.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { DeviceFacts } from '../devices/selection-index.js';
import { MAX_CAMPAIGN_DEVICES, type Selector } from './schemas.js';

export function checkSelector(selector: Selector): void {
  const empty = Object.keys(selector.labels ?? {}).length === 0 && (selector.groups ?? []).length === 0 && (selector.ids ?? []).length === 0;
  // An empty selector would target the whole fleet by accident; ask for it on purpose (a label every device has).
  if (empty) throw new BootfleetError('BOOTFLEET_CAMPAIGN_INVALID', 'the selector needs labels, groups or ids');
}

/** The selector as a predicate; ids and groups in sets, since a selector may name 10,000 ids. */
export function selectorPredicate(selector: Selector): (device: Pick<DeviceFacts, 'id' | 'labels' | 'groups'>) => boolean {
  const labels = Object.entries(selector.labels ?? {});
  const groups = new Set(selector.groups ?? []);
  const ids = new Set(selector.ids ?? []);
  return (device) => {
    for (const [key, value] of labels) if (device.labels[key] !== value) return false;
    if (groups.size === 0 && ids.size === 0) return true;
    return ids.has(device.id) || device.groups.some((g) => groups.has(g));
  };
}

/**
 * The selected devices in rollout order, from the registry's selection
 * facts (labels, groups, inventory: in memory after the first selection,
 * not every record parsed again).
 */
export async function selectDevices(registry: DeviceRegistry, campaignId: string, selector: Selector): Promise<DeviceFacts[]> {
  const chosen: DeviceFacts[] = [];
  const selects = selectorPredicate(selector);
  for (const device of await registry.selectionFacts()) {
    if (!selects(device)) continue;
    chosen.push(device);
    if (chosen.length > MAX_CAMPAIGN_DEVICES) {
      throw new BootfleetError('BOOTFLEET_CAMPAIGN_INVALID', `the selector matches more than ${MAX_CAMPAIGN_DEVICES} devices`);
    }
  }
  const seed = fnv1a(FNV_OFFSET, `${campaignId}\u0000`);
  const ranked = chosen.map((d) => ({ d, r: rolloutRank(seed, d.id) }));
  // Ties (two ids with the same 32-bit rank) are broken by id: the order stays a function of the ids alone.
  return ranked.sort((a, b) => a.r - b.r || (a.d.id < b.d.id ? -1 : a.d.id > b.d.id ? 1 : 0)).map((x) => x.d);
}

/** FNV-1a's 32-bit offset basis and prime (the Fowler/Noll/Vo hash, IETF draft-eastlake-fnv). */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over `text`'s UTF-16 code units, continuing from `state`. */
function fnv1a(state: number, text: string): number {
  let h = state;
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/**
 * A device's place in a campaign's rollout order: FNV-1a of campaign id,
 * NUL and device id, mixed by MurmurHash3's 32-bit finaliser (so that ids
 * differing only in their last characters, `sim00041` and `sim00042`, land
 * far apart). Not a digest: nothing depends on it being hard to invert,
 * only on it being stable and spread out. Ranking 10,000 devices (hashing
 * and sorting) takes about a third of the time it took with SHA-256 (3
 * against 8 ms here), and a start ranks them all (docs/campaigns.md, "What a
 * start costs the engine").
 */
function rolloutRank(seed: number, deviceId: string): number {
  let h = fnv1a(seed, deviceId);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
