/**
 * The stream garbage collector (agent/content/stream-garbage.ts): with
 * `--expose-gc` it asks for one young-generation collection per 4 MiB of
 * chunks; without it, it does nothing. vitest runs without the flag, so the
 * test stands a recording function in for `globalThis.gc`; the memory effect
 * itself is measured by bench/agent-content.ts on real processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { streamGarbageCollector } from '../../agent/content/stream-garbage.js';

const MiB = 1024 * 1024;
const original = globalThis.gc;

afterEach(() => {
  globalThis.gc = original;
});

describe('streamGarbageCollector', () => {
  it('collects the young generation once per 4 MiB streamed', () => {
    const calls: unknown[] = [];
    globalThis.gc = ((options?: unknown) => {
      calls.push(options);
    }) as NodeJS.GCFunction;
    const count = streamGarbageCollector();
    for (let i = 0; i < 64 * 3; i++) count(64 * 1024);
    expect(calls).toEqual([{ type: 'minor' }, { type: 'minor' }, { type: 'minor' }]);
  });

  it('honours another interval', () => {
    let calls = 0;
    globalThis.gc = (() => {
      calls++;
    }) as NodeJS.GCFunction;
    const count = streamGarbageCollector(MiB);
    for (let i = 0; i < 10; i++) count(MiB / 2);
    expect(calls).toBe(5);
  });

  it('does nothing when node runs without --expose-gc', () => {
    globalThis.gc = undefined;
    const count = streamGarbageCollector(1);
    expect(() => {
      count(10 * MiB);
    }).not.toThrow();
  });
});
