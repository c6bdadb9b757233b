/**
 * Campaigns end to end: a real server (HTTP, embedded broker, level on disk
 * on port 0), an image pushed over HTTP into its registry, and simulated
 * devices that are real mqtt.js clients verifying every signed message with
 * the key from GET /api/v1/signing-keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrustedKeys } from '../../protocol/index.js';
import type { CampaignStatus } from '../../server/campaigns/index.js';
import { sha256Hex } from '../../server/registry/index.js';
import { waitFor } from '../helpers/mqtt.js';
import { blobOf, OPERATOR_TOKEN, type Blob } from '../helpers/registry.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';
import { enrollSimDevice, pushVersionedImage, serverKeys, type SimDevice } from '../helpers/sim-device.js';

const OLD = `sha256:${'0'.repeat(64)}`;

describe('campaigns over the API and MQTT', () => {
  let t: TestServer;
  let keys: TrustedKeys;
  let layers: Blob[];
  let manifest: Blob;
  let image: string;
  const devices: SimDevice[] = [];
  beforeAll(async () => {
    t = await startTestServer({}, undefined, { registry: { operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)] } });
    keys = await serverKeys(t);
    layers = [blobOf('base layer '.repeat(300)), blobOf('app layer '.repeat(40)), blobOf('config layer')];
    manifest = await pushVersionedImage(t.url, 'fleet/os', layers, '2.0', '2.0');
    image = `${new URL(t.url).host}/fleet/os:2.0`;
    // The same image under a tag that the first test moves.
    await pushVersionedImage(t.url, 'fleet/os', layers, '2.0', 'moving');
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.disconnect()));
    await t.destroy();
  });

  const fleet = async (prefix: string, count: number, inventoryOf: (i: number) => string[] = () => []): Promise<SimDevice[]> => {
    const made: SimDevice[] = [];
    const stored = t.server.control.ingest.counters;
    const base = stored.reportsStored;
    for (let i = 0; i < count; i += 1) {
      const device = await enrollSimDevice(t, keys, `${prefix}${String(i).padStart(2, '0')}`, { labels: { fleet: prefix }, inventory: inventoryOf(i), booted: OLD });
      devices.push(device);
      made.push(device);
    }
    await waitFor(() => stored.reportsStored >= base + count, 5_000, 'first reports');
    return made;
  };
  const status = async (id: string): Promise<CampaignStatus> => {
    const answer = await t.api('GET', `/api/v1/campaigns/${id}`, { token: TOKENS.viewer });
    expect(answer.status).toBe(200);
    return answer.body as CampaignStatus;
  };
  const waitStatus = async (id: string, check: (s: CampaignStatus) => boolean, what: string): Promise<CampaignStatus> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const current = await status(id);
      if (check(current)) return current;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ state: current.campaign.state, counts: current.counts, wave: current.campaign.currentWave })}`);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  };
  const inWave = (s: CampaignStatus, wave: number): string[] => s.devices.filter((d) => d.wave === wave).map((d) => d.device);
  const byId = (list: SimDevice[], id: string): SimDevice => {
    const found = list.find((d) => d.id === id);
    if (found === undefined) throw new Error(`no device ${id}`);
    return found;
  };

  it('resolves the tag once, plans the transfer cost, advances waves on success from the new image only, and never counts a report twice', async () => {
    const sim = await fleet('w', 10, (i) => (i % 2 === 0 ? [layers[0]?.digest ?? ''] : []));
    const body = { id: 'spring', image: image.replace(':2.0', ':moving'), selector: { labels: { fleet: 'w' } }, waves: [10, 50, 100], successThreshold: 1, failureThreshold: 0.5 };
    expect(await t.api('POST', '/api/v1/campaigns', { token: TOKENS.viewer, body })).toMatchObject({ status: 403 });
    const created = await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body });
    expect(created).toMatchObject({ status: 201, body: { campaign: { state: 'draft', target: { digest: manifest.digest, version: '2.0', repository: 'fleet/os' } } } });
    expect(await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).toMatchObject({ status: 409, body: { code: 'BOOTFLEET_CAMPAIGN_EXISTS' } });
    // The tag moves after creation: the campaign keeps its digest.
    await pushVersionedImage(t.url, 'fleet/os', [blobOf('other')], '3.0', 'moving');
    const total = layers.reduce((sum, l) => sum + l.size, 0);
    const plan = (await t.api('GET', '/api/v1/campaigns/spring/plan', { token: TOKENS.viewer })).body as { devices: { device: string; missingBytes: number }[]; totalMissingBytes: number };
    expect(plan.devices.find((d) => d.device === 'w00')?.missingBytes).toBe(total - (layers[0]?.size ?? 0));
    expect(plan.devices.find((d) => d.device === 'w01')?.missingBytes).toBe(total);
    expect(plan.totalMissingBytes).toBe(5 * total + 5 * (total - (layers[0]?.size ?? 0)));

    expect(await t.api('POST', '/api/v1/campaigns/spring/start', { token: TOKENS.operator })).toMatchObject({ status: 200, body: { campaign: { state: 'running' } } });
    let s = await status('spring');
    expect(s.campaign.target.digest).toBe(manifest.digest);
    const [canaryId] = inWave(s, 0);
    const canary = byId(sim, canaryId ?? '');
    await waitFor(() => canary.desired.length === 1, 5_000, 'the canary desired state');
    const desired = canary.lastDesired();
    expect(desired).toMatchObject({ device: canary.id, campaign: 'spring', image: { digest: manifest.digest, version: '2.0' } });
    expect(desired?.layers.map((l) => [l.digest, l.missing])).toEqual(layers.map((l) => [l.digest, !canary.inventory.includes(l.digest)]));
    expect(sim.filter((d) => d !== canary).every((d) => d.desired.length === 0)).toBe(true);

    // "Succeeded" while still booted on the old image is not success.
    await canary.report('downloading');
    await canary.report('succeeded', { booted: OLD });
    s = await waitStatus('spring', (x) => x.devices.find((d) => d.device === canary.id)?.phase === 'succeeded', 'the canary report');
    expect(s.counts.succeeded).toBe(0);
    expect(s.campaign.currentWave).toBe(0);
    // Success from the new image, then the same report again and a later duplicate phase: counted once.
    const success = await canary.report('succeeded', { booted: manifest.digest });
    await canary.send(success);
    await canary.report('succeeded', { booted: manifest.digest });
    s = await waitStatus('spring', (x) => x.campaign.currentWave === 1, 'wave 1');
    expect(s.counts.succeeded).toBe(1);
    const wave1 = inWave(s, 1).map((id) => byId(sim, id));
    expect(wave1.length).toBe(4);
    await waitFor(() => wave1.every((d) => d.desired.length === 1), 5_000, 'wave 1 desired states');
    for (const device of wave1) {
      expect(device.lastDesired()?.layers.filter((l) => l.missing).map((l) => l.digest)).toEqual(layers.map((l) => l.digest).filter((d) => !device.inventory.includes(d)));
      device.booted = manifest.digest;
      await device.report('succeeded');
    }
    s = await waitStatus('spring', (x) => x.campaign.currentWave === 2, 'wave 2');
    const wave2 = inWave(s, 2).map((id) => byId(sim, id));
    await waitFor(() => wave2.every((d) => d.desired.length === 1), 5_000, 'wave 2 desired states');
    for (const device of wave2) await device.report('succeeded', { booted: manifest.digest });
    s = await waitStatus('spring', (x) => x.campaign.state === 'completed', 'completion');
    expect(s.counts).toMatchObject({ succeeded: 10, failed: 0 });
    expect(s.waves.map((w) => w.devices)).toEqual([1, 4, 5]);
    expect(s.phases).toEqual({ succeeded: 10 });
    expect(sim.every((d) => d.refused.length === 0 && d.desired.length === 1)).toBe(true);
    expect(await t.api('POST', '/api/v1/campaigns/spring/resume', { token: TOKENS.operator })).toMatchObject({ status: 409, body: { code: 'BOOTFLEET_CAMPAIGN_TRANSITION_INVALID' } });
  });

  it('pauses by itself when a wave fails, with its reason, and reverts the devices already updated with signed rollback commands', async () => {
    const sim = await fleet('f', 10);
    const body = { id: 'risky', image, selector: { labels: { fleet: 'f' } }, waves: [20, 100], successThreshold: 1, failureThreshold: 0.5, revertOnFailure: true };
    expect((await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).status).toBe(201);
    expect((await t.api('POST', '/api/v1/campaigns/risky/start', { token: TOKENS.operator })).status).toBe(200);
    const s0 = await status('risky');
    const [goodId, badId] = inWave(s0, 0);
    const good = byId(sim, goodId ?? '');
    const bad = byId(sim, badId ?? '');
    await waitFor(() => good.desired.length === 1 && bad.desired.length === 1, 5_000, 'wave 0 desired states');
    await good.report('succeeded', { booted: manifest.digest });
    await waitStatus('risky', (x) => x.counts.succeeded === 1, 'one success');
    await bad.report('rolling-back');
    await bad.report('failed', { error: 'BOOTFLEET_HEALTH_CHECK_FAILED' });
    const s = await waitStatus('risky', (x) => x.campaign.state === 'paused', 'the automatic pause');
    expect(s.campaign.pauseReason).toMatchObject({ kind: 'failure-threshold', failed: 1, total: 2 });
    expect(s.devices.find((d) => d.device === bad.id)).toMatchObject({ state: 'failed', reason: 'BOOTFLEET_HEALTH_CHECK_FAILED' });
    await waitFor(() => good.commands.length === 1, 5_000, 'the rollback command');
    expect(good.commands[0]).toMatchObject({ device: good.id, command: 'rollback' });
    expect(s.devices.find((d) => d.device === good.id)).toMatchObject({ state: 'reverted' });
    expect(bad.commands).toEqual([]);
    // No further wave was issued.
    expect(sim.filter((d) => d !== good && d !== bad).every((d) => d.desired.length === 0)).toBe(true);
    // The operator resumes: old failures are acknowledged and the campaign runs again.
    expect(await t.api('POST', '/api/v1/campaigns/risky/resume', { token: TOKENS.operator })).toMatchObject({ status: 200, body: { campaign: { state: 'running', failuresAcknowledged: 2 } } });
    expect(await t.api('POST', '/api/v1/campaigns/risky/pause', { token: TOKENS.operator })).toMatchObject({ status: 200, body: { campaign: { state: 'paused', pauseReason: { kind: 'manual' } } } });
    expect(await t.api('POST', '/api/v1/campaigns/risky/abort', { token: TOKENS.operator })).toMatchObject({ status: 200, body: { campaign: { state: 'aborted' } } });
    const audit = (await t.api('GET', '/api/v1/audit?limit=100')).body as { entries: { action: string; target: string }[] };
    expect(audit.entries.filter((e) => e.target === 'risky').map((e) => e.action).reverse()).toEqual(['campaign.create', 'campaign.start', 'campaign.resume', 'campaign.pause', 'campaign.abort']);
    expect(sim.every((d) => d.refused.length === 0)).toBe(true);
  });

  it('re-issues the desired state before it expires, counts a silent device as failed after the timeout, and keeps the device from a second campaign', async () => {
    const [quiet] = await fleet('q', 1);
    if (quiet === undefined) throw new Error('no device');
    const body = { id: 'quiet', image, selector: { ids: [quiet.id] }, waves: [100], failureThreshold: 1, desiredStateTtlSeconds: 2, deviceTimeoutSeconds: 3 };
    expect((await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).status).toBe(201);
    expect((await t.api('POST', '/api/v1/campaigns/quiet/start', { token: TOKENS.operator })).status).toBe(200);
    await waitFor(() => quiet.desired.length >= 2, 5_000, 'a re-issued desired state');
    const [first, second] = quiet.desired;
    expect((second?.seq ?? 0) > (first?.seq ?? 0)).toBe(true);
    expect(second?.image.digest).toBe(first?.image.digest);
    const s = await waitStatus('quiet', (x) => x.campaign.state === 'paused', 'the timeout');
    expect(s.devices[0]).toMatchObject({ state: 'failed', reason: 'timeout' });
    // The device is still in a paused campaign: another campaign may not take it.
    expect((await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { ...body, id: 'quiet-2' } })).status).toBe(201);
    expect(await t.api('POST', '/api/v1/campaigns/quiet-2/start', { token: TOKENS.operator })).toMatchObject({ status: 409, body: { code: 'BOOTFLEET_CAMPAIGN_CONFLICT', details: { other: 'quiet' } } });
  });

  it('withdraws the retained desired state of devices that never started when the campaign is aborted', async () => {
    const [idle, busy] = await fleet('h', 2);
    if (idle === undefined || busy === undefined) throw new Error('no devices');
    const body = { id: 'halted', image, selector: { labels: { fleet: 'h' } }, waves: [100] };
    expect((await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).status).toBe(201);
    expect((await t.api('POST', '/api/v1/campaigns/halted/start', { token: TOKENS.operator })).status).toBe(200);
    await waitFor(() => idle.desired.length === 1 && busy.desired.length === 1, 5_000, 'desired states');
    await busy.report('downloading');
    await waitStatus('halted', (x) => x.counts['in-progress'] === 1, 'the busy device report');
    expect(await t.api('POST', '/api/v1/campaigns/halted/abort', { token: TOKENS.operator })).toMatchObject({ status: 200, body: { campaign: { state: 'aborted' } } });
    expect((await status('halted')).devices.find((d) => d.device === idle.id)).toMatchObject({ state: 'issued', reason: 'withdrawn: campaign aborted' });
    // Reconnecting: the busy device is handed its retained desired state again (a replay it refuses), the idle one nothing.
    for (const device of [idle, busy]) {
      await device.disconnect();
      await device.connect(t.mqttUrl);
    }
    await waitFor(() => busy.refused.length === 1, 5_000, 'the busy device retained desired state');
    expect(busy.refused).toEqual(['BOOTFLEET_SIG_REPLAYED']);
    expect(idle.refused).toEqual([]);
    expect(idle.desired.length).toBe(1);
  });

  it('streams the campaign events as server-sent events', async () => {
    const [solo] = await fleet('s', 1);
    if (solo === undefined) throw new Error('no device');
    const body = { id: 'streamed', image, selector: { ids: [solo.id] }, waves: [100], successThreshold: 1 };
    expect((await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body })).status).toBe(201);
    const controller = new AbortController();
    const response = await fetch(`${t.url}/api/v1/campaigns/streamed/events`, { headers: { authorization: `Bearer ${TOKENS.viewer}` }, signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events: { type: string; state?: string }[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buffered = '';
      if (response.body === null) return;
      for await (const chunk of response.body) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
          const data = buffered.slice(0, end).split('\n').find((line) => line.startsWith('data: '));
          buffered = buffered.slice(end + 2);
          if (data !== undefined) events.push(JSON.parse(data.slice(6)) as { type: string; state?: string });
        }
      }
    })().catch(() => undefined);
    await waitFor(() => events.length === 1, 5_000, 'the status snapshot');
    expect(events[0]).toMatchObject({ type: 'status', state: 'draft' });
    expect((await t.api('POST', '/api/v1/campaigns/streamed/start', { token: TOKENS.operator })).status).toBe(200);
    await waitFor(() => solo.desired.length === 1, 5_000, 'the desired state');
    await solo.report('succeeded', { booted: manifest.digest });
    await waitFor(() => events.some((e) => e.type === 'state' && e.state === 'completed'), 5_000, 'the completed event');
    controller.abort();
    await reading;
    expect(events.map((e) => `${e.type}:${e.state ?? ''}`)).toEqual(['status:draft', 'state:running', 'device:issued', 'device:succeeded', 'state:completed']);
  });

  it('refuses unknown images, impossible waves, empty selectors and selectors without devices', async () => {
    const base = { selector: { labels: { fleet: 'none' } } };
    const host = new URL(t.url).host;
    expect(await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { ...base, id: 'x1', image: `${host}/fleet/os:9.9` } })).toMatchObject({ status: 404, body: { code: 'BOOTFLEET_CAMPAIGN_IMAGE_UNKNOWN' } });
    expect(await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { ...base, id: 'x2', image: 'not a reference' } })).toMatchObject({ status: 400, body: { code: 'BOOTFLEET_CAMPAIGN_IMAGE_INVALID' } });
    expect(await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { ...base, id: 'x3', image, waves: [50, 20, 100] } })).toMatchObject({ status: 400, body: { code: 'BOOTFLEET_CAMPAIGN_INVALID' } });
    expect(await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { id: 'x4', image, selector: {} } })).toMatchObject({ status: 400, body: { code: 'BOOTFLEET_CAMPAIGN_INVALID' } });
    expect((await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { ...base, id: 'x5', image } })).status).toBe(201);
    expect(await t.api('POST', '/api/v1/campaigns/x5/start', { token: TOKENS.operator })).toMatchObject({ status: 409, body: { code: 'BOOTFLEET_CAMPAIGN_NO_DEVICES' } });
    expect(await t.api('PUT', '/api/v1/campaigns/y1', { token: TOKENS.operator, body: { image, selector: { ids: ['a'] }, bogus: 1 } })).toMatchObject({ status: 400, body: { code: 'BOOTFLEET_MESSAGE_INVALID' } });
    expect(await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { ...base, id: 'y2', image, failureTreshold: 0.5 } })).toMatchObject({ status: 400, body: { code: 'BOOTFLEET_MESSAGE_INVALID' } });
    expect(await t.api('GET', '/api/v1/campaigns/nope', { token: TOKENS.viewer })).toMatchObject({ status: 404, body: { code: 'BOOTFLEET_CAMPAIGN_NOT_FOUND' } });
    const list = (await t.api('GET', '/api/v1/campaigns', { token: TOKENS.viewer })).body as { campaigns: { id: string }[] };
    expect(list.campaigns.map((c) => c.id)).toContain('x5');
  });
});
