/**
 * pullImage takes an AbortSignal (a daemon stopping, a superseded desired
 * state): a pull over a capped link against the real embedded registry is
 * aborted in the middle of a layer; it rejects at once, the blob is not in
 * the store, the partial file stays, and the next pull resumes from it.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ContentStore } from '../../agent/content/store.js';
import { partialPaths } from '../../agent/fetch/partial-state.js';
import { pullImage } from '../../agent/fetch/pull-image.js';
import { parseDigest } from '../../protocol/index.js';
import { randomLayer } from '../helpers/agent-daemon.js';
import { DEVICE_TOKEN, pushImage, type Blob } from '../helpers/registry.js';
import { useRegistryServer } from '../helpers/registry-server.js';

const credentials = { username: 'device', password: DEVICE_TOKEN };

describe('pullImage with an AbortSignal', () => {
  const reg = useRegistryServer('bootfleet-pull-abort-');
  let ref: string;
  let layer: Blob;

  beforeAll(async () => {
    layer = randomLayer(2 * 1024 * 1024);
    const manifest = await pushImage(reg.url, 'fleet/big', [layer]);
    ref = `${reg.host}/fleet/big@${manifest.digest}`;
  });

  it('stops in the middle of a layer at once, keeps the partial file, and the next pull resumes it', async () => {
    const store = await ContentStore.open(join(reg.dir, 'agent'));
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
