/**
 * Pulls from a second, independent registry: Debian's docker-registry
 * (Distribution) on loopback with htpasswd basic auth, images pushed with
 * real skopeo. Also the Bearer token challenge flow through a token front,
 * image index to platform, only-missing-layers and gc.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectGarbage, ContentStore, listInventory, pullImage, unpackImage, type ProgressEvent } from '../../agent/index.js';
import { digestOf, MediaType } from '../../protocol/index.js';
import { startHttpFaultProxy, type HttpFaultProxy } from '../helpers/http-fault-proxy.js';
import { writeBlob, writeImage, writeLayout } from '../helpers/oci-layout-writer.js';
import { pushLayout, startRegistry, type TestRegistry } from '../helpers/distribution-registry.js';
import { buildTar } from '../helpers/tar-build.js';
import { requireTool } from '../helpers/tools.js';

const registryTool = requireTool('docker-registry');
const skopeo = requireTool('skopeo');
const creds = { username: 'device', password: 'correct horse battery staple' };

function layerTar(i: number, version: string): Buffer {
  return buildTar([{ path: `layer${i}/`, type: 'Directory' }, { path: `layer${i}/data.bin`, body: randomBytes(64 * 1024 + i) }, { path: `layer${i}/v`, body: version }]);
}

describe.skipIf(registryTool.skip || skopeo.skip)('pull from docker-registry', () => {
  let work: string;
  let registry: TestRegistry;
  let tokenFront: HttpFaultProxy;
  const base = Array.from({ length: 10 }, (_, i) => layerTar(i, 'v1'));
  const changed = layerTar(7, 'v2');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bf-pull-'));
    registry = await startRegistry(registryTool.path ?? 'docker-registry', creds);
    const layout = join(work, 'layout');
    const v2 = base.map((tar, i) => (i === 7 ? changed : tar));
    writeLayout(layout, [
      { tag: 'v1', layers: base.map((tar) => ({ tar, compression: 'gzip' as const })) },
      { tag: 'v2', layers: v2.map((tar) => ({ tar, compression: 'gzip' as const })) },
    ]);
    await pushLayout(skopeo.path ?? 'skopeo', layout, 'v1', `${registry.host}/fleet/os:v1`, creds);
    await pushLayout(skopeo.path ?? 'skopeo', layout, 'v2', `${registry.host}/fleet/os:v2`, creds);
    tokenFront = await startHttpFaultProxy(registry.host, { bearer: creds });
  }, 60_000);
  afterAll(async () => {
    await tokenFront.close();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('pulls with basic auth, verifies, and unpacks what was pushed', async () => {
    const store = await ContentStore.open(join(work, 'basic'));
    const events: ProgressEvent[] = [];
    const result = await pullImage(store, `${registry.host}/fleet/os:v1`, { credentials: creds, progress: (e) => events.push(e) });
    expect(result.layers).toHaveLength(10);
    expect(result.wireBytes).toBe(result.totalBytes);
    const inventory = await listInventory(store);
    for (const layer of result.layers) expect(inventory).toContainEqual({ digest: layer.digest, size: layer.size });
    expect(events.at(-1)).toMatchObject({ event: 'pull-done', wireBytes: result.totalBytes });
    expect(events.some((e) => e.event === 'blob-progress' && e.overallDone === e.overallTotal)).toBe(true);
    const dest = join(work, 'basic-root');
    await unpackImage(store, result.manifest, dest);
    expect(readFileSync(join(dest, 'layer3/v'), 'utf8')).toBe('v1');
  });

  it('fetches only the one changed layer of ten for an update, then gc frees the old one', async () => {
    const store = await ContentStore.open(join(work, 'update'));
    const v1 = await pullImage(store, `${registry.host}/fleet/os:v1`, { credentials: creds });
    const v2 = await pullImage(store, `${registry.host}/fleet/os:v2`, { credentials: creds });
    const changedLayer = v2.layers[7];
    expect(changedLayer?.digest).not.toBe(v1.layers[7]?.digest);
    // Only the changed layer and the new config cross the link.
    expect(v2.missingBytes).toBe((changedLayer?.size ?? 0) + v2.config.size);
    expect(v2.wireBytes).toBe(v2.missingBytes);
    await store.removeRef(`${registry.host}/fleet/os:v1`);
    const gc = await collectGarbage(store);
    expect(gc.removed).toContain(v1.layers[7]?.digest);
    expect(gc.removed).toContain(v1.manifest.digest);
    expect(await store.has(v2.layers[0] ?? { digest: '', size: 0 })).toBe(true);
  });

  it('refuses a wrong password and a missing one with BOOTFLEET_REGISTRY_AUTH_FAILED', async () => {
    const store = await ContentStore.open(join(work, 'auth'));
    await expect(pullImage(store, `${registry.host}/fleet/os:v1`, { credentials: { ...creds, password: 'wrong' } })).rejects.toMatchObject({
      code: 'BOOTFLEET_REGISTRY_AUTH_FAILED',
    });
    await expect(pullImage(store, `${registry.host}/fleet/os:v1`)).rejects.toMatchObject({ code: 'BOOTFLEET_REGISTRY_AUTH_FAILED' });
    expect(await listInventory(store)).toEqual([]);
  });

  it('says BOOTFLEET_REGISTRY_NOT_FOUND for an unknown tag', async () => {
    const store = await ContentStore.open(join(work, 'missing'));
    await expect(pullImage(store, `${registry.host}/fleet/os:nope`, { credentials: creds })).rejects.toMatchObject({ code: 'BOOTFLEET_REGISTRY_NOT_FOUND' });
  });

  it('follows the Bearer token challenge flow', async () => {
    const store = await ContentStore.open(join(work, 'bearer'));
    const result = await pullImage(store, `${tokenFront.host}/fleet/os:v1`, { credentials: creds });
    expect(result.layers).toHaveLength(10);
    expect(tokenFront.tokensIssued()).toBeGreaterThan(0);
    const other = await ContentStore.open(join(work, 'bearer-bad'));
    await expect(pullImage(other, `${tokenFront.host}/fleet/os:v1`, { credentials: { ...creds, password: 'nope' } })).rejects.toMatchObject({
      code: 'BOOTFLEET_REGISTRY_AUTH_FAILED',
    });
  });

  it('follows an image index to the device platform, by tag and by digest', async () => {
    const layout = join(work, 'multi');
    writeLayout(layout, []);
    const amd = writeImage(layout, { tag: 'x', architecture: 'amd64', layers: [{ tar: layerTar(1, 'amd64'), compression: 'gzip' }] });
    const arm = writeImage(layout, { tag: 'x', architecture: 'arm64', layers: [{ tar: layerTar(1, 'arm64'), compression: 'zstd' }] });
    const index = writeBlob(
      layout,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
          { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
      MediaType.ociIndex,
    );
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
    await pushLayout(skopeo.path ?? 'skopeo', layout, 'multi', `${registry.host}/fleet/multi:1`, creds, true);
    const store = await ContentStore.open(join(work, 'platform'));
    const arm64 = await pullImage(store, `${registry.host}/fleet/multi:1`, { credentials: creds, platform: { os: 'linux', architecture: 'arm64' } });
    expect(arm64.manifest.digest).toBe(arm.manifest.digest);
    const byDigest = await pullImage(store, `${registry.host}/fleet/multi@${index.digest}`, { credentials: creds, platform: { os: 'linux', architecture: 'amd64' } });
    expect(byDigest.manifest.digest).toBe(amd.manifest.digest);
    await expect(
      pullImage(store, `${registry.host}/fleet/multi:1`, { credentials: creds, platform: { os: 'linux', architecture: 's390x' } }),
    ).rejects.toMatchObject({ code: 'BOOTFLEET_REGISTRY_PLATFORM_MISSING' });
    const dest = join(work, 'arm-root');
    await unpackImage(store, arm64.manifest, dest);
    expect(readFileSync(join(dest, 'layer1/v'), 'utf8')).toBe('arm64');
    expect(digestOf(readFileSync(join(dest, 'layer1/v'))).value).toBe(digestOf('arm64').value);
  });
});
