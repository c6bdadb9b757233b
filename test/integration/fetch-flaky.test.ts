/**
 * Downloads over a bad link: a fault-injecting TCP proxy (cuts, resets,
 * stalls, a flipped byte) and an HTTP fault proxy (5xx, Range ignored, wrong
 * Content-Range, endless data, corrupt blobs) between the agent and a real
 * docker-registry. The assertions are what a metered device cares about: the
 * blob arrives verified and no byte crosses the link twice unless the data
 * was wrong.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore, DEFAULT_RETRY_POLICY, listInventory, pullImage, type ProgressEvent, type PullOptions } from '../../agent/index.js';
import { startFaultProxy, type FaultProxy, type Faults } from '../helpers/fault-proxy.js';
import { startHttpFaultProxy, type HttpFaultProxy, type HttpFaults } from '../helpers/http-fault-proxy.js';
import { writeLayout } from '../helpers/oci-layout-writer.js';
import { pushLayout, startRegistry, type TestRegistry } from '../helpers/distribution-registry.js';
import { buildTar } from '../helpers/tar-build.js';
import { requireTool } from '../helpers/tools.js';

const registryTool = requireTool('docker-registry');
const skopeo = requireTool('skopeo');
const creds = { username: 'device', password: 'pw' };
const fastRetry = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 5, maxDelayMs: 40 };

describe.skipIf(registryTool.skip || skopeo.skip)('fetch over a flaky link', () => {
  let work: string;
  let registry: TestRegistry;
  let layer: Buffer;
  let layerDigestHex: string;
  const proxies: { close: () => Promise<void> }[] = [];
  let n = 0;
  let configSize = 0;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bf-flaky-'));
    registry = await startRegistry(registryTool.path ?? 'docker-registry', creds);
    layer = buildTar([{ path: 'big.bin', body: randomBytes(3 * 1024 * 1024) }]);
    const [image] = writeLayout(join(work, 'layout'), [{ tag: 'v1', layers: [{ tar: layer, compression: 'none' }] }]);
    layerDigestHex = image?.layers[0]?.digest.slice(7) ?? '';
    await pushLayout(skopeo.path ?? 'skopeo', join(work, 'layout'), 'v1', `${registry.host}/fleet/big:v1`, creds);
  }, 60_000);
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close();
  });
  afterAll(async () => {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function tcp(faults: Faults): Promise<FaultProxy> {
    const proxy = await startFaultProxy(registry.host, faults);
    proxies.push(proxy);
    return proxy;
  }
  async function http(faults: HttpFaults): Promise<HttpFaultProxy> {
    const proxy = await startHttpFaultProxy(registry.host, faults);
    proxies.push(proxy);
    return proxy;
  }
  async function pull(host: string, options: PullOptions = {}): Promise<{ store: ContentStore; events: ProgressEvent[]; wireBytes: number; missingBytes: number }> {
    const store = await ContentStore.open(join(work, `store-${++n}`));
    const events: ProgressEvent[] = [];
    const result = await pullImage(store, `${host}/fleet/big:v1`, { credentials: creds, retry: fastRetry, progress: (e) => events.push(e), ...options });
    configSize = result.config.size;
    return { store, events, wireBytes: result.wireBytes, missingBytes: result.missingBytes };
  }
  const retries = (events: ProgressEvent[]): number => events.filter((e) => e.event === 'blob-retry').length;

  it('resumes after a cut every 256 KiB without fetching a byte twice', async () => {
    const proxy = await tcp({ cutEveryBytes: 256 * 1024 });
    const { events, wireBytes, missingBytes } = await pull(proxy.host);
    expect(wireBytes).toBe(missingBytes);
    expect(retries(events)).toBeGreaterThanOrEqual(10);
    expect(proxy.connections()).toBeGreaterThanOrEqual(12);
  });

  it('resumes after connection resets', async () => {
    const proxy = await tcp({ resetAfterBytes: 700 * 1024 });
    const { wireBytes, missingBytes } = await pull(proxy.host);
    expect(wireBytes).toBe(missingBytes);
  });

  it('treats a stall as a cut after the stall timeout', async () => {
    const proxy = await tcp({ stallAfterBytes: 1024 * 1024 });
    const { events, wireBytes, missingBytes } = await pull(proxy.host, { stallTimeoutMs: 300 });
    expect(wireBytes).toBe(missingBytes);
    expect(retries(events)).toBeGreaterThanOrEqual(3);
  });

  it('discards a blob with a flipped byte and fetches it again', async () => {
    const proxy = await tcp({ flipByteAt: 1024 * 1024 });
    const { store, wireBytes, missingBytes } = await pull(proxy.host);
    expect(wireBytes).toBe(missingBytes + layer.length);
    expect((await listInventory(store)).map((i) => i.digest)).toContain(`sha256:${layerDigestHex}`);
  });

  it('retries 5xx answers with backoff', async () => {
    const proxy = await http({ status503Times: 3 });
    const { events, wireBytes, missingBytes } = await pull(proxy.host);
    expect(wireBytes).toBe(missingBytes);
    expect(retries(events)).toBe(3);
    expect(proxy.blobRequests.filter((r) => r.status === 503)).toHaveLength(3);
  });

  it('gives up with BOOTFLEET_FETCH_RETRIES_EXHAUSTED when the budget is spent', async () => {
    const proxy = await http({ status503Times: 1000 });
    const store = await ContentStore.open(join(work, 'exhausted'));
    await expect(
      pullImage(store, `${proxy.host}/fleet/big:v1`, { credentials: creds, retry: { ...fastRetry, maxConsecutiveFailures: 3 } }),
    ).rejects.toMatchObject({ code: 'BOOTFLEET_FETCH_RETRIES_EXHAUSTED' });
    expect(proxy.blobRequests).toHaveLength(4);
  });

  /** A store whose partial file already holds the first half of the layer, as after a cut. */
  async function halfDone(): Promise<ContentStore> {
    const store = await ContentStore.open(join(work, `store-${++n}`));
    writeFileSync(join(store.partialDir, `sha256-${layerDigestHex}`), layer.subarray(0, layer.length / 2));
    return store;
  }

  it('resumes with Range from the partial file, and copes with a server that ignores Range', async () => {
    const honoured = await http({});
    const store = await halfDone();
    const events: ProgressEvent[] = [];
    const result = await pullImage(store, `${honoured.host}/fleet/big:v1`, { credentials: creds, progress: (e) => events.push(e) });
    expect(events).toContainEqual({ event: 'blob-resume', digest: `sha256:${layerDigestHex}`, offset: layer.length / 2 });
    expect(honoured.blobRequests.find((r) => r.range !== undefined)).toMatchObject({ range: `bytes=${layer.length / 2}-`, status: 206 });
    expect(result.wireBytes).toBe(result.config.size + layer.length / 2);

    const ignoring = await http({ ignoreRange: true });
    const again = await pullImage(await halfDone(), `${ignoring.host}/fleet/big:v1`, { credentials: creds });
    // The server sent everything; the agent skipped what it had and still verified the whole blob.
    expect(again.wireBytes).toBe(again.config.size + layer.length);
  });

  it('after a power loss, refetches from the last durable mark before starting over', async () => {
    const proxy = await http({});
    const store = await ContentStore.open(join(work, `store-${++n}`));
    const half = layer.length / 2;
    const threeQuarters = (layer.length * 3) / 4;
    // The first half was fsynced; the next quarter is what a crashed kernel left: zeros.
    const partial = Buffer.concat([layer.subarray(0, half), Buffer.alloc(threeQuarters - half)]);
    writeFileSync(join(store.partialDir, `sha256-${layerDigestHex}`), partial);
    writeFileSync(join(store.partialDir, `sha256-${layerDigestHex}.json`), JSON.stringify({ digest: `sha256:${layerDigestHex}`, size: layer.length, durable: half }));
    const result = await pullImage(store, `${proxy.host}/fleet/big:v1`, { credentials: creds, retry: fastRetry });
    expect(proxy.blobRequests.filter((r) => r.range !== undefined).map((r) => r.range)).toEqual([`bytes=${threeQuarters}-`, `bytes=${half}-`]);
    expect(result.wireBytes).toBe(result.config.size + (layer.length - threeQuarters) + (layer.length - half));
    expect(await store.has({ digest: `sha256:${layerDigestHex}`, size: layer.length })).toBe(true);
  });

  it('starts again from zero when the Content-Range does not match the request', async () => {
    const proxy = await http({ wrongContentRange: true });
    const store = await halfDone();
    const result = await pullImage(store, `${proxy.host}/fleet/big:v1`, { credentials: creds, retry: fastRetry });
    expect(result.wireBytes).toBe(result.config.size + layer.length);
    expect(proxy.blobRequests.at(-1)?.range).toBeUndefined();
  });

  it('cuts endless data at the descriptor size', async () => {
    const proxy = await http({ appendBytes: 64 * 1024 * 1024 });
    const { store, wireBytes } = await pull(proxy.host);
    expect(wireBytes).toBeLessThan(configSize + layer.length + 2 * 1024 * 1024);
    expect(await store.has({ digest: `sha256:${layerDigestHex}`, size: layer.length })).toBe(true);
  });

  it('refuses a blob that never verifies with BOOTFLEET_FETCH_DIGEST_MISMATCH and keeps nothing', async () => {
    const proxy = await http({ corruptBlobs: true });
    const store = await ContentStore.open(join(work, 'corrupt'));
    await expect(pullImage(store, `${proxy.host}/fleet/big:v1`, { credentials: creds, retry: fastRetry })).rejects.toMatchObject({
      code: 'BOOTFLEET_FETCH_DIGEST_MISMATCH',
    });
    expect(existsSync(join(store.partialDir, `sha256-${layerDigestHex}`))).toBe(false);
    expect(existsSync(join(store.root, 'blobs', 'sha256', layerDigestHex))).toBe(false);
  });

  it('keeps to a bandwidth cap', async () => {
    const proxy = await tcp({});
    const started = performance.now();
    const { wireBytes, missingBytes } = await pull(proxy.host, { bandwidthBytesPerSecond: 2 * 1024 * 1024 });
    expect(wireBytes).toBe(missingBytes);
    // One second of burst, then 2 MiB/s: the last ~1 MiB takes at least ~0.5 s.
    expect(performance.now() - started).toBeGreaterThan(400);
  });
});
