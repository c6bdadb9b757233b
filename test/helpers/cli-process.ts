/**
 * Runs the built `bootfleet` executable as a real process (npm test builds it first):
 * the bundle that ships (dist/bundle/main.js, package.json `bin`, the systemd units),
 * not tsc's module-per-file output, so that the tests exercise what devices run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../dist/bundle/main.js', import.meta.url));

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function spawnCli(args: readonly string[], options: { cwd?: string } = {}): ChildProcess {
  return spawn(process.execPath, [CLI_PATH, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits for exit, with a bound; kills the process if the bound passes. */
export function waitForExit(child: ChildProcess, timeoutMs = 15_000): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export async function runCliProcess(args: readonly string[], options: { cwd?: string } = {}): Promise<Finished> {
  return waitForExit(spawnCli(args, options));
}

/** Resolves with the first match of `pattern` in the child's stderr, within a bound. */
export function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no ${String(pattern)} on stderr within ${timeoutMs} ms; got: ${seen}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      seen += d.toString();
      const match = pattern.exec(seen);
      if (match !== null) {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        resolve(match);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${String(code)}) before printing ${String(pattern)}; stderr: ${seen}`));
    });
  });
}
