/**
 * Runs one `bootfleet` command (`<entry> <args...>`: the executable to load,
 * dist/bundle/main.js as shipped or tsc's dist/cli/main.js, then its
 * arguments; or, with `--bare`, idles like a bare Node process) and reports, on stderr as one JSON line, the process's peak RSS
 * (VmHWM of /proc/self/status, KiB) and where the bytes were: the peak of each
 * `process.memoryUsage()` field sampled every 20 ms, and the sample taken at
 * the highest RSS (heap, external, arrayBuffers). The bench runs it as a
 * child process so that each figure is one fresh process.
 */
import { readFileSync } from 'node:fs';
import { memoryUsage } from 'node:process';
import { pathToFileURL } from 'node:url';

const SAMPLE_MS = 20;
const MiB = 1024 * 1024;

interface Sample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

function mib(n: number): number {
  return Math.round((n / MiB) * 10) / 10;
}

const peak: Sample = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
let atPeak: Sample = { ...peak };
function sample(): void {
  const now = memoryUsage();
  for (const key of Object.keys(peak) as (keyof Sample)[]) peak[key] = Math.max(peak[key], now[key]);
  if (now.rss >= atPeak.rss) atPeak = { rss: now.rss, heapTotal: now.heapTotal, heapUsed: now.heapUsed, external: now.external, arrayBuffers: now.arrayBuffers };
}

const timer = setInterval(sample, SAMPLE_MS);
const args = process.argv.slice(2);
let code = 0;
if (args[0] === '--bare') {
  // What a bare `node -e 'setInterval(()=>{},1e3)'` costs on this machine: the baseline of every figure.
  await new Promise((resolve) => setTimeout(resolve, Number(args[1] ?? 500)));
} else {
  // The executable as node runs it: its argv, its top-level code (which sets process.exitCode when done).
  const [entry = '', ...rest] = args;
  process.argv = [process.argv[0] ?? process.execPath, entry, ...rest];
  await import(pathToFileURL(entry).href);
  code = typeof process.exitCode === 'number' ? process.exitCode : 0;
}
sample();
clearInterval(timer);
/**
 * The peak RSS of this program. Not `process.resourceUsage().maxRSS`: Linux
 * carries ru_maxrss over fork and exec, so a child reports at least its
 * parent's peak (a bench process of 80 MiB made a bare node look 80 MiB).
 * VmHWM belongs to the address space exec made.
 */
function peakRssKiB(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match === null ? 0 : Number(match[1]);
}

const toMib = (s: Sample): Record<keyof Sample, number> => ({ rss: mib(s.rss), heapTotal: mib(s.heapTotal), heapUsed: mib(s.heapUsed), external: mib(s.external), arrayBuffers: mib(s.arrayBuffers) });
process.stderr.write(`${JSON.stringify({ peakRssKiB: peakRssKiB(), peakMiB: toMib(peak), atPeakRssMiB: toMib(atPeak) })}\n`);
process.exitCode = code;
