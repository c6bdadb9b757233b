/**
 * Crash resume: a real `bootfleet agent pull` process is killed with SIGKILL
 * in the middle of a layer (over a throttled link, so the kill lands mid-
 * transfer), then a new process resumes. The bytes counted at the proxy and
 * the agent's own report show that what reached the disk before the kill was
 * not fetched again. Runs the built CLI (`npm test` builds first).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore, listInventory, type ProgressEvent } from '../../agent/index.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { writeLayout } from '../helpers/oci-layout-writer.js';
import { pushLayout, startRegistry, type TestRegistry } from '../helpers/distribution-registry.js';
import { buildTar } from '../helpers/tar-build.js';
import { requireTool } from '../helpers/tools.js';

const registryTool = requireTool('docker-registry');
const skopeo = requireTool('skopeo');
const creds = { username: 'device', password: 'pw' };
const cli = new URL('../../dist/bundle/main.js', import.meta.url).pathname;

function runPull(host: string, dataDir: string): { child: ReturnType<typeof spawn>; done: Promise<{ code: number | null; events: ProgressEvent[] }> } {
  const child = spawn(process.execPath, [cli, 'agent', 'pull', `${host}/fleet/big:v1`, '--data-dir', dataDir, '--json', '--username', creds.username], {
    env: { ...process.env, BOOTFLEET_REGISTRY_PASSWORD: creds.password },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr.resume();
  const done = new Promise<{ code: number | null; events: ProgressEvent[] }>((resolve) => {
    child.on('close', (code) => {
      const events = out
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as ProgressEvent);
      resolve({ code, events });
    });
  });
  return { child, done };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(registryTool.skip || skopeo.skip)('kill -9 during a pull, then resume', () => {
  let work: string;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let layerSize = 0;
  let layerHex = '';

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first (npm test does)`);
    work = mkdtempSync(join(tmpdir(), 'bf-kill-'));
    registry = await startRegistry(registryTool.path ?? 'docker-registry', creds);
    const tar = buildTar([{ path: 'big.bin', body: randomBytes(8 * 1024 * 1024) }]);
    const [image] = writeLayout(join(work, 'layout'), [{ tag: 'v1', layers: [{ tar, compression: 'none' }] }]);
    layerSize = image?.layers[0]?.size ?? 0;
    layerHex = image?.layers[0]?.digest.slice(7) ?? '';
    await pushLayout(skopeo.path ?? 'skopeo', join(work, 'layout'), 'v1', `${registry.host}/fleet/big:v1`, creds);
    proxy = await startFaultProxy(registry.host, { throttleBytesPerSecond: 2 * 1024 * 1024 });
  }, 60_000);
  afterAll(async () => {
    await proxy.close();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('resumes in a new process from where the killed one stopped, fetching no byte twice', async () => {
    const dataDir = join(work, 'agent');
    const partial = join(dataDir, 'partial', `sha256-${layerHex}`);
    const first = runPull(proxy.host, dataDir);
    const size = (): number => (existsSync(partial) ? statSync(partial).size : 0);
    await waitFor(() => size() >= 2 * 1024 * 1024, 'the first process to download 2 MiB');
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.code).toBeNull();
    const kept = size();
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(layerSize);

    proxy.setFaults({});
    const before = proxy.bytesToClients();
    const second = await runPull(proxy.host, dataDir).done;
    expect(second.code).toBe(0);
    expect(second.events).toContainEqual({ event: 'blob-resume', digest: `sha256:${layerHex}`, offset: kept });
    // The second process received exactly the rest of the layer (the config was already stored).
    expect(second.events.at(-1)).toMatchObject({ event: 'pull-done', wireBytes: layerSize - kept });
    const onTheWire = proxy.bytesToClients() - before;
    expect(onTheWire).toBeGreaterThanOrEqual(layerSize - kept);
    expect(onTheWire).toBeLessThan(layerSize - kept + 16 * 1024); // + HTTP headers and the manifest
    const store = await ContentStore.open(dataDir);
    expect(await listInventory(store)).toContainEqual({ digest: `sha256:${layerHex}`, size: layerSize });
    expect(existsSync(partial)).toBe(false);
  });
});
