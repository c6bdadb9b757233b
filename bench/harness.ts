/**
 * A tiny benchmark harness: every figure is measured next to a baseline in the
 * same run and reported as a ratio, so that results from different machines
 * and loads stay comparable (a timed test would not be).
 */
import { performance } from 'node:perf_hooks';

export interface BenchResult {
  readonly name: string;
  /** Our figure. */
  readonly value: number;
  readonly unit: string;
  readonly baselineName: string;
  readonly baselineValue: number;
  /** value / baseline, with `higherIsBetter` saying how to read it. */
  readonly ratio: number;
  readonly higherIsBetter: boolean;
  readonly note?: string;
}

export interface Bench {
  readonly name: string;
  run(): Promise<BenchResult[]>;
}

/** Operations per second of `fn`, repeated for at least `minMs` after a warm-up. */
export function opsPerSecond(fn: () => void, minMs = 500, warmup = 200): number {
  for (let i = 0; i < warmup; i += 1) fn();
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  // Bounded in time, checked every 64 calls to keep timer overhead out of the figure.
  while (elapsed < minMs) {
    for (let i = 0; i < 64; i += 1) fn();
    count += 64;
    elapsed = performance.now() - start;
  }
  return (count / elapsed) * 1000;
}

/**
 * Measures `ours` and `baseline` in alternating rounds and returns the median
 * of each, so that a burst of load from elsewhere hits both alike.
 */
export function compareOps(ours: () => void, baseline: () => void, rounds = 5, roundMs = 200): { ours: number; baseline: number } {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    a.push(opsPerSecond(ours, roundMs, i === 0 ? 200 : 0));
    b.push(opsPerSecond(baseline, roundMs, i === 0 ? 200 : 0));
  }
  return { ours: median(a), baseline: median(b) };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function result(
  name: string,
  value: number,
  unit: string,
  baselineName: string,
  baselineValue: number,
  higherIsBetter: boolean,
  note?: string,
): BenchResult {
  return { name, value, unit, baselineName, baselineValue, ratio: value / baselineValue, higherIsBetter, ...(note === undefined ? {} : { note }) };
}

/** The line prefix a standalone benchmark script prints its results after, for `npm run bench` to collect. */
export const RESULTS_PREFIX = 'BENCH_RESULTS ';

/**
 * Prints `results` as the script's last stdout line (`BENCH_RESULTS [...]`), so
 * that `npm run bench` can run every benchmark script as its own process (no
 * benchmark shares a heap or an event loop with another) and collect them.
 */
export function emitResults(results: readonly BenchResult[]): void {
  process.stdout.write(`${RESULTS_PREFIX}${JSON.stringify(results)}\n`);
}
