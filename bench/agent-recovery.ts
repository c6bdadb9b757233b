/**
 * `npm run bench:recovery` (issue #5): the time from a SIGKILL in the middle of
 * a deployment transition to a restarted agent process that has recovered a
 * consistent state, next to the time a bare `node` process takes to start and
 * print a line, measured in the same run.
 *
 * Each trial: a fresh data directory is provisioned with 1.0 and stages 2.0;
 * then an agent process (scripts/crash-worker.ts: the agent's own start-up
 * recovery) runs a transition and is killed by SIGKILL at a named step
 * (BOOTFLEET_CRASH_AT, agent/deploy/crash-point.ts). The clock starts when the
 * killed process is gone and stops when the restarted process prints
 * `recovered`. Target: every trial under 1 s. The worker runs as the agent
 * ships, bundled by scripts/bundle.ts's `bundleEntry` (the same rolldown
 * options as dist/bundle/), and, in the same run, as tsc's module-per-file
 * output (dist/scripts/crash-worker.js, how the agent shipped before).
 *
 * Then the daemon itself (BENCH_DAEMON_RESTARTS, default 8, per entry):
 * `bootfleet agent run` in managed mode against a real server, killed by
 * SIGKILL and started again; the clock runs from the restart to its first
 * `report` line, which it prints once its start-up recovery and probation
 * check are done, for the bundle and for tsc's output. Sizes: BENCH_TRIALS (default 24), BENCH_TREE_FILES (default
 * 500 files per image).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { startFleet } from '../test/helpers/agent-daemon.js';
import { bundleEntry, ROOT } from '../scripts/bundle.js';
import { AGENT_ENV, AGENT_NODE_FLAGS, CLI, managedAgentConfig, TSC_CLI } from './agent-memory.js';
import { emitResults, median, result, type BenchResult } from './harness.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? '') || 24;
const TREE_FILES = Number(process.env.BENCH_TREE_FILES ?? '') || 500;
/** Steps of activate, commit, rollback and factory reset (agent/deploy; the crash harness learns the full list). */
const STEPS = ['activate:state-temp', 'activate:state', 'activate:switched', 'activate:activated', 'commit:state', 'rollback:state', 'rollback:switched'];
const TSC_WORKER = fileURLToPath(new URL('../scripts/crash-worker.js', import.meta.url));
/** Inside dist/, so that what the bundle leaves out resolves from the repository's node_modules. */
const BUNDLE_DIR = fileURLToPath(new URL('./crash-worker-bundle/', import.meta.url));
const STEP_TIMEOUT_MS = 30_000;
const DAEMON_RESTARTS = Number(process.env.BENCH_DAEMON_RESTARTS ?? '') || 8;

function makeTrees(dir: string): void {
  for (const version of ['1.0', '2.0', '3.0']) {
    const root = join(dir, version);
    for (let d = 0; d < 10; d += 1) mkdirSync(join(root, 'usr', `d${String(d)}`), { recursive: true });
    for (let f = 0; f < TREE_FILES; f += 1) writeFileSync(join(root, 'usr', `d${String(f % 10)}`, `f${String(f)}`), `${version} ${String(f)}\n`);
    writeFileSync(join(root, 'version'), `${version}\n`);
  }
}

interface Run {
  /** Resolves with the first stdout line matching `event`, or undefined when the process exits first. */
  readonly line: (event: string) => Promise<Record<string, unknown> | undefined>;
  readonly exited: Promise<void>;
  send(ops: unknown): void;
  kill(): void;
}

function start(args: readonly string[], crashAt?: string): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, ...AGENT_ENV };
  delete env.BOOTFLEET_CRASH_AT;
  if (crashAt !== undefined) env.BOOTFLEET_CRASH_AT = crashAt;
  const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  createInterface({ input: child.stdout }).on('line', (text) => {
    lines.push(JSON.parse(text) as Record<string, unknown>);
    for (const wake of waiters) wake();
  });
  const exited = new Promise<void>((resolve) => {
    child.on('close', () => {
      closed = true;
      resolve();
      for (const wake of waiters) wake();
    });
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
  void exited.then(() => { clearTimeout(timer); });
  return {
    exited,
    line: async (event) => {
      for (;;) {
        const found = lines.find((l) => l.event === event);
        if (found !== undefined || closed) return found;
        await new Promise<void>((resolve) => {
          const wake = (): void => { waiters.delete(wake); resolve(); };
          waiters.add(wake);
        });
      }
    },
    send: (ops) => { child.stdin.write(`${JSON.stringify(ops)}\n`); },
    kill: () => child.kill('SIGKILL'),
  };
}

/** One trial: prepare, crash at `step`, restart; returns the milliseconds from the kill to `recovered`. */
async function trial(worker: string, trees: string, dataDir: string, step: string): Promise<number> {
  const prepare = start([worker, trees]);
  await prepare.line('recovered');
  const [action] = step.split(':');
  const setup = ['provision:1.0', 'stage:2.0', ...(action === 'commit' || action === 'rollback' ? ['activate'] : [])];
  prepare.send({ dir: dataDir, ops: setup });
  if ((await prepare.line('done')) === undefined) throw new Error(`setup for ${step} failed`);
  prepare.kill();
  await prepare.exited;
  const crashing = start([worker, trees], step);
  await crashing.line('recovered');
  crashing.send({ dir: dataDir, ops: [action ?? 'activate'] });
  // The worker kills itself at the step; finishing the op instead means the step does not exist.
  const finished = await Promise.race([crashing.exited.then(() => undefined), crashing.line('done'), crashing.line('error')]);
  if (finished !== undefined) {
    crashing.kill();
    throw new Error(`the agent did not stop at ${step}: ${JSON.stringify(finished)}`);
  }
  const killedAt = performance.now();
  const restarted = start([worker, trees, dataDir]);
  const recovered = await restarted.line('recovered');
  const ms = performance.now() - killedAt;
  restarted.kill();
  await restarted.exited;
  if (recovered === undefined) throw new Error(`no recovery after a kill at ${step}`);
  return ms;
}

/** A bare node process: start, print one line, as the worker prints `recovered`. */
async function bareNode(): Promise<number> {
  const started = performance.now();
  const run = start(['-e', 'process.stdout.write(JSON.stringify({ event: "recovered" }) + "\\n"); setInterval(() => {}, 1000)']);
  await run.line('recovered');
  const ms = performance.now() - started;
  run.kill();
  await run.exited;
  return ms;
}

/** Restarts of the managed daemon (each entry in turn): milliseconds from spawning it to its first `report` line. */
async function daemonRestarts(work: string): Promise<{ bundle: number[]; tsc: number[] }> {
  const fleet = await startFleet();
  try {
    const config = await managedAgentConfig(fleet, work);
    const times = { bundle: [] as number[], tsc: [] as number[] };
    for (let i = 0; i < DAEMON_RESTARTS; i += 1) {
      for (const [cli, into] of [[CLI, times.bundle], [TSC_CLI, times.tsc]] as const) {
        const started = performance.now();
        const daemon = start([...AGENT_NODE_FLAGS, cli, 'agent', 'run', '--config', config]);
        const report = await daemon.line('report');
        const ms = performance.now() - started;
        daemon.kill();
        await daemon.exited;
        if (report === undefined) throw new Error(`the daemon (${cli}) exited before its first report`);
        into.push(ms);
      }
    }
    return times;
  } finally {
    await fleet.t.destroy();
  }
}

function figures(tag: string, ms: readonly number[], bare: readonly number[], note: string): BenchResult[] {
  const notes = `${String(TRIALS)} trials, SIGKILL at ${String(STEPS.length)} step boundaries, ${String(TREE_FILES)} files per image; ${note}`;
  return [
    result(`kill -> recovered consistent state, median${tag}`, median(ms), 'ms', 'bare node start to first line, median', median(bare), false, notes),
    result(`kill -> recovered consistent state, max${tag}`, Math.max(...ms), 'ms', 'bare node start to first line, max', Math.max(...bare), false, note),
  ];
}

function line(name: string, ms: readonly number[]): string {
  return `${name}: median ${median(ms).toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms`;
}

const work = mkdtempSync(join(tmpdir(), 'bootfleet-recovery-bench-'));
try {
  const trees = join(work, 'trees');
  makeTrees(trees);
  await bundleEntry(join(ROOT, 'scripts/crash-worker.ts'), BUNDLE_DIR);
  const worker = join(BUNDLE_DIR, 'main.js');
  const ours: number[] = [];
  const tsc: number[] = [];
  const bare: number[] = [];
  // Interleaved, so that a busy moment of a shared machine weighs on all three alike.
  for (let i = 0; i < TRIALS; i += 1) {
    const step = STEPS[i % STEPS.length] ?? 'activate:switched';
    ours.push(await trial(worker, trees, join(work, `device-${String(i)}`), step));
    tsc.push(await trial(TSC_WORKER, trees, join(work, `device-tsc-${String(i)}`), step));
    bare.push(await bareNode());
  }
  process.stdout.write(`kill -> recovered over ${String(TRIALS)} trials: ${line('bundle', ours)}; ${line('tsc output', tsc)}; ${line('bare node start', bare)}\n`);
  const daemon = await daemonRestarts(work);
  process.stdout.write(`daemon restart to its first report over ${String(DAEMON_RESTARTS)} restarts: ${line('bundle', daemon.bundle)}; ${line('tsc output', daemon.tsc)}\n`);
  const note = `${String(DAEMON_RESTARTS)} SIGKILLed restarts of bootfleet agent run (managed, idle), to its first report`;
  emitResults([
    ...figures('', ours, bare, 'the bundle, as shipped; target < 1000 ms'),
    ...figures(', tsc output', tsc, bare, 'before the bundle, for comparison'),
    result('daemon restart to first report, median', median(daemon.bundle), 'ms', 'bare node start to first line, median', median(bare), false, `${note}; the bundle`),
    result('daemon restart to first report, median, tsc output', median(daemon.tsc), 'ms', 'bare node start to first line, median', median(bare), false, `${note}; before the bundle`),
  ]);
} finally {
  rmSync(work, { recursive: true, force: true });
}
