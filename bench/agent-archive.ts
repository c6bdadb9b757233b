/**
 * `npm run bench:archive`: what reading an oci-archive safely costs
 * (`bootfleet agent apply --archive`, agent/archive). Ours: importArchive,
 * which parses the tar with node-tar as a parser only, hashes every blob as it
 * streams to disk, checks it, selects the image and moves its blobs into the
 * content store. Baseline, in the same run on the same file: what a careful
 * script does with system tools, `tar -xf` then `sha256sum` over the blobs.
 * Each is run three times, alternating, and the medians compared.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { importArchive } from '../agent/archive/index.js';
import { ContentStore } from '../agent/content/store.js';
import { MediaType } from '../protocol/index.js';
import { layoutFromFiles } from './bench-layout.js';
import { emitResults, median, result } from './harness.js';
import { writeTar } from './layer-fixtures.js';

const LAYER_MB = Number(process.env.BENCH_ARCHIVE_MB ?? 256);
const ROUNDS = 3;

async function makeArchive(work: string): Promise<string> {
  const layer = join(work, 'layer.tar');
  const diffId = await writeTar(layer, { totalBytes: LAYER_MB * 1024 * 1024, files: 2000, random: true });
  const layout = join(work, 'layout');
  await layoutFromFiles(layout, 'v1', [{ path: layer, mediaType: MediaType.ociLayerTar, diffId }]);
  const archive = join(work, 'image.tar');
  execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
  rmSync(layout, { recursive: true, force: true });
  return archive;
}

async function timeOurs(work: string, archive: string, round: number): Promise<number> {
  const store = await ContentStore.open(join(work, `agent-${round}`));
  const start = performance.now();
  await importArchive(store, archive);
  const ms = performance.now() - start;
  rmSync(join(work, `agent-${round}`), { recursive: true, force: true });
  return ms;
}

function timeBaseline(work: string, archive: string, round: number): number {
  const dest = join(work, `tar-${round}`);
  execFileSync('mkdir', ['-p', dest]);
  const start = performance.now();
  execFileSync('tar', ['-C', dest, '-xf', archive]);
  execFileSync('sh', ['-c', `cd ${dest}/blobs/sha256 && sha256sum * > /dev/null`]);
  const ms = performance.now() - start;
  rmSync(dest, { recursive: true, force: true });
  return ms;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bf-bench-archive-'));
  try {
    const archive = await makeArchive(work);
    const ours: number[] = [];
    const baseline: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      ours.push(await timeOurs(work, archive, round));
      baseline.push(timeBaseline(work, archive, round));
    }
    const mbPerSecond = (ms: number): number => LAYER_MB / (ms / 1000);
    const r = result(
      `apply --archive import, ${LAYER_MB} MiB layer`,
      mbPerSecond(median(ours)),
      'MiB/s',
      'tar -xf + sha256sum',
      mbPerSecond(median(baseline)),
      true,
      'target >= 0.5 (parse, hash and verify in one pass, fsync each blob)',
    );
    console.log(`archive import: ${r.value.toFixed(0)} MiB/s; tar -xf + sha256sum: ${r.baselineValue.toFixed(0)} MiB/s; ratio ${r.ratio.toFixed(2)}`);
    emitResults([r]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
