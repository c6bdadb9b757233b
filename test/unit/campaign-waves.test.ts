import { describe, expect, it } from 'vitest';
import { isBootfleetError } from '../../protocol/index.js';
import { verifyCampaignTransition } from '../../server/campaigns/lifecycle.js';
import { layerEntries, planCampaign } from '../../server/campaigns/plan.js';
import { exponentialWaves, settingsOf } from '../../server/campaigns/settings.js';
import type { DeviceProgress } from '../../server/campaigns/schemas.js';
import { assignWaves, judgeWaves, waveEnd } from '../../server/campaigns/waves.js';

const D = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isBootfleetError(error) ? error.code : 'not a BootfleetError';
  }
  return undefined;
}

describe('campaign lifecycle', () => {
  it('allows only the documented transitions', () => {
    expect(verifyCampaignTransition('draft', 'start')).toBe('running');
    expect(verifyCampaignTransition('running', 'pause')).toBe('paused');
    expect(verifyCampaignTransition('paused', 'resume')).toBe('running');
    expect(verifyCampaignTransition('paused', 'abort')).toBe('aborted');
    expect(verifyCampaignTransition('running', 'complete')).toBe('completed');
    for (const [state, action] of [['draft', 'pause'], ['running', 'resume'], ['completed', 'start'], ['aborted', 'resume'], ['completed', 'abort'], ['paused', 'complete']] as const) {
      expect(codeOf(() => verifyCampaignTransition(state, action)), `${state} ${action}`).toBe('BOOTFLEET_CAMPAIGN_TRANSITION_INVALID');
    }
  });
});

describe('waves', () => {
  it('covers cumulative percentages with at least one device per wave, the last wave everything', () => {
    expect([0, 1, 2, 3].map((w) => waveEnd(10, [1, 10, 50, 100], w))).toEqual([1, 1, 5, 10]);
    expect(assignWaves(10, [1, 10, 50, 100])).toEqual([0, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    expect(waveEnd(3, [99], 0)).toBe(3);
  });

  it('grows exponentially when asked, and refuses waves and a rate together or waves that do not reach 100', () => {
    expect(exponentialWaves(1, 2)).toEqual([1, 2, 4, 8, 16, 32, 64, 100]);
    expect(exponentialWaves(0.001, 1.1).length).toBe(32);
    const base = { id: 'c', image: 'h/n:t', selector: { ids: ['d'] } };
    expect(settingsOf({ ...base, waveGrowth: { first: 5, factor: 3 } }).waves).toEqual([5, 15, 45, 100]);
    expect(codeOf(() => settingsOf({ ...base, waves: [10, 100], waveGrowth: { first: 5, factor: 3 } }))).toBe('BOOTFLEET_CAMPAIGN_INVALID');
    expect(codeOf(() => settingsOf({ ...base, waves: [10, 50] }))).toBe('BOOTFLEET_CAMPAIGN_INVALID');
    expect(codeOf(() => settingsOf({ ...base, startAt: 100, deadline: 50 }))).toBe('BOOTFLEET_CAMPAIGN_INVALID');
  });

  it('keeps a soak window only when it is one (0 means none)', () => {
    const base = { id: 'c', image: 'h/n:t', selector: { ids: ['d'] } };
    expect(settingsOf({ ...base, soakSeconds: 120 }).soakSeconds).toBe(120);
    expect(settingsOf({ ...base, soakSeconds: 0 })).not.toHaveProperty('soakSeconds');
    expect(settingsOf(base)).not.toHaveProperty('soakSeconds');
  });

  const progress = (states: DeviceProgress['state'][], waves: number[]): DeviceProgress[] =>
    states.map((state, i) => ({ device: `d${i}`, wave: waves[i] ?? 0, state, missingBytes: 0, missingLayers: 0 }));
  const input = { deviceCount: 4, waves: [50, 100], currentWave: 0, successThreshold: 1, failureThreshold: 0.5, failuresAcknowledged: 0 };

  it('advances when the success threshold is met, trips on the failure threshold, and is done when all finished', () => {
    expect(judgeWaves(input, progress(['succeeded', 'in-progress', 'pending', 'pending'], [0, 0, 1, 1]))).toMatchObject({ advance: false, trip: false });
    expect(judgeWaves(input, progress(['succeeded', 'succeeded', 'pending', 'pending'], [0, 0, 1, 1]))).toMatchObject({ advance: true, trip: false, done: false });
    expect(judgeWaves(input, progress(['succeeded', 'failed', 'pending', 'pending'], [0, 0, 1, 1]))).toMatchObject({ trip: true });
    // Failures acknowledged at resume do not trip again.
    expect(judgeWaves({ ...input, failuresAcknowledged: 1 }, progress(['succeeded', 'failed', 'pending', 'pending'], [0, 0, 1, 1]))).toMatchObject({ trip: false });
    expect(judgeWaves({ ...input, currentWave: 1 }, progress(['succeeded', 'succeeded', 'succeeded', 'failed'], [0, 0, 1, 1]))).toMatchObject({ done: true, trip: false });
  });
});

describe('delta plan', () => {
  const layers = [
    { digest: D(1), size: 100, mediaType: 'application/vnd.oci.image.layer.v1.tar' },
    { digest: D(2), size: 30, mediaType: 'application/vnd.oci.image.layer.v1.tar' },
  ];
  it('marks the layers a device lacks and sums the transfer cost', () => {
    expect(layerEntries(layers, [D(1)]).map((l) => l.missing)).toEqual([false, true]);
    const plan = planCampaign(layers, [
      { id: 'a', inventory: [D(1)] },
      { id: 'b', inventory: [] },
      { id: 'c', inventory: [D(1), D(2)] },
    ]);
    expect(plan.devices).toEqual([
      { device: 'a', missingLayers: 1, missingBytes: 30 },
      { device: 'b', missingLayers: 2, missingBytes: 130 },
      { device: 'c', missingLayers: 0, missingBytes: 0 },
    ]);
    expect(plan).toMatchObject({ totalMissingBytes: 160, distinctMissingBytes: 130, imageBytes: 130, totalLayers: 2 });
  });
});
