/**
 * Runs external commands (activation command, bootc, health checks) with a
 * timeout and bounded output capture. Injected, so the bootc backend can be
 * tested with a recorded runner on machines without bootc.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit status; null when a signal ended the command (timeout included). */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  /** The last `maxOutputBytes` of stdout and of stderr. */
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface RunOptions {
  readonly timeoutMs: number;
  readonly maxOutputBytes?: number;
}

export type CommandRunner = (argv: readonly string[], options: RunOptions) => Promise<CommandResult>;

const DEFAULT_MAX_OUTPUT = 64 * 1024;

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/**
 * Spawns argv[0] without a shell, in its own process group, and SIGKILLs that
 * group after `timeoutMs`: a shell script's children (`sleep`) would otherwise
 * keep the output pipes open after the script itself is killed.
 */
export const spawnCommand: CommandRunner = (argv, options) =>
  new Promise((resolve) => {
    const started = Date.now();
    const [file, ...args] = argv;
    const stdout = new Tail(options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
    const stderr = new Tail(options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
    let timedOut = false;
    const child = spawn(file ?? '', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
    });
    const finish = (exitCode: number | null, extra = ''): void => {
      clearTimeout(timer);
      resolve({ exitCode, timedOut, stdout: stdout.text(), stderr: stderr.text() + extra, durationMs: Date.now() - started });
    };
    child.on('error', (error) => {
      finish(null, error.message);
    });
    child.on('close', (code) => {
      finish(code);
    });
  });

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}
