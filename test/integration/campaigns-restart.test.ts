/**
 * A server stopped or killed (`kill -9` of the built CLI's server process)
 * in the middle of a campaign continues exactly where it was: same state,
 * wave, per-device progress and sequences; retained desired states are
 * still there for reconnecting devices; a report sent again after the
 * restart does not count twice; the campaign then completes. And a server
 * killed right after `start` answered keeps the retained desired state of
 * every device it counts as issued, for devices that were offline then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { CampaignStatus } from '../../server/campaigns/index.js';
import { sha256Hex } from '../../server/registry/index.js';
import { waitFor } from '../helpers/mqtt.js';
import { blobOf, OPERATOR_TOKEN } from '../helpers/registry.js';
import { callServer, startTestServer, testAuthConfig, TOKENS, type TestServer } from '../helpers/server.js';
import { enrollSimDevice, pushVersionedImage, serverKeys, type SimDevice } from '../helpers/sim-device.js';
import { freePort, waitUntilReady } from '../helpers/ports.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const built = existsSync(CLI);
if (!built && process.env.CI === 'true') throw new Error(`${CLI} is missing: CI runs \`npm test\`, which builds first`);
const OLD = `sha256:${'0'.repeat(64)}`;

/** What the scenario needs of a server, whichever way it runs. */
interface Handle {
  readonly url: string;
  readonly mqttUrl: string;
  api: TestServer['api'];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scenario(boot: () => Promise<Handle>, crash: () => Promise<void>): Promise<void> {
  let h = await boot();
  const keys = await serverKeys(h);
  const manifest = await pushVersionedImage(h.url, 'fleet/os', [blobOf('layer a'), blobOf('layer b')], '5.1', 'stable');
  const sim: SimDevice[] = [];
  cleanups.push(async () => {
    await Promise.all(sim.map((d) => d.disconnect()));
  });
  for (const id of ['r0', 'r1', 'r2', 'r3']) sim.push(await enrollSimDevice(h, keys, id, { labels: { site: 'lab' }, booted: OLD }));
  for (const device of sim) await waitForReport(h, device.id);
  const body = { id: 'resilient', image: `${new URL(h.url).host}/fleet/os:stable`, selector: { labels: { site: 'lab' } }, waves: [50, 100], successThreshold: 1, failureThreshold: 1 };
  expect((await h.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).status).toBe(201);
  expect((await h.api('POST', '/api/v1/campaigns/resilient/start', { token: TOKENS.operator })).status).toBe(200);
  const first = await status(h);
  const [a, b] = first.devices.filter((d) => d.wave === 0).map((d) => sim.find((s) => s.id === d.device));
  if (a === undefined || b === undefined) throw new Error('wave 0 has not two devices');
  await waitFor(() => a.desired.length === 1 && b.desired.length === 1, 5_000, 'wave 0 desired states');
  const success = await a.report('succeeded', { booted: manifest.digest });
  const before = await waitStatus(h, (s) => s.counts.succeeded === 1, 'the first success');

  await Promise.all(sim.map((d) => d.disconnect()));
  await crash();
  h = await boot();
  const after = await status(h);
  expect(after).toEqual(before);
  for (const device of sim) await device.connect(h.mqttUrl);
  // The retained desired states survived; the devices already hold that seq, so they refuse the replay.
  await waitFor(() => a.refused.length === 1 && b.refused.length === 1, 5_000, 'retained desired states after the restart');
  expect([...a.refused, ...b.refused]).toEqual(['BOOTFLEET_SIG_REPLAYED', 'BOOTFLEET_SIG_REPLAYED']);

  await a.send(success);
  await b.report('succeeded', { booted: manifest.digest });
  const advanced = await waitStatus(h, (s) => s.campaign.currentWave === 1, 'wave 1');
  expect(advanced.counts.succeeded).toBe(2);
  const rest = sim.filter((d) => d !== a && d !== b);
  await waitFor(() => rest.every((d) => d.desired.length === 1), 5_000, 'wave 1 desired states');
  for (const device of rest) await device.report('succeeded', { booted: manifest.digest });
  const done = await waitStatus(h, (s) => s.campaign.state === 'completed', 'completion');
  expect(done.counts).toMatchObject({ succeeded: 4, failed: 0, pending: 0 });

  // Past the campaign's end and across a restart, each device's retained desired state is still the one it
  // was sent (kept by the store of signed desired states, not swept): it refuses it as a replay.
  await Promise.all(sim.map((d) => d.disconnect()));
  const refused = sim.map((d) => d.refused.length);
  await crash();
  h = await boot();
  for (const device of sim) await device.connect(h.mqttUrl);
  await waitFor(() => sim.every((d, i) => d.refused.length === (refused[i] ?? 0) + 1), 5_000, 'retained desired states after the end and a restart');
  expect(sim.map((d) => d.refused.at(-1))).toEqual(sim.map(() => 'BOOTFLEET_SIG_REPLAYED'));
}

async function status(h: Handle): Promise<CampaignStatus> {
  const answer = await h.api('GET', '/api/v1/campaigns/resilient', { token: TOKENS.viewer });
  expect(answer.status).toBe(200);
  return answer.body as CampaignStatus;
}

async function waitStatus(h: Handle, check: (s: CampaignStatus) => boolean, what: string): Promise<CampaignStatus> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const current = await status(h);
    if (check(current)) return current;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(current.counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
}

async function waitForReport(h: Handle, id: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((((await h.api('GET', `/api/v1/devices/${id}`, { token: TOKENS.viewer })).body as { device?: { lastReport?: unknown } }).device?.lastReport) === undefined) {
    if (Date.now() > deadline) throw new Error(`no report from ${id}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The built CLI's server as a child process on a data directory of its own (`<tmpdir>/<prefix>XXXXXX`),
 * restartable, killed with SIGKILL; killed and its directory removed after the test.
 */
async function cliServer(prefix: string): Promise<{ handle: Handle; boot: () => Promise<Handle>; kill: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  let child: ChildProcess | undefined;
  const kill = async (): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  cleanups.push(async () => {
    await kill();
    await rm(dir, { recursive: true, force: true });
  });
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${httpPort}`;
  const config = join(dir, 'server.json');
  await writeFile(
    config,
    JSON.stringify({
      dataDir: join(dir, 'data'),
      http: { host: '127.0.0.1', port: httpPort },
      logLevel: 'warn',
      broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: mqttPort } },
      auth: testAuthConfig(),
      registry: { operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)] },
    }),
  );
  const handle: Handle = { url, mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, api: (method, path, options) => callServer(url, method, path, options) };
  const boot = async (): Promise<Handle> => {
    child = spawn(process.execPath, [CLI, 'server', 'start', '--config', config], { stdio: 'ignore' });
    await waitUntilReady(url);
    return handle;
  };
  return { handle, boot, kill };
}

describe('a campaign across a server restart', () => {
  it('continues exactly where it was after stop and start on the same data directory', async () => {
    let t: TestServer | undefined;
    let dir: string | undefined;
    cleanups.push(async () => {
      await t?.stop();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });
    const registry = { registry: { operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)] } };
    await scenario(
      async () => {
        t = await startTestServer({}, dir, registry);
        dir = t.dir;
        return t;
      },
      async () => {
        await t?.stop();
      },
    );
  });

  it.skipIf(!built)('keeps every desired state counted as issued when killed -9 right after the start answered', async () => {
    const server = await cliServer('bootfleet-campaign-kill-start-');
    let h = await server.boot();
    const keys = await serverKeys(h);
    const manifest = await pushVersionedImage(h.url, 'fleet/os', [blobOf('layer k')], '6.0', 'stable');
    const sim: SimDevice[] = [];
    cleanups.push(async () => {
      await Promise.all(sim.map((d) => d.disconnect()));
    });
    for (const id of ['k0', 'k1', 'k2', 'k3', 'k4']) sim.push(await enrollSimDevice(h, keys, id, { labels: { site: 'kill' }, booted: OLD }));
    for (const device of sim) await waitForReport(h, device.id);
    // Offline while the campaign starts: what they get later can only come from the retained store.
    await Promise.all(sim.map((d) => d.disconnect()));
    const body = { id: 'sudden', image: `${new URL(h.url).host}/fleet/os:stable`, selector: { labels: { site: 'kill' } }, waves: [100] };
    expect((await h.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).status).toBe(201);
    expect((await h.api('POST', '/api/v1/campaigns/sudden/start', { token: TOKENS.operator })).status).toBe(200);
    await server.kill();
    h = await server.boot();
    const after = (await h.api('GET', '/api/v1/campaigns/sudden', { token: TOKENS.viewer })).body as CampaignStatus;
    expect(after.devices.map((d) => d.state)).toEqual(['issued', 'issued', 'issued', 'issued', 'issued']);
    for (const device of sim) await device.connect(h.mqttUrl);
    await waitFor(() => sim.every((d) => d.desired.length === 1), 5_000, 'the retained desired states after kill -9');
    for (const device of sim) {
      expect(device.desired[0]).toMatchObject({ campaign: 'sudden', seq: after.devices.find((d) => d.device === device.id)?.desiredSeq, image: { digest: manifest.digest } });
    }
    expect(sim.every((d) => d.refused.length === 0)).toBe(true);
  });

  it.skipIf(!built)('continues exactly where it was after kill -9 of the server process', async () => {
    const server = await cliServer('bootfleet-campaign-kill-');
    await scenario(server.boot, server.kill);
  });
});


