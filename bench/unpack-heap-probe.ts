/**
 * Where an unpack's bytes are at its peak (issue #4): runs `bootfleet agent
 * unpack` in this process and, every 20 ms, reads /proc/self/smaps_rollup
 * (anonymous against file-backed RSS) and, at the highest RSS seen, V8's
 * spaces (committed/used MiB: old, code, new, large objects) and
 * `process.memoryUsage()`. A diagnostic, not a benchmark (bench/agent-memory.ts
 * has the figures against a bare node); run it with the unit's flags:
 *
 *   node --max-semi-space-size=1 --expose-gc --liftoff-only \
 *     dist/bench/unpack-heap-probe.js <data-dir> <image ref or manifest digest> <dest>
 *
 * Prints one JSON line on stdout. Set PROBE_TIMELINE_MS to also print a line
 * per interval on stderr (RSS, anonymous, heap used, old space).
 */
import { readFileSync } from 'node:fs';
import { memoryUsage } from 'node:process';
import { getHeapSpaceStatistics } from 'node:v8';

const SAMPLE_MS = 20;
const MiB = 1024 * 1024;
const round = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

function smapsMiB(): { rss: number; anonymous: number; file: number } {
  const text = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  const rss = kib('Rss');
  const anonymous = kib('Anonymous');
  return { rss: round(rss * 1024), anonymous: round(anonymous * 1024), file: round((rss - anonymous) * 1024) };
}

function spaces(): Record<string, string> {
  return Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name.replace(/_space$/, ''), `${round(s.space_size)}/${round(s.space_used_size)}`]));
}

let atPeak: Record<string, unknown> = { rss: 0 };
function sample(): void {
  const now = smapsMiB();
  if (now.rss < Number(atPeak.rss)) return;
  const m = memoryUsage();
  atPeak = { ...now, heapTotal: round(m.heapTotal), heapUsed: round(m.heapUsed), external: round(m.external), spaces: spaces() };
}

const [dataDir, ref, dest] = process.argv.slice(2);
if (dataDir === undefined || ref === undefined || dest === undefined) {
  process.stderr.write('usage: unpack-heap-probe.js <data-dir> <image ref or manifest digest> <dest>\n');
  process.exit(2);
}
const timer = setInterval(sample, SAMPLE_MS);
const every = Number(process.env.PROBE_TIMELINE_MS ?? 0);
const timeline =
  every > 0
    ? setInterval(() => {
        const old = getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
        const now = smapsMiB();
        process.stderr.write(`${Math.round(performance.now())} ms rss ${now.rss} anon ${now.anonymous} heapUsed ${round(memoryUsage().heapUsed)} old ${round(old?.space_size ?? 0)}/${round(old?.space_used_size ?? 0)}\n`);
      }, every)
    : undefined;
const started = performance.now();
const { runCli } = await import('../cli/program.js');
const code = await runCli(['agent', 'unpack', ref, '--data-dir', dataDir, '--dest', dest], { out: () => undefined, err: (text) => process.stderr.write(text) });
sample();
clearInterval(timer);
clearInterval(timeline);
const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
const seconds = Math.round((performance.now() - started) / 100) / 10;
process.stdout.write(`${JSON.stringify({ code, peakRssMiB: round(Number(hwm ?? 0) * 1024), seconds, atPeak })}\n`);
process.exitCode = code;
