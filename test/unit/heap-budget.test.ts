/**
 * The unpack's heap budget (agent/unpack/heap-budget.ts): with `--expose-gc`
 * a full collection when a layer starts and once the used heap has grown by the allowed bytes since
 * the last one, looked at every 4 MiB of the tar stream; without the flag,
 * nothing. vitest runs without the flag, so a recording function stands in for
 * `globalThis.gc` and the heap grows by objects the test keeps; the memory
 * effect itself is measured by bench/agent-content.ts on real processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { heapBudget } from '../../agent/unpack/heap-budget.js';

const MiB = 1024 * 1024;
const original = globalThis.gc;

afterEach(() => {
  globalThis.gc = original;
});

/** About 32 MiB of live objects (8-byte slots of a 4M-element array): far more than any garbage a collection could free meanwhile. */
function grow(): number[] {
  return Array.from({ length: 4 * 1024 * 1024 }, (_, i) => i + 0.5);
}

describe('heapBudget', () => {
  it('runs a full collection when the heap has grown by more than allowed', () => {
    const calls: unknown[][] = [];
    globalThis.gc = ((...args: unknown[]) => {
      calls.push(args);
    }) as NodeJS.GCFunction;
    const count = heapBudget(2 * MiB);
    // One when the layer starts.
    expect(calls).toEqual([[]]);
    const kept = grow();
    count(MiB);
    expect(calls).toEqual([[]]);
    count(3 * MiB);
    // A plain gc(): gc({ type: 'major' }) did not collect the old space on Node 20.
    expect(calls).toEqual([[], []]);
    expect(kept.length).toBe(4 * 1024 * 1024);
  });

  it('collects only at the start while the heap stays within the budget', () => {
    let calls = 0;
    globalThis.gc = (() => {
      calls++;
    }) as NodeJS.GCFunction;
    const count = heapBudget(512 * MiB);
    for (let i = 0; i < 16; i++) count(4 * MiB);
    expect(calls).toBe(1);
  });

  it('does nothing when node runs without --expose-gc', () => {
    globalThis.gc = undefined;
    const count = heapBudget(0);
    expect(() => {
      count(64 * MiB);
    }).not.toThrow();
  });
});
