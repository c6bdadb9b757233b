/**
 * `npm run bench`: runs every benchmark, prints each figure next to its
 * baseline, and writes docs/benchmarks.md with the machine it ran on.
 * `npm run bench -- --no-write` prints only.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { envelopeBench } from './envelope.js';
import type { Bench, BenchResult } from './harness.js';

const BENCHES: readonly Bench[] = [envelopeBench];

function format(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

function row(r: BenchResult): string {
  const reading = r.higherIsBetter ? 'higher is better' : 'lower is better';
  return `| ${r.name} | ${format(r.value)} ${r.unit} | ${r.baselineName}: ${format(r.baselineValue)} ${r.unit} | ${r.ratio.toFixed(3)} (${reading}) | ${r.note ?? ''} |`;
}

const results: { bench: string; result: BenchResult }[] = [];
for (const bench of BENCHES) {
  process.stderr.write(`running ${bench.name}...\n`);
  for (const r of await bench.run()) {
    results.push({ bench: bench.name, result: r });
    process.stdout.write(`${row(r)}\n`);
  }
}

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;
const doc = [
  '# Benchmarks',
  '',
  'Written by `npm run bench`. Every figure is measured next to a baseline in the same run; the ratio is what to compare across machines.',
  '',
  `Machine: ${machine}. Run: ${new Date().toISOString()}.`,
  '',
  '| benchmark | bootfleet | baseline | ratio | note |',
  '| --- | --- | --- | --- | --- |',
  ...results.map(({ result: r }) => row(r)),
  '',
].join('\n');
if (!process.argv.includes('--no-write')) {
  await writeFile(fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url)), doc);
  process.stderr.write('wrote docs/benchmarks.md\n');
}
