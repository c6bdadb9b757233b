/**
 * `npm run demo` as a user runs it: the built script as a child process, which
 * itself starts the server and three agents as processes. Asserts its exit
 * status and the summary lines a reader checks, and that after SIGTERM in the
 * middle it leaves no process and no temporary directory behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const DEMO = fileURLToPath(new URL('../../dist/scripts/demo.js', import.meta.url));

/** The processes the demo says it started ("... pid N)" on its timeline). */
function startedPids(out: string): number[] {
  return [...new Set([...out.matchAll(/\(.*pid (\d+)\)$/gm)].map((m) => Number(m[1])))];
}

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  readonly exit: Promise<number | null>;
}

function startDemo(env: NodeJS.ProcessEnv = process.env): Run {
  const child = spawn(process.execPath, [DEMO], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const run: Run = { child, stdout: '', exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stdout += d.toString()));
  return run;
}

async function bounded<T>(promise: Promise<T>, ms: number, what: string, run: Run): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not within ${String(ms)} ms; output:\n${run.stdout}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!existsSync(DEMO))('npm run demo', () => {
  let run: Run | undefined;
  afterEach(async () => {
    if (run !== undefined && run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGKILL');
      await run.exit;
    }
  });

  it('tells the whole story and exits 0, leaving nothing behind', async () => {
    run = startDemo();
    const code = await bounded(run.exit, 150_000, 'the demo exit', run);
    const out = run.stdout;
    expect(code, out).toBe(0);
    expect(out).toMatch(/device-3 +phase rolled-back \(BOOTFLEET_HEALTH_CHECK_FAILED\)/);
    expect(out).toMatch(/v2-upgrade: state paused/);
    expect(out).toMatch(/^device-1: booted 1\.0 .*, rollback 2\.0 .*; server sees booted 1\.0$/m);
    expect(out).toMatch(/^device-2: booted 1\.0 /m);
    expect(out).toMatch(/^device-3: booted 1\.0 /m);
    expect(out).toMatch(/^campaign v2-upgrade: paused; .*succeeded 1, failed 1/m);
    expect(out).toMatch(/^pause reason: failure-threshold \(1 of 2 failed\)/m);
    expect(out).toMatch(/^DEMO OK in /m);
    const dir = /working in (\S+)/.exec(out)?.[1] ?? '';
    expect(existsSync(dir)).toBe(false);
    const pids = startedPids(out);
    // The server, three agents, and device-1's agent started again after the technician's rollback.
    expect(pids.length).toBe(5);
    expect(pids.filter(alive)).toEqual([]);
  }, 160_000);

  it('stops every process it started and removes its directory when interrupted', async () => {
    run = startDemo();
    const current = run;
    const deadline = Date.now() + 60_000;
    while (!/device-3 +agent running \(bootfleet agent run, pid \d+\)/.test(current.stdout)) {
      if (Date.now() > deadline || current.child.exitCode !== null) throw new Error(`the agents did not start; output:\n${current.stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    current.child.kill('SIGTERM');
    expect(await bounded(current.exit, 30_000, 'the demo exit after SIGTERM', current)).toBe(130);
    expect(current.stdout).not.toMatch(/FAILED/);
    const dir = /working in (\S+)/.exec(current.stdout)?.[1] ?? '';
    expect(existsSync(dir)).toBe(false);
    const pids = startedPids(current.stdout);
    expect(pids.length).toBe(4);
    expect(pids.filter(alive)).toEqual([]);
  }, 120_000);

  it('says what failed and exits 1 when it cannot run (here: no temporary directory)', async () => {
    run = startDemo({ ...process.env, TMPDIR: '/nonexistent/bootfleet-demo-test' });
    expect(await bounded(run.exit, 30_000, 'the demo exit', run)).toBe(1);
    expect(run.stdout).toMatch(/demo +FAILED: .*nonexistent/);
    expect(run.stdout).not.toMatch(/DEMO OK/);
  });
});
