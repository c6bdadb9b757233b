/**
 * Blob download throughput over loopback: bootfleet's registry against a bare
 * node:http server, Debian's docker-registry and nginx (when installed), all
 * serving the same file in the same run; printed as ratios. Then server memory
 * while many clients download at once (docs/registry.md, "Benchmark").
 *
 *   npm run build && node dist/bench/registry-blobs.js
 *   BENCH_BLOB_MIB=512 BENCH_CLIENTS=4 BENCH_ROUNDS=3 BENCH_MEMORY_CLIENTS=20 BENCH_MEMORY_MIB=1024
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitResults, result, type BenchResult } from './harness.js';
import { findTool } from './lib/find-tool.js';
import { downloadRound, median, rssOf, type RoundResult } from './lib/measure.js';
import { startBootfleet, startDistribution, startNginx, startNodeBaseline, type Running } from './lib/targets.js';

const MIB = 1024 * 1024;

function envInt(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? '');
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/** Writes `mib` MiB of random bytes; returns its sha256 digest. */
async function writeRandomFile(path: string, mib: number): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (let i = 0; i < mib; i += 1) {
      const chunk = randomBytes(MIB);
      hash.update(chunk);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
  return `sha256:${hash.digest('hex')}`;
}

interface Measured {
  readonly name: string;
  readonly bytesPerSecond: number;
  readonly peakRssMiB: number | undefined;
}

/**
 * All servers run at once and rounds are interleaved (round r measures every
 * target in turn, starting with a different one each round), so that load from other processes on a shared machine
 * falls on every target alike; the median of the rounds is kept.
 */
async function measureAll(running: readonly Running[], clients: number, rounds: number, size: number): Promise<Measured[]> {
  for (const r of running) await downloadRound(r.target, 1, size); // warm page cache and servers
  const samples = running.map(() => [] as RoundResult[]);
  for (let round = 0; round < rounds; round += 1) {
    // Each round starts with another target, so no server always runs right after the same one.
    for (let k = 0; k < running.length; k += 1) {
      const i = (round + k) % running.length;
      const r = running[i];
      if (r !== undefined) samples[i]?.push(await downloadRound(r.target, clients, size));
    }
  }
  return running.map((r, i) => {
    const results = samples[i] ?? [];
    const peaks = results.map((x) => x.peakRssBytes).filter((p): p is number => p !== undefined);
    return {
      name: r.target.name,
      bytesPerSecond: median(results.map((x) => x.bytesPerSecond)),
      peakRssMiB: peaks.length === 0 ? undefined : Math.max(...peaks) / MIB,
    };
  });
}

async function throughput(work: string, cliPath: string): Promise<BenchResult[]> {
  const mib = envInt('BENCH_BLOB_MIB', 512);
  const clients = envInt('BENCH_CLIENTS', 4);
  const rounds = envInt('BENCH_ROUNDS', 5);
  const file = join(work, 'blob.bin');
  const digest = await writeRandomFile(file, mib);
  const size = mib * MIB;
  const starters: (() => Promise<Running>)[] = [() => startNodeBaseline(file), () => startBootfleet(work, file, digest, cliPath)];
  const distribution = findTool('docker-registry');
  if (distribution !== undefined) starters.push(() => startDistribution(work, file, digest, distribution));
  const nginx = findTool('nginx');
  if (nginx !== undefined) starters.push(() => startNginx(work, nginx));
  const running: Running[] = [];
  try {
    for (const start of starters) running.push(await start());
    const measured = await measureAll(running, clients, rounds, size);
    report(measured, { mib, clients, rounds });
    return throughputResults(measured, { mib, clients, rounds });
  } finally {
    for (const r of running) await r.stop();
  }
}

function report(measured: readonly Measured[], setup: { mib: number; clients: number; rounds: number }): void {
  process.stdout.write(`blob ${setup.mib} MiB, ${setup.clients} concurrent curl clients, median of ${setup.rounds} rounds\n`);
  for (const m of measured) {
    const rss = m.peakRssMiB === undefined ? '' : `, server peak RSS ${m.peakRssMiB.toFixed(0)} MiB`;
    process.stdout.write(`  ${m.name.padEnd(32)} ${(m.bytesPerSecond / 1e9).toFixed(3)} GB/s${rss}\n`);
  }
  const ours = measured.find((m) => m.name.startsWith('bootfleet'));
  if (ours === undefined) return;
  for (const other of measured) {
    if (other === ours) continue;
    process.stdout.write(`  ratio bootfleet / ${other.name}: ${(ours.bytesPerSecond / other.bytesPerSecond).toFixed(2)}x\n`);
  }
}

/**
 * Targets: at least 0.8 of a bare node:http server and of Distribution (the
 * registry must not be the bottleneck of a fleet pull); nginx's sendfile skips
 * user space, so 0.4 of it (ANCHORS: a Fastify Range route made about 0.5).
 */
const TARGETS: Record<string, number> = { node: 0.8, 'docker-registry': 0.8, nginx: 0.4 };

function throughputResults(measured: readonly Measured[], setup: { mib: number; clients: number; rounds: number }): BenchResult[] {
  const ours = measured.find((m) => m.name.startsWith('bootfleet'));
  if (ours === undefined) return [];
  return measured
    .filter((m) => m !== ours)
    .map((other) => {
      const target = Object.entries(TARGETS).find(([prefix]) => other.name.startsWith(prefix))?.[1] ?? 0.8;
      const name = `blob download, ${String(setup.mib)} MiB x ${String(setup.clients)} clients (median of ${String(setup.rounds)})`;
      return result(name, ours.bytesPerSecond / 1e9, 'GB/s', other.name, other.bytesPerSecond / 1e9, true, `target >= ${String(target)}`);
    });
}

/** Many clients downloading a large blob at once: the server's RSS must stay flat (streaming, never buffering). */
async function memory(work: string, cliPath: string): Promise<BenchResult[]> {
  const clients = envInt('BENCH_MEMORY_CLIENTS', 20);
  const mib = envInt('BENCH_MEMORY_MIB', 1024);
  const file = join(work, 'big.bin');
  const digest = await writeRandomFile(file, mib);
  const running = await startBootfleet(join(work), file, digest, cliPath);
  try {
    const before = running.target.pid === undefined ? undefined : await rssOf(running.target.pid);
    const round = await downloadRound(running.target, clients, mib * MIB);
    const fmt = (b: number | undefined): string => (b === undefined ? '?' : `${(b / MIB).toFixed(0)} MiB`);
    process.stdout.write(`memory: ${clients} clients x ${mib} MiB: ${(round.bytesPerSecond / 1e9).toFixed(3)} GB/s; server RSS ${fmt(before)} before, peak ${fmt(round.peakRssBytes)}\n`);
    if (before === undefined || round.peakRssBytes === undefined) throw new Error('the server RSS could not be read');
    // Streaming: the peak must not grow with the blob (here 20 x 1 GiB), only by buffers per client.
    return [result(`server peak RSS, ${String(clients)} clients x ${String(mib)} MiB`, round.peakRssBytes / MIB, 'MiB', 'the same server idle', before / MIB, false, 'target <= 2.0')];
  } finally {
    await running.stop();
  }
}

async function main(): Promise<void> {
  const cliPath = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const work = await mkdtemp(join(tmpdir(), 'bootfleet-bench-'));
  try {
    const results = await throughput(work, cliPath);
    if (process.env.BENCH_MEMORY !== '0') results.push(...(await memory(work, cliPath)));
    emitResults(results);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
