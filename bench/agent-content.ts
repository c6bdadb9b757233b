/**
 * Benchmarks of the agent's content side (issue #4). Prints ratios against
 * baselines measured in the same run, on the same machine:
 *   1. bytes on the wire for an update changing 1 of 10 layers, against the
 *      missing bytes and against a full pull; the same over a link cut every MiB;
 *   2. fetch + verify + unpack of a large gzip layer against `curl | tar -xz`
 *      of the same blob, and our unpack alone against `tar -xzf`;
 *   3. memory (bench/agent-memory.ts): peak RSS of the agent pulling and
 *      unpacking a large layer, of the idle CLI and of the idle daemon, each
 *      against a bare node process with the same flags (target < 80 MB).
 * Sizes: BENCH_LAYER_MB (default 200), BENCH_RSS_MB (default 1024); BENCH_ONLY=rss for memory only.
 * Run: `npm run build && node dist/bench/agent-content.js`; the last stdout
 * line is `BENCH_RESULTS [...]` (bench/harness.ts emitResults).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore, DEFAULT_RETRY_POLICY, applyLayer, pullImage, unpackImage } from '../agent/index.js';
import { MediaType, parseDigest } from '../protocol/index.js';
import { startFaultProxy } from '../test/helpers/fault-proxy.js';
import { writeLayout } from '../test/helpers/oci-layout-writer.js';
import { pushLayout, startRegistry } from '../test/helpers/distribution-registry.js';
import { buildTar } from '../test/helpers/tar-build.js';
import { benchMemory } from './agent-memory.js';
import { layoutFromFiles } from './bench-layout.js';
import { emitResults, result, type BenchResult } from './harness.js';
import { compressFile, writeTar } from './layer-fixtures.js';

const MiB = 1024 * 1024;
const layerMb = Number(process.env.BENCH_LAYER_MB ?? 200);
const rssMb = Number(process.env.BENCH_RSS_MB ?? 1024);
const fastRetry = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 10, maxDelayMs: 100 };
const results: BenchResult[] = [];

/** Prints ours / baseline and keeps both for emitResults (lower is better for every figure here). */
function report(name: string, value: number, unit: string, baselineName: string, baselineValue: number, note: string): void {
  const ratio = Math.round((value / baselineValue) * 1000) / 1000;
  results.push(result(name, value, unit, baselineName, baselineValue, false, note));
  console.log(`${name.padEnd(36)} ${ratio.toString().padStart(10)}  ${note}`);
}

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

async function benchUpdateBytes(work: string, registry: string): Promise<void> {
  const layout = join(work, 'update-layout');
  const base = Array.from({ length: 10 }, (_, i) => buildTar([{ path: `l${i}.bin`, body: randomBytes(2 * MiB) }]));
  const v2 = base.map((tar, i) => (i === 7 ? buildTar([{ path: 'l7.bin', body: randomBytes(2 * MiB) }]) : tar));
  writeLayout(layout, [
    { tag: 'v1', layers: base.map((tar) => ({ tar, compression: 'gzip' as const })) },
    { tag: 'v2', layers: v2.map((tar) => ({ tar, compression: 'gzip' as const })) },
  ]);
  for (const tag of ['v1', 'v2']) await pushLayout('skopeo', layout, tag, `${registry}/bench/update:${tag}`);
  for (const cut of [undefined, MiB]) {
    const proxy = await startFaultProxy(registry, cut === undefined ? {} : { cutEveryBytes: cut });
    try {
      const store = await ContentStore.open(join(work, `update-${String(cut)}`));
      await pullImage(store, `${proxy.host}/bench/update:v1`, { retry: fastRetry });
      const before = proxy.bytesToClients();
      const update = await pullImage(store, `${proxy.host}/bench/update:v2`, { retry: fastRetry });
      const updateWire = proxy.bytesToClients() - before;
      const full = await ContentStore.open(join(work, `full-${String(cut)}`));
      const beforeFull = proxy.bytesToClients();
      await pullImage(full, `${proxy.host}/bench/update:v2`, { retry: fastRetry });
      const fullWire = proxy.bytesToClients() - beforeFull;
      const label = cut === undefined ? 'clean link' : 'link cut every 1 MiB';
      const tag = cut === undefined ? 'clean' : 'cut 1MiB';
      report(`update wire/missing (${tag})`, updateWire, 'bytes', 'missing bytes', update.missingBytes, `${label}; bytes at the proxy incl. HTTP headers and manifests; target <= ${cut === undefined ? '1.01' : '1.05'}`);
      report(`update wire/full pull (${tag})`, updateWire, 'bytes', 'full pull', fullWire, `${label}; 1 of 10 layers changed`);
    } finally {
      await proxy.close();
    }
  }
}

async function makeLargeImage(work: string, registry: string, name: string, mb: number, random: boolean): Promise<{ digest: string; size: number }> {
  const tar = join(work, `${name}.tar`);
  const diffId = await writeTar(tar, { totalBytes: mb * MiB, files: Math.max(100, Math.round((mb / 200) * 15_000)), random });
  await compressFile(tar, `${tar}.gz`, 'gzip');
  rmSync(tar);
  const layout = join(work, `${name}-layout`);
  const [layer] = await layoutFromFiles(layout, 'v1', [{ path: `${tar}.gz`, mediaType: MediaType.ociLayerGzip, diffId }]);
  await pushLayout('skopeo', layout, 'v1', `${registry}/bench/${name}:v1`);
  rmSync(layout, { recursive: true, force: true });
  if (layer === undefined) throw new Error('no layer');
  return layer;
}

async function benchLargeLayer(work: string, registry: string): Promise<void> {
  const layer = await makeLargeImage(work, registry, 'large', layerMb, false);
  const url = `http://${registry}/v2/bench/large/blobs/${layer.digest}`;
  const baselineDir = join(work, 'baseline-root');
  mkdirSync(baselineDir);
  const baseline = await seconds(async () => {
    execFileSync('sh', ['-c', `curl -sf "${url}" | tar -xzf - -C "${baselineDir}"`]);
    await Promise.resolve();
  });
  const store = await ContentStore.open(join(work, 'large-store'));
  let manifest: Awaited<ReturnType<typeof pullImage>>['manifest'] | undefined;
  const fetchVerify = await seconds(async () => {
    manifest = (await pullImage(store, `${registry}/bench/large:v1`)).manifest;
  });
  if (manifest === undefined) throw new Error('no manifest');
  const image = manifest;
  const unpack = await seconds(() => unpackImage(store, image, join(work, 'ours-root')));
  const blob = store.blobPath(parseDigest(layer.digest));
  const tarOnlyDir = join(work, 'tar-only-root');
  mkdirSync(tarOnlyDir);
  const tarOnly = await seconds(async () => {
    execFileSync('tar', ['-xzf', blob, '-C', tarOnlyDir]);
    await Promise.resolve();
  });
  const applyRoot = join(work, 'apply-only-root');
  mkdirSync(applyRoot);
  const applyOnly = await seconds(() => applyLayer(applyRoot, { blob: store.openRead(layer), compression: 'gzip' }));
  console.log(`  ${layerMb} MB layer (${(layer.size / MiB).toFixed(0)} MiB gzip): curl|tar ${baseline.toFixed(2)} s, ours fetch+verify ${fetchVerify.toFixed(2)} s + unpack ${unpack.toFixed(2)} s`);
  report('fetch+verify+unpack / curl|tar -xz', fetchVerify + unpack, 's', 'curl | tar -xz', baseline, `${layerMb} MB layer; target <= 1.5`);
  report('unpack only / tar -xzf', applyOnly, 's', 'tar -xzf', tarOnly, `same blob from the store, tar ${tarOnly.toFixed(2)} s, ours ${applyOnly.toFixed(2)} s`);

  const proxy = await startFaultProxy(registry, { cutEveryBytes: 8 * MiB });
  try {
    const cutStore = await ContentStore.open(join(work, 'cut-store'));
    const resumed = await seconds(() => pullImage(cutStore, `${proxy.host}/bench/large:v1`, { retry: fastRetry }));
    report('fetch time, cut every 8 MiB / clean', resumed, 's', 'clean fetch', fetchVerify, 'resume overhead (10-100 ms backoff per cut)');
  } finally {
    await proxy.close();
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bf-bench-'));
  const registry = await startRegistry('docker-registry');
  try {
    console.log(`bootfleet agent content bench (Node ${process.version})`);
    // BENCH_ONLY=rss runs just the memory figures.
    if (process.env.BENCH_ONLY !== 'rss') {
      await benchUpdateBytes(work, registry.host);
      await benchLargeLayer(work, registry.host);
    }
    if (rssMb > 0) {
      await makeLargeImage(work, registry.host, 'huge', rssMb, true);
      results.push(...(await benchMemory({ work, image: `${registry.host}/bench/huge:v1`, layerMb: rssMb })));
    }
    emitResults(results);
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
