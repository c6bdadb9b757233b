/**
 * Every process and temporary directory the demo makes, so that it can stop
 * and remove all of them whatever happens (try/finally and signal handlers
 * call `cleanup`, which is idempotent and bounded in time).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shipped executable: the bundle (scripts/bundle.ts) next to this built script. */
export const CLI_PATH = fileURLToPath(new URL('../../bundle/main.js', import.meta.url));

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A child process whose stdout lines and stderr are kept. */
export class Child {
  readonly lines: string[] = [];
  stderr = '';
  private buffer = '';
  readonly exit: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
    onLine: (line: string) => void = () => undefined,
  ) {
    this.exit = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
    process.stdout?.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      const parts = this.buffer.split('\n');
      this.buffer = parts.pop() ?? '';
      for (const line of parts) {
        if (line.trim() === '') continue;
        this.lines.push(line);
        onLine(line);
      }
    });
    process.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20_000)));
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  /** Sends `signal`, escalates to SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 6_000): Promise<void> {
    if (this.exited) return;
    this.process.kill(signal);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}

export class Supervisor {
  private readonly children: Child[] = [];
  private readonly dirs: string[] = [];
  private cleaning: Promise<void> | undefined;

  /** `cliPath`: the built CLI (tests run from source and pass dist/bundle/main.js). */
  constructor(private readonly cliPath: string = CLI_PATH) {}

  async tempDir(prefix: string): Promise<string> {
    if (this.cleaning !== undefined) throw new Error('the demo is stopping');
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** Starts `bootfleet <args>` as a tracked child process; `env` is added to this process's environment. */
  start(name: string, args: readonly string[], onLine?: (line: string) => void, env?: Readonly<Record<string, string>>): Child {
    // After an interrupt the story may still be running: it must not start a process nobody would stop.
    if (this.cleaning !== undefined) throw new Error('the demo is stopping');
    const options = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], ...(env === undefined ? {} : { env: { ...process.env, ...env } }) };
    const child = new Child(name, spawn(process.execPath, [this.cliPath, ...args], options), onLine);
    this.children.push(child);
    return child;
  }

  /** Runs `bootfleet <args>` to its end (bounded); throws with its stderr unless it exits 0. */
  async run(args: readonly string[], timeoutMs = 30_000): Promise<Finished> {
    const child = this.start(`bootfleet ${args.slice(0, 2).join(' ')}`, args);
    const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
    const code = await child.exit;
    clearTimeout(timer);
    const stdout = child.lines.join('\n');
    if (code !== 0) throw new Error(`\`bootfleet ${args.join(' ')}\` exited ${String(code)}: ${child.stderr.trim()}`);
    return { code, stdout, stderr: child.stderr };
  }

  /** The last lines each process wrote on stderr: what a reader needs when the story failed. */
  diagnostics(maxLines = 10): string {
    return this.children
      .filter((c) => c.stderr.trim() !== '')
      .map((c) => `--- ${c.name} (pid ${String(c.process.pid)}) stderr:\n${c.stderr.trim().split('\n').slice(-maxLines).join('\n')}\n`)
      .join('');
  }

  /** Stops every process still running (agents and commands at once, then the server), then removes the directories. */
  cleanup(): Promise<void> {
    this.cleaning ??= this.stopAndRemove();
    return this.cleaning;
  }

  private async stopAndRemove(): Promise<void> {
    const stopAll = (list: Child[]) => Promise.all(list.map((child) => child.stop().catch(() => undefined)));
    await stopAll(this.children.filter((c) => c.name !== 'server'));
    await stopAll(this.children.filter((c) => c.name === 'server'));
    for (const dir of this.dirs) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Polls `probe` until it returns a value, bounded in time and count. */
export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i += 1) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
}
