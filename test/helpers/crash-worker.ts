/**
 * Drives scripts/crash-worker.ts (bundled by `bundleWorker`) for the crash harness:
 * spawns it, reads its JSON-line events, sends it ops, kills it. Every wait is
 * bounded; `stop()` kills a process the test no longer needs.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { build } from 'rolldown';

const ROOT = new URL('../..', import.meta.url).pathname;

/**
 * Bundles scripts/crash-worker.ts (and the agent and protocol code it runs)
 * straight from the sources into one ES module. Node then loads one file
 * instead of about 900 modules: a start-up of about 0.15 s instead of 0.5 s,
 * which is what makes hundreds of kills affordable. Returns the file's path.
 */
export async function bundleWorker(outDir: string): Promise<string> {
  const file = join(outDir, 'crash-worker.mjs');
  await build({ input: join(ROOT, 'scripts/crash-worker.ts'), platform: 'node', logLevel: 'warn', output: { file, format: 'esm' } });
  return file;
}

export interface WorkerEvent {
  readonly event: 'recovered' | 'done' | 'error';
  readonly outcome?: string;
  readonly code?: string;
  readonly message?: string;
  readonly uptimeMs?: number;
  readonly ms?: number;
}

export class CrashWorker {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly events: WorkerEvent[] = [];
  private waiters: (() => void)[] = [];
  private stderr = '';
  private closed = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(worker: string, treesDir: string, options: { recoverDir?: string; crashAt?: string; trace?: string } = {}) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.BOOTFLEET_CRASH_AT;
    delete env.BOOTFLEET_CRASH_TRACE;
    if (options.crashAt !== undefined) env.BOOTFLEET_CRASH_AT = options.crashAt;
    if (options.trace !== undefined) env.BOOTFLEET_CRASH_TRACE = options.trace;
    const args = [worker, treesDir, ...(options.recoverDir === undefined ? [] : [options.recoverDir])];
    this.child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.events.push(JSON.parse(line) as WorkerEvent);
      for (const wake of this.waiters) wake();
    });
    this.exited = new Promise((resolve) => {
      // 'close' comes after the last stdout line, unlike 'exit'.
      this.child.on('close', (code, signal) => {
        this.closed = true;
        resolve({ code, signal });
        for (const wake of this.waiters) wake();
      });
    });
  }

  get output(): string {
    return this.stderr;
  }

  /** The first event of `kind`, or undefined when the process exits first; throws after `timeoutMs`. */
  async next(kind: WorkerEvent['event'] | 'done-or-error', timeoutMs = 20_000): Promise<WorkerEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => e.event === kind || (kind === 'done-or-error' && (e.event === 'done' || e.event === 'error')));
      if (found !== undefined) return found;
      if (this.closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`crash worker: no ${kind} within ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters = [];
    }
  }

  send(dir: string, ops: readonly string[]): void {
    this.child.stdin.write(`${JSON.stringify({ dir, ops })}\n`);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Ends a worker that is waiting for input. */
  async stop(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => {
      this.kill();
    }, 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
