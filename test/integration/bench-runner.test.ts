/**
 * `npm run bench`'s runner with real child processes: small scripts written
 * here stand for benchmarks that succeed, fail after printing results, print
 * nothing, or hang. Asserts what an operator reads: the figures collected,
 * the reason a script failed, and a report marked incomplete.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMachine, renderReport, targetMet } from '../../bench/report.js';
import { parseResultsLine, runScript } from '../../bench/runner.js';
import { result } from '../../bench/harness.js';

const ONE = result('fetch a layer', 50, 'MB/s', 'curl | tar', 100, true, 'target >= 0.4');
const SCRIPTS: Record<string, string> = {
  'ok.mjs': `console.log('human readable');\nconsole.log('BENCH_RESULTS ' + ${JSON.stringify(JSON.stringify([ONE]))});\n`,
  'fails.mjs': `console.log('BENCH_RESULTS ' + ${JSON.stringify(JSON.stringify([ONE]))});\nprocess.exit(3);\n`,
  'silent.mjs': `console.log('no results here');\n`,
  'garbage.mjs': `console.log('BENCH_RESULTS [{"name": 1}]');\n`,
  'hangs.mjs': `setInterval(() => {}, 1000);\n`,
};

describe('bench runner', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-bench-runner-'));
    for (const [name, text] of Object.entries(SCRIPTS)) await writeFile(join(dir, name), text);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const run = (file: string, timeoutMs = 15_000) => runScript(file, join(dir, file), { env: {}, timeoutMs, echo: () => undefined });

  it('collects the results line of a script that succeeds', async () => {
    const done = await run('ok.mjs');
    expect(done.failure).toBeUndefined();
    expect(done.results).toEqual([ONE]);
  });

  it('keeps what a failing script printed and says why it failed', async () => {
    const done = await run('fails.mjs');
    expect(done.failure).toMatch(/status 3/);
    expect(done.results).toEqual([ONE]);
  });

  it('counts a script without a valid results line as failed', async () => {
    expect((await run('silent.mjs')).failure).toMatch(/no BENCH_RESULTS line/);
    expect((await run('garbage.mjs')).failure).toMatch(/not a list of results/);
    expect(parseResultsLine('BENCH_RESULTS {')).toMatch(/not JSON/);
  });

  it('stops a script that runs past its bound', async () => {
    const done = await run('hangs.mjs', 500);
    expect(done.failure).toMatch(/longer than/);
  }, 20_000);

  it('writes a report marked incomplete, each figure with its baseline, ratio and target', async () => {
    const runs = [await run('ok.mjs'), await run('silent.mjs')];
    const machine = describeMachine();
    const doc = renderReport({ startedAt: new Date(), machineAtStart: machine, loadAtEnd: machine.load, runs, only: undefined, quick: true });
    expect(doc).toMatch(/^\*\*INCOMPLETE: silent\.mjs failed \(it printed no BENCH_RESULTS line\)\.\*\*$/m);
    expect(doc).toMatch(/^\| fetch a layer \| 50\.00 MB\/s \| curl \\\| tar: 100 MB\/s \| 0\.500 \(higher is better\) \| target >= 0\.4 \| met \|$/m);
    expect(doc).toMatch(/^## silent\.mjs \(FAILED\)$/m);
    expect(doc).toContain(`${String(machine.cores)} cores`);
    expect(doc).toMatch(/load average .* at the start, .* at the end/);
  });

  it('reads the target a note names', () => {
    expect(targetMet(result('x', 3, 'MiB', 'idle', 2, false, 'target <= 2.0'))).toBe(true);
    expect(targetMet(result('x', 5, 'MiB', 'idle', 2, false, 'target <= 2.0'))).toBe(false);
    expect(targetMet(result('x', 5, 'MiB', 'idle', 2, false))).toBeUndefined();
    // A target with a unit is the figure's, not the ratio's: 80 MB is 76.3 MiB.
    expect(targetMet(result('rss', 79, 'MiB', 'bare node', 43, false, 'target < 80 MB'))).toBe(false);
    expect(targetMet(result('rss', 76, 'MiB', 'bare node', 43, false, 'target < 80 MB'))).toBe(true);
    expect(targetMet(result('rss', 264, 'MB', 'mosquitto', 26, false, 'target < 300 MB: met'))).toBe(true);
    expect(targetMet(result('recovery', 1200, 'ms', 'bare node', 200, false, 'target < 1000 ms'))).toBe(false);
    expect(targetMet(result('recovery', 0.5, 's', 'bare node', 0.2, false, 'target < 1000 ms'))).toBe(true);
    expect(targetMet(result('x', 5, 'msg/s', 'y', 2, true, 'target > 3 MB'))).toBeUndefined();
  });
});
