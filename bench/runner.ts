/**
 * Runs one benchmark script as its own child process and collects the
 * `BENCH_RESULTS [...]` line it prints (bench/harness.ts `emitResults`). The
 * script's own output is passed through as it comes, so a long run shows its
 * progress. A script that exits non-zero, runs past its time bound, or prints
 * no valid results line is a failure, with the reason.
 */
import { spawn } from 'node:child_process';
import { RESULTS_PREFIX, type BenchResult } from './harness.js';

export interface ScriptRun {
  readonly name: string;
  readonly results: readonly BenchResult[];
  /** Why the script counts as failed; undefined when it succeeded. */
  readonly failure: string | undefined;
  readonly seconds: number;
}

export interface RunOptions {
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Where the script's own output goes (default: this process's stderr). */
  readonly echo?: (text: string) => void;
}

function isResult(value: unknown): value is BenchResult {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  const finite = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
  return (
    typeof r.name === 'string' &&
    typeof r.unit === 'string' &&
    typeof r.baselineName === 'string' &&
    typeof r.higherIsBetter === 'boolean' &&
    finite(r.value) &&
    finite(r.baselineValue) &&
    finite(r.ratio) &&
    (r.note === undefined || typeof r.note === 'string')
  );
}

/** The results of the last `BENCH_RESULTS` line in `stdout`, or a reason why there are none. */
export function parseResultsLine(stdout: string): BenchResult[] | string {
  const line = stdout.split('\n').reverse().find((l) => l.startsWith(RESULTS_PREFIX));
  if (line === undefined) return 'it printed no BENCH_RESULTS line';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.slice(RESULTS_PREFIX.length));
  } catch {
    return 'its BENCH_RESULTS line is not JSON';
  }
  if (!Array.isArray(parsed) || !parsed.every(isResult)) return 'its BENCH_RESULTS line is not a list of results';
  if (parsed.length === 0) return 'its BENCH_RESULTS line is empty';
  return parsed;
}

export async function runScript(name: string, path: string, options: RunOptions): Promise<ScriptRun> {
  const echo = options.echo ?? ((text: string) => process.stderr.write(text));
  const started = Date.now();
  const child = spawn(process.execPath, [path], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  const stopped = { timedOut: false };
  child.stdout.on('data', (d: Buffer) => {
    stdout = (stdout + d.toString()).slice(-1_000_000);
    echo(d.toString());
  });
  child.stderr.on('data', (d: Buffer) => echo(d.toString()));
  const timer = setTimeout(() => {
    stopped.timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, options.timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', () => resolve([null, null]));
    child.once('close', (c, s) => resolve([c, s]));
  });
  clearTimeout(timer);
  const seconds = (Date.now() - started) / 1000;
  const parsed = parseResultsLine(stdout);
  const results = typeof parsed === 'string' ? [] : parsed;
  let failure: string | undefined;
  if (stopped.timedOut) failure = `it ran longer than ${String(options.timeoutMs / 1000)} s and was stopped`;
  else if (code !== 0) failure = `it exited with ${signal === null ? `status ${String(code)}` : `signal ${signal}`}`;
  else if (typeof parsed === 'string') failure = parsed;
  return { name, results, failure, seconds };
}
