/**
 * pullImage takes an AbortSignal (a daemon stopping, a superseded desired
 * state): a pull over a capped link against the real embedded registry is
 * aborted in the middle of a layer; it rejects at once, the blob is not in
 * the store, the partial file stays, and the next pull resumes from it.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore } from '../../agent/content/store.js';
import { partialPaths } from '../../agent/fetch/partial-state.js';
import { pullImage } from '../../agent/fetch/pull-image.js';
import { parseDigest } from '../../protocol/index.js';
import { startServer, type RunningServer } from '../../server/index.js';
import { randomLayer } from '../helpers/agent-daemon.js';
import { DEVICE_TOKEN, pushImage, registryServerConfig, tempDir, type Blob } from '../helpers/registry.js';

const credentials = { username: 'device', password: DEVICE_TOKEN };

describe('pullImage with an AbortSignal', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: RunningServer;
  let ref: string;
  let layer: Blob;

  beforeAll(async () => {
    dir = await tempDir('bootfleet-pull-abort-');
    server = await startServer(registryServerConfig(join(dir.path, 'registry')));
    layer = randomLayer(2 * 1024 * 1024);
    const manifest = await pushImage(server.url, 'fleet/big', [layer]);
    ref = `${server.url.replace(/^http:\/\//, '')}/fleet/big@${manifest.digest}`;
  });
  afterAll(async () => {
    await server.close();
    await dir.remove();
  });

  it('stops in the middle of a layer at once, keeps the partial file, and the next pull resumes it', async () => {
    const store = await ContentStore.open(join(dir.path, 'agent'));
    const controller = new AbortController();
    let abortedAt = 0;
    const pulling = pullImage(store, ref, {
      credentials,
      bandwidthBytesPerSecond: 256 * 1024,
      signal: controller.signal,
      progress: (event) => {
        if (event.event === 'blob-progress' && event.digest === layer.digest && event.done > 0 && abortedAt === 0) {
          abortedAt = performance.now();
          controller.abort(new Error('superseded'));
        }
      },
    });
    await expect(pulling).rejects.toThrow('superseded');
    // At the 256 KiB/s cap the 2 MiB layer would take about 8 s more.
    expect(performance.now() - abortedAt).toBeLessThan(1_000);
    const digest = parseDigest(layer.digest);
    expect(await store.has(layer)).toBe(false);
    const kept = (await stat(partialPaths(store.partialDir, digest).data)).size;
    expect(kept).toBeGreaterThan(0);

    const resumed = await pullImage(store, ref, { credentials });
    expect(await store.has(layer)).toBe(true);
    expect(resumed.wireBytes).toBeLessThan(layer.size);
  }, 30_000);
});
