/**
 * The garbage pacer (agent/content/garbage-pacer.ts): with `--expose-gc`, a
 * young collection per 4 MiB of work and, when asked, a full collection at the
 * start and whenever the used heap has grown by the allowed bytes; without the
 * flag, nothing. vitest runs without the flag, so a recording function stands
 * in for `globalThis.gc` and the heap grows by objects the test keeps; the
 * memory effect itself is measured by bench/agent-content.ts on real processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { garbagePacer } from '../../agent/content/garbage-pacer.js';

const MiB = 1024 * 1024;
const original = globalThis.gc;

afterEach(() => {
  globalThis.gc = original;
});

function record(): unknown[][] {
  const calls: unknown[][] = [];
  globalThis.gc = ((...args: unknown[]) => {
    calls.push(args);
  }) as NodeJS.GCFunction;
  return calls;
}

/** About 32 MiB of live objects (8-byte slots of a 4M-element array): far more than any garbage a collection could free meanwhile. */
function grow(): number[] {
  return Array.from({ length: 4 * 1024 * 1024 }, (_, i) => i + 0.5);
}

const MINOR = [{ type: 'minor' }];

describe('garbagePacer', () => {
  it('collects the young generation once per 4 MiB streamed, and only that by default', () => {
    const calls = record();
    const pacer = garbagePacer();
    for (let i = 0; i < 64 * 3; i++) pacer.count(64 * 1024);
    expect(calls).toEqual([MINOR, MINOR, MINOR]);
  });

  it('honours another interval, and looks at once when asked', () => {
    const calls = record();
    const pacer = garbagePacer({ everyBytes: MiB });
    for (let i = 0; i < 10; i++) pacer.count(MiB / 2);
    expect(calls).toHaveLength(5);
    pacer.check();
    expect(calls).toHaveLength(6);
  });

  it('runs a full collection at the start and when the heap has grown by more than allowed', () => {
    const calls = record();
    const pacer = garbagePacer({ maxOldGrowthBytes: 2 * MiB });
    // One when the work starts: a plain gc(), since gc({ type: 'major' }) did not collect the old space on Node 20.
    expect(calls).toEqual([[]]);
    const kept = grow();
    pacer.count(MiB);
    expect(calls).toEqual([[]]);
    pacer.count(3 * MiB);
    expect(calls).toEqual([[], MINOR, []]);
    pacer.count(4 * MiB);
    expect(calls).toEqual([[], MINOR, [], MINOR]);
    expect(kept.length).toBe(4 * 1024 * 1024);
  });

  it('does nothing when node runs without --expose-gc', () => {
    globalThis.gc = undefined;
    const pacer = garbagePacer({ maxOldGrowthBytes: 0, everyBytes: 1 });
    expect(() => {
      pacer.count(64 * MiB);
      pacer.check();
    }).not.toThrow();
  });
});
