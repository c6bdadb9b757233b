/**
 * `npm run bench`: runs every benchmark script of bench/suite.ts as its own
 * process, collects each one's `BENCH_RESULTS` line and writes
 * docs/benchmarks.md (bench/report.ts). Exits 1 naming every script that
 * failed or printed no results, after writing what it has, marked.
 *
 *   npm run bench                                   every benchmark, default sizes
 *   npm run bench -- --only agent-content           a subset (repeat or comma-separate)
 *   npm run bench -- --quick                        small sizes, a few minutes in all
 *   npm run bench -- --no-write | --out FILE        print only | write elsewhere
 *   npm run bench -- --timeout-s 1800               bound per script (default 1800 s, quick 600 s)
 */
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMachine, renderReport, resultRow } from './report.js';
import { runScript, type ScriptRun } from './runner.js';
import { BENCH_SCRIPTS, type BenchScript } from './suite.js';

const DOC = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

function options(): { only: string[] | undefined; quick: boolean; out: string | undefined; timeoutMs: number } {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', multiple: true },
      quick: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      out: { type: 'string' },
      'timeout-s': { type: 'string' },
    },
  });
  const only = values.only?.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  const unknown = only?.filter((name) => !BENCH_SCRIPTS.some((s) => s.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCH_SCRIPTS.map((s) => s.name).join(', ')}`);
  const timeoutS = Number(values['timeout-s'] ?? (values.quick ? 600 : 1800));
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error('--timeout-s must be a positive number of seconds');
  return { only, quick: values.quick, out: values['no-write'] ? undefined : (values.out ?? DOC), timeoutMs: timeoutS * 1000 };
}

async function main(): Promise<number> {
  const o = options();
  const chosen: readonly BenchScript[] = o.only === undefined ? BENCH_SCRIPTS : BENCH_SCRIPTS.filter((s) => o.only?.includes(s.name));
  const startedAt = new Date();
  const machineAtStart = describeMachine();
  const runs: ScriptRun[] = [];
  for (const script of chosen) {
    process.stderr.write(`\n=== ${script.name}: ${script.description}\n`);
    const path = fileURLToPath(new URL(script.file, import.meta.url));
    runs.push(await runScript(script.name, path, { env: o.quick ? script.quick : {}, timeoutMs: o.timeoutMs }));
  }
  const doc = renderReport({ startedAt, machineAtStart, loadAtEnd: loadavg(), runs, only: o.only, quick: o.quick });
  process.stdout.write(`\n${runs.flatMap((r) => r.results.map(resultRow)).join('\n')}\n`);
  if (o.out !== undefined) {
    await writeFile(o.out, doc);
    process.stderr.write(`wrote ${o.out}\n`);
  }
  const failed = runs.filter((r) => r.failure !== undefined);
  for (const r of failed) process.stderr.write(`FAILED: ${r.name}: ${r.failure ?? ''}\n`);
  return failed.length === 0 ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`npm run bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
}
