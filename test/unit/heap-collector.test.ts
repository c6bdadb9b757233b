/**
 * The server's heap collector (server/heap-collector.ts): one full collection
 * shortly after a creation that signed ahead for many devices; requests
 * while one is pending share it; nothing without `--expose-gc` or after
 * close. vitest runs without the flag, so a recording function stands in for
 * `gc`; the collection's effect is measured by bench/campaign-fleet.ts on a
 * real server process started as its unit starts it.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { COLLECT_AFTER_SIGNED, HeapCollector } from '../../server/heap-collector.js';

function logged(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('HeapCollector', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects once, 50 ms after a creation that signed ahead for at least 1,000 devices, and logs the pause', async () => {
    const gc = vi.fn();
    const { logger, lines } = logged();
    const heap = new HeapCollector({ logger, gc });
    expect(heap.enabled).toBe(true);
    heap.afterSigningAhead(COLLECT_AFTER_SIGNED);
    heap.afterSigningAhead(5_000);
    await vi.advanceTimersByTimeAsync(49);
    expect(gc).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(gc).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => {
      expect(lines).toEqual([expect.objectContaining({ msg: 'full garbage collection after signing ahead', devices: COLLECT_AFTER_SIGNED, pauseMs: expect.any(Number) as number })]);
    });
    heap.afterSigningAhead(2_000);
    await vi.advanceTimersByTimeAsync(50);
    expect(gc).toHaveBeenCalledTimes(2);
  });

  it('leaves small creations to V8: below the threshold nothing runs', async () => {
    const gc = vi.fn();
    const heap = new HeapCollector({ logger: pino({ level: 'silent' }), gc });
    heap.afterSigningAhead(COLLECT_AFTER_SIGNED - 1);
    heap.afterSigningAhead(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(gc).not.toHaveBeenCalled();
  });

  it('runs nothing pending or later once closed', async () => {
    const gc = vi.fn();
    const heap = new HeapCollector({ logger: pino({ level: 'silent' }), gc });
    heap.afterSigningAhead(10_000);
    heap.close();
    heap.afterSigningAhead(10_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(gc).not.toHaveBeenCalled();
  });

  it('does nothing without --expose-gc (no global gc), and uses the global one when the flag gave it', async () => {
    const original = globalThis.gc;
    try {
      globalThis.gc = undefined;
      const off = new HeapCollector({ logger: pino({ level: 'silent' }) });
      expect(off.enabled).toBe(false);
      off.afterSigningAhead(10_000);
      const gc = vi.fn();
      globalThis.gc = gc;
      const on = new HeapCollector({ logger: pino({ level: 'silent' }) });
      on.afterSigningAhead(10_000);
      await vi.advanceTimersByTimeAsync(50);
      expect(gc).toHaveBeenCalledTimes(1);
    } finally {
      globalThis.gc = original;
    }
  });
});
