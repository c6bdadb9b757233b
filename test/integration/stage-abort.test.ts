/**
 * A newer desired state stops an unpack in progress (docs/agent-daemon.md, "Superseding a running update"):
 * real layers in a real content store, the real layer applier and deployer. Aborted at a layer boundary or
 * inside a layer, the stage fails, nothing half-made stays under deployments/, and the state is unchanged.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore } from '../../agent/content/store.js';
import { Deployer, rootfsBackend } from '../../agent/deploy/index.js';
import { contentStageSource } from '../../agent/pipeline/content-source.js';
import { parseDigest } from '../../protocol/index.js';
import { writeLayout } from '../helpers/oci-layout-writer.js';
import { buildTar } from '../helpers/tar-build.js';
import { makeTree, treeSource } from '../helpers/trees.js';

let dir: string;
let data: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootfleet-stage-abort-'));
  data = join(dir, 'data');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A provisioned device and an image of two layers (the first with 64 files of 256 KiB) in its store. */
async function setUp() {
  const deployer = new Deployer({ dataDir: data, backend: rootfsBackend({ dataDir: data }) });
  await deployer.provision(treeSource(await makeTree(join(dir, 't1'), '1.0'), '1.0'));
  const big = buildTar([{ path: 'big/', type: 'Directory' }, ...Array.from({ length: 64 }, (_, i) => ({ path: `big/f${i}`, body: randomBytes(256 * 1024) }))]);
  const small = buildTar([{ path: 'etc/', type: 'Directory' }, { path: 'etc/version', body: '2\n' }]);
  const [image] = writeLayout(join(data, 'content'), [{ tag: 'v2', layers: [{ tar: big, compression: 'gzip' }, { tar: small, compression: 'none' }] }]);
  if (image === undefined) throw new Error('no image');
  const store = await ContentStore.open(data);
  const manifestBytes = await readFile(store.blobPath(parseDigest(image.manifest.digest)));
  return { deployer, store, image, manifestBytes };
}

describe('stopping an unpack', () => {
  for (const where of ['at the next layer', 'inside a layer'] as const) {
    it(`${where}: the stage fails, its staging directory is removed and the state is unchanged`, async () => {
      const { deployer, store, image, manifestBytes } = await setUp();
      const before = await deployer.status();
      const controller = new AbortController();
      const source = contentStageSource(store, {
        manifest: image.manifest,
        manifestBytes,
        version: '2.0',
        signal: controller.signal,
        progress: (event) => {
          if (event.event !== 'unpack-layer') return;
          if (where === 'at the next layer' && event.index === 1) controller.abort();
          if (where === 'inside a layer' && event.index === 0) setImmediate(() => controller.abort());
        },
      });
      const error = await deployer.stage(source).then(() => undefined, (e: unknown) => e);
      // Stopped in the layer the abort came in: the abort's reason is the failure's cause.
      expect(String(error)).toContain(where === 'at the next layer' ? 'layer 1' : 'layer 0');
      expect(controller.signal.aborted).toBe(true);
      expect((await readdir(join(data, 'deployments'))).filter((name) => name.startsWith('.staging-'))).toEqual([]);
      expect(await deployer.status()).toEqual(before);
    });
  }
});
