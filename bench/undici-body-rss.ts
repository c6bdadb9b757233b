/**
 * Minimal reproduction of issue #4's undici figure: the peak RSS of one fresh
 * node process that GETs a large blob from a local server and writes it to a
 * file as the agent does (agent/fetch/transfer.ts: `writeSync` inside the
 * body's 'data' handler, a young collection every 4 MiB), with undici 7's
 * `request()` and, for reference, with `node:http`; each next to a bare node
 * started with the same flags in the same run.
 *
 * What it shows (docs/agent-content.md, "Memory"): undici parses HTTP/1 with
 * llhttp compiled to WebAssembly. Once that code is hot, V8 recompiles it
 * with its optimizing compiler (dynamic tier-up), and that compilation's C
 * heap adds about 25 MiB to the peak. `--liftoff-only` keeps the baseline
 * compiler's code and removes it; it must be given on node's command line
 * (Node 24's V8 freezes its flags after start-up).
 *
 * `BENCH_UNDICI_MB` sets the blob size (default 1024), `BENCH_UNDICI_ROUNDS` the
 * runs per figure (default 3; the median is reported).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { garbagePacer } from '../agent/content/garbage-pacer.js';
import { emitResults, median, result, type BenchResult } from './harness.js';

/** The flags of deploy/systemd/bootfleet-agent.service before `--liftoff-only` (not imported: the client must load nothing else). */
const BASE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--expose-gc'];
const LIFTOFF_FLAGS: readonly string[] = [...BASE_FLAGS, '--liftoff-only'];
const MiB = 1024 * 1024;
const SIZE_MB = Number(process.env.BENCH_UNDICI_MB ?? 1024);
const ROUNDS = Number(process.env.BENCH_UNDICI_ROUNDS ?? 3);
const CHILD_TIMEOUT_MS = 120_000;

type Mode = 'bare' | 'undici' | 'http';

function peakRssMiB(): number {
  const match = /VmHWM:\s+([0-9]+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

/** Consumes a body as transfer.ts does: synchronous writes in 'data', so no backpressure. */
function writeBody(body: NodeJS.ReadableStream, path: string): Promise<number> {
  const fd = openSync(path, 'w');
  const garbage = garbagePacer();
  let bytes = 0;
  return new Promise<number>((resolve, reject) => {
    body.on('data', (chunk: Buffer) => {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      bytes += chunk.length;
      garbage.count(chunk.length);
    });
    body.on('end', () => {
      closeSync(fd);
      resolve(bytes);
    });
    body.on('error', (error: Error) => {
      closeSync(fd);
      reject(error);
    });
  });
}

async function runClient(mode: Mode, url: string, out: string): Promise<void> {
  const start = Date.now();
  let bytes = 0;
  if (mode === 'undici') {
    const { request } = await import('undici');
    const response = await request(url);
    bytes = await writeBody(response.body, out);
  } else if (mode === 'http') {
    const response = await new Promise<IncomingMessage>((resolve, reject) => get(url, resolve).on('error', reject));
    bytes = await writeBody(response, out);
  } else {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  process.stdout.write(`${JSON.stringify({ peakMiB: peakRssMiB(), bytes, ms: Date.now() - start })}\n`);
}

/** Serves `SIZE_MB` MiB of one repeated random chunk, honouring backpressure. */
async function startServer(): Promise<Server> {
  const chunk = randomBytes(64 * 1024);
  const size = SIZE_MB * MiB;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(size) });
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

interface ClientRun {
  readonly peakMiB: number;
  readonly bytes: number;
  readonly ms: number;
}

async function spawnClient(mode: Mode, flags: readonly string[], url: string, out: string): Promise<ClientRun> {
  const script = new URL(import.meta.url).pathname;
  const child = spawn(process.execPath, [...flags, script, '--client', mode, url, out], { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`client ${mode} exited with ${String(code)}`);
  return JSON.parse(text) as ClientRun;
}

async function medianRun(mode: Mode, flags: readonly string[], url: string, out: string): Promise<number> {
  const peaks: number[] = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    const run = await spawnClient(mode, flags, url, out);
    if (mode !== 'bare' && run.bytes !== SIZE_MB * MiB) throw new Error(`client ${mode} got ${run.bytes} bytes`);
    console.log(`  ${mode} [${flags.join(' ')}]: peak ${run.peakMiB.toFixed(1)} MiB, ${run.ms} ms`);
    peaks.push(run.peakMiB);
  }
  return Math.round(median(peaks) * 10) / 10;
}

async function main(): Promise<void> {
  console.log(`undici body RSS: GET of ${SIZE_MB} MiB from a local server (Node ${process.version}), median of ${ROUNDS}`);
  const server = await startServer();
  const work = mkdtempSync(join(tmpdir(), 'undici-rss-'));
  try {
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/blob`;
    const out = join(work, 'blob');
    const bare = await medianRun('bare', BASE_FLAGS, url, out);
    const undici = await medianRun('undici', BASE_FLAGS, url, out);
    const liftoff = await medianRun('undici', LIFTOFF_FLAGS, url, out);
    const http = await medianRun('http', BASE_FLAGS, url, out);
    const baseName = `bare node (${BASE_FLAGS.join(' ')})`;
    const what = `GET of ${SIZE_MB} MiB`;
    const results: BenchResult[] = [
      result(`peak RSS, undici request() ${what}`, undici, 'MiB', baseName, bare, false, 'without --liftoff-only, for comparison'),
      result(`peak RSS, undici request() ${what}, --liftoff-only`, liftoff, 'MiB', baseName, bare, false, 'the agent units\' flags'),
      result(`peak RSS, node:http ${what}`, http, 'MiB', baseName, bare, false, 'reference: no WebAssembly parser'),
      result(`peak RSS, undici request() ${what}, --liftoff-only, against node:http`, liftoff, 'MiB', `node:http ${what}`, http, false, 'target <= 1.1: undici costs what node:http does'),
    ];
    for (const r of results) console.log(`${r.name}: ${String(r.value)} MiB  x${r.ratio.toFixed(2)} ${r.baselineName} (${String(r.baselineValue)} MiB)`);
    emitResults(results);
  } finally {
    server.close();
    rmSync(work, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === '--client') await runClient(args[1] as Mode, args[2] ?? '', args[3] ?? '');
else await main();
