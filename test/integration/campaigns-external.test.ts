/**
 * Campaigns with an external broker: the server joined to a real Mosquitto
 * (dynamic security provisions each enrolled device). Desired states and
 * rollback commands travel through Mosquitto, signed, to real mqtt.js devices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignStatus } from '../../server/campaigns/index.js';
import { sha256Hex } from '../../server/registry/index.js';
import { startMosquitto, type RunningMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/mqtt.js';
import { blobOf, OPERATOR_TOKEN } from '../helpers/registry.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';
import { enrollSimDevice, pushVersionedImage, serverKeys, type SimDevice } from '../helpers/sim-device.js';
import { requireTool } from '../helpers/tools.js';

const mosquitto = requireTool('mosquitto');
const OLD = `sha256:${'0'.repeat(64)}`;

describe.skipIf(mosquitto.skip)('campaigns through an external Mosquitto', () => {
  let broker: RunningMosquitto | undefined;
  let t: TestServer | undefined;
  const sim: SimDevice[] = [];
  beforeAll(async () => {
    broker = await startMosquitto(mosquitto.path ?? 'mosquitto');
    t = await startTestServer(
      { mode: 'external', url: broker.url, username: broker.serverUser, passwordFile: broker.serverPasswordFile, provisioning: 'mosquitto-dynsec' },
      undefined,
      { registry: { operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)] } },
    );
  });
  afterAll(async () => {
    await Promise.all(sim.map((d) => d.disconnect()));
    await t?.destroy();
    await broker?.stop();
  });

  it('advances a wave on success, then pauses by itself and reverts with signed rollback commands', async () => {
    if (t === undefined) throw new Error('setup failed');
    const server = t;
    const keys = await serverKeys(server);
    const manifest = await pushVersionedImage(server.url, 'fleet/os', [blobOf('ext layer')], '7.0', '7.0');
    const counters = server.server.control.ingest.counters;
    for (const id of ['x0', 'x1', 'x2', 'x3']) sim.push(await enrollSimDevice(server, keys, id, { labels: { broker: 'mosquitto' }, booted: OLD }));
    await waitFor(() => counters.reportsStored >= 4, 5_000, 'first reports');
    const body = { id: 'ext', image: `${new URL(server.url).host}/fleet/os:7.0`, selector: { labels: { broker: 'mosquitto' } }, waves: [25, 100], successThreshold: 1, failureThreshold: 0.25, revertOnFailure: true };
    expect((await server.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).status).toBe(201);
    expect((await server.api('POST', '/api/v1/campaigns/ext/start', { token: TOKENS.operator })).status).toBe(200);
    const status = async (): Promise<CampaignStatus> => (await server.api('GET', '/api/v1/campaigns/ext', { token: TOKENS.viewer })).body as CampaignStatus;
    const wave = (s: CampaignStatus, index: number): SimDevice[] => s.devices.filter((d) => d.wave === index).map((d) => sim.find((x) => x.id === d.device)).filter((d) => d !== undefined);
    const [canary] = wave(await status(), 0);
    if (canary === undefined) throw new Error('no canary');
    await waitFor(() => canary.desired.length === 1, 5_000, 'the canary desired state');
    expect(canary.lastDesired()).toMatchObject({ image: { digest: manifest.digest }, layers: [{ missing: true }] });
    await canary.report('succeeded', { booted: manifest.digest });
    const rest = wave(await status(), 1);
    await waitFor(() => rest.every((d) => d.desired.length === 1), 5_000, 'wave 1 desired states');
    const [broken] = rest;
    await broken?.report('failed', { error: 'BOOTFLEET_HEALTH_DEADLINE' });
    await waitFor(() => canary.commands.length === 1, 5_000, 'the rollback command');
    expect(canary.commands[0]).toMatchObject({ command: 'rollback', device: canary.id });
    // Mosquitto delivers before it acknowledges the publish, so the device can hold the command
    // a moment before the server records it: poll the status, bounded, instead of racing it.
    let latest = await status();
    for (let i = 0; i < 50 && latest.counts.reverted !== 1; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      latest = await status();
    }
    expect(latest).toMatchObject({ campaign: { state: 'paused', pauseReason: { kind: 'failure-threshold' } }, counts: { reverted: 1, failed: 1 } });
    expect(sim.every((d) => d.refused.length === 0)).toBe(true);
  });
});
