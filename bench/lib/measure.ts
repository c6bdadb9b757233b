/** Measuring blob downloads with curl clients (out of process, so client cost is not ours) and a server's RSS. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Target {
  readonly name: string;
  readonly url: string;
  readonly headers: readonly string[];
  /** Server process whose memory is watched; undefined when the server runs in this process. */
  readonly pid: number | undefined;
}

export interface RoundResult {
  readonly bytesPerSecond: number;
  readonly peakRssBytes: number | undefined;
}


/** Peak RSS of a process so far (Linux /proc VmHWM), bytes; 0 when it is gone. */
export async function peakRssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${String(pid)}/status`, 'utf8').catch(() => '');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** Starts a process's peak RSS again from its RSS now (Linux: `5` written to /proc/PID/clear_refs). */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${String(pid)}/clear_refs`, '5');
}

/** Resident set size of a process in bytes (Linux /proc), undefined when it is gone. */
export async function rssOf(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (`getconf CLK_TCK`: 100 on every Linux this runs on). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system) a process has used so far, in seconds; 0 when it
 * is gone. Unlike wall-clock time it does not grow when other processes take
 * the cores, so it compares runs made under different loads.
 */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name (which may hold spaces, hence the last ')'): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / CLOCK_TICKS_PER_SECOND;
}

/** `clients` curl processes download the blob at once; returns aggregate throughput and the server's peak RSS. */
export async function downloadRound(target: Target, clients: number, expectedBytes: number): Promise<RoundResult> {
  let peak: number | undefined;
  const done = new AbortController();
  const watcher = (async () => {
    for (let i = 0; i < 100_000 && !done.signal.aborted && target.pid !== undefined; i += 1) {
      const rss = await rssOf(target.pid);
      if (rss !== undefined) peak = Math.max(peak ?? 0, rss);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const args = ['-s', '-f', '-o', '/dev/null', '-w', '%{size_download}', ...target.headers.flatMap((h) => ['-H', h]), target.url];
  const started = process.hrtime.bigint();
  const sizes = await Promise.all(Array.from({ length: clients }, () => run('curl', args, { timeout: 600_000 }).then((r) => Number(r.stdout))));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  done.abort();
  await watcher;
  for (const size of sizes) if (size !== expectedBytes) throw new Error(`${target.name}: a client got ${size} bytes, expected ${expectedBytes}`);
  return { bytesPerSecond: (clients * expectedBytes) / seconds, peakRssBytes: peak };
}

/** Polls `url` until it answers (any HTTP status) or 10 s pass. */
export async function waitForHttp(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < 400 && Date.now() < deadline; i += 1) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`${url} did not come up within 10 s`);
}

export function startProcess(command: string, args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  child.on('error', (error) => {
    process.stderr.write(`${command}: ${error.message}\n`);
  });
  return child;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}


/** Busy and total jiffies of the whole machine so far (/proc/stat's first line: idle and iowait count as idle). */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const stat = await readFile('/proc/stat', 'utf8');
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * Waits until the machine has been quiet (at most `busyShare` of all cores
 * busy) for one `stepMs` window, or `maxMs` passed; returns the ms waited.
 * Before a measured round: a process still digesting the previous round (a
 * collection after a burst, a broker's acknowledgements) would otherwise
 * land in the next round, whichever side it belongs to.
 */
export async function waitForQuiet(busyShare = 0.1, stepMs = 100, maxMs = 5_000): Promise<number> {
  const started = performance.now();
  let before = await machineTicks();
  for (let i = 0; i < Math.ceil(maxMs / stepMs); i += 1) {
    await new Promise((r) => setTimeout(r, stepMs));
    const now = await machineTicks();
    const total = now.total - before.total;
    if (total > 0 && (now.busy - before.busy) / total <= busyShare) break;
    before = now;
  }
  return performance.now() - started;
}
