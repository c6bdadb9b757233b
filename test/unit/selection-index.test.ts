/**
 * The registry's selection facts (server/devices/selection-index.ts): what a
 * campaign selects from, kept in memory after the first read and kept up to
 * date by every write, equal to what a fresh registry reads from disk.
 * Real level database on disk.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { parseDeviceId } from '../../protocol/index.js';
import { selectDevices } from '../../server/campaigns/selector.js';
import { DeviceRegistry } from '../../server/devices/registry.js';
import type { DeviceFacts } from '../../server/devices/selection-index.js';
import { SAMPLE_DIGESTS } from '../helpers/messages.js';
import { useLevelDb } from '../helpers/level-db.js';

const byId = (facts: Iterable<DeviceFacts>): DeviceFacts[] => [...facts].sort((a, b) => (a.id < b.id ? -1 : 1));

describe('DeviceRegistry selection facts', () => {
  const db = useLevelDb('bootfleet-selection-unit-');
  let registry: DeviceRegistry;
  beforeEach(() => {
    registry = new DeviceRegistry(db());
  });

  it('follows every write after the first read, and equals a fresh read of the records', async () => {
    for (const id of ['d1', 'd2', 'd3']) await registry.enroll(parseDeviceId(id), 'fleet');
    expect(byId(await registry.selectionFacts()).map((d) => d.id)).toEqual(['d1', 'd2', 'd3']);
    await registry.setLabelsAndGroups('d2', { labels: { site: 'paris' }, addGroups: ['canary'] });
    await registry.applyReport({ device: 'd3', seq: 1, sentAt: 1, phase: 'idle', slots: {}, inventory: [SAMPLE_DIGESTS.layer1] });
    await registry.enroll(parseDeviceId('d4'), 'fleet');
    const kept = byId(await registry.selectionFacts());
    expect(kept).toEqual(byId(await new DeviceRegistry(db()).selectionFacts()));
    expect(kept.find((d) => d.id === 'd2')).toMatchObject({ labels: { site: 'paris' }, groups: ['canary'] });
    expect(kept.find((d) => d.id === 'd3')?.inventory).toEqual([SAMPLE_DIGESTS.layer1]);
    expect((await selectDevices(registry, 'c1', { labels: { site: 'paris' } })).map((d) => d.id)).toEqual(['d2']);
  });

  it('keeps a write made while the first read is under way over the older copy that read sees', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `d${String(i).padStart(3, '0')}`);
    for (const id of ids) await registry.enroll(parseDeviceId(id), 'fleet');
    const reading = registry.selectionFacts();
    const writes = Promise.all(ids.map((id) => registry.setLabelsAndGroups(id, { labels: { ring: 'early' } })));
    await Promise.all([reading, writes]);
    const facts = byId(await registry.selectionFacts());
    expect(facts).toHaveLength(300);
    expect(facts.every((d) => d.labels.ring === 'early')).toBe(true);
    expect(facts).toEqual(byId(await new DeviceRegistry(db()).selectionFacts()));
  });

  it('shares one array among devices holding the same inventory', async () => {
    for (const id of ['d1', 'd2']) {
      await registry.enroll(parseDeviceId(id), 'fleet');
      await registry.applyReport({ device: id, seq: 1, sentAt: 1, phase: 'idle', slots: {}, inventory: [SAMPLE_DIGESTS.layer1] });
    }
    const [a, b] = byId(await new DeviceRegistry(db()).selectionFacts());
    expect(a?.inventory).toBe(b?.inventory);
  });
});

describe('rollout order', () => {
  const ids = Array.from({ length: 1000 }, (_, i) => `sim${String(i).padStart(5, '0')}`);
  const facts = (order: readonly string[]): DeviceFacts[] => order.map((id) => ({ id, labels: {}, groups: [], inventory: [] }));
  // Only `selectionFacts` is read by the selection; the registry behind it is tested above.
  const registryOf = (order: readonly string[]): DeviceRegistry => ({ selectionFacts: () => Promise.resolve(facts(order)) }) as unknown as DeviceRegistry;
  const orderOf = async (campaign: string, order: readonly string[] = ids): Promise<string[]> => (await selectDevices(registryOf(order), campaign, { labels: {} })).map((d) => d.id);

  it('is a function of campaign and device ids only, and differs from one campaign to the next', async () => {
    const first = await orderOf('spring-rollout');
    expect(first).toHaveLength(ids.length);
    expect(new Set(first).size).toBe(ids.length);
    expect(await orderOf('spring-rollout', [...ids].reverse())).toEqual(first);
    const other = await orderOf('autumn-rollout');
    expect(other).not.toEqual(first);
    // The canaries (first 10 %) of two campaigns overlap about as two random draws would (10 of 100).
    const canaries = new Set(first.slice(0, 100));
    expect(other.slice(0, 100).filter((id) => canaries.has(id)).length).toBeLessThan(30);
  });

  it('spreads neighbouring ids over the whole order', async () => {
    const order = await orderOf('spring-rollout');
    const position = new Map(order.map((id, i) => [id, i]));
    // Spearman's rank correlation between an id's number and its place: near 0 when unrelated.
    const n = ids.length;
    const squares = ids.reduce((sum, id, i) => sum + ((position.get(id) ?? 0) - i) ** 2, 0);
    const rho = 1 - (6 * squares) / (n * (n * n - 1));
    expect(Math.abs(rho)).toBeLessThan(0.1);
    const firstTenth = order.slice(0, 100).map((id) => Number(id.slice(3)));
    const mean = firstTenth.reduce((a, b) => a + b, 0) / firstTenth.length;
    expect(mean).toBeGreaterThan(350);
    expect(mean).toBeLessThan(650);
  });
});
