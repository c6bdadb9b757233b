/** `bootfleet campaign ...` against a real server, with an image pushed into its registry over HTTP. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/exit-codes.js';
import { runCli } from '../../cli/program.js';
import { sha256Hex } from '../../server/registry/index.js';
import { captureCli, type CliRun } from '../helpers/cli-capture.js';
import { waitFor } from '../helpers/mqtt.js';
import { blobOf, OPERATOR_TOKEN } from '../helpers/registry.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';
import { pushVersionedImage } from '../helpers/sim-device.js';

describe('bootfleet campaign (CLI over the API)', () => {
  let t: TestServer;
  let dir: string;
  let image: string;
  beforeAll(async () => {
    t = await startTestServer({}, undefined, { registry: { operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)] } });
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-campaign-cli-'));
    for (const id of ['k1', 'k2']) {
      await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: id } });
      await t.api('PATCH', `/api/v1/devices/${id}`, { token: TOKENS.operator, body: { addGroups: ['kiosks'] } });
    }
    await pushVersionedImage(t.url, 'fleet/kiosk', [blobOf('kiosk layer one'), blobOf('kiosk layer two')], '1.4', 'latest');
    image = `${new URL(t.url).host}/fleet/kiosk:latest`;
  });
  afterAll(async () => {
    await t.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const cli = (args: string[], token: string = TOKENS.operator): Promise<CliRun> => captureCli([...args, '--server', t.url, '--token', token]);

  it('creates from flags and a file, plans, lists, shows, and walks the lifecycle', async () => {
    const file = join(dir, 'campaign.json');
    await writeFile(file, JSON.stringify({ maintenanceWindows: [{ days: ['sat', 'sun'], start: '02:00', durationMinutes: 120, timeZone: 'Europe/Paris' }], successThreshold: 0.5 }));
    const created = await cli(['campaign', 'create', 'kiosk-1', '-f', file, '-i', image, '-g', 'kiosks', '--waves', '50,100', '--failure-threshold', '0.2', '--max-concurrent', '1', '--start-at', '2020-01-01T00:00:00Z']);
    expect(created.err).toBe('');
    expect(created.code).toBe(ExitCode.ok);
    expect(JSON.parse(created.out)).toMatchObject({
      id: 'kiosk-1',
      state: 'draft',
      target: { repository: 'fleet/kiosk', version: '1.4' },
      selector: { groups: ['kiosks'] },
      settings: { waves: [50, 100], successThreshold: 0.5, failureThreshold: 0.2, maxConcurrentActivations: 1, startAt: 1_577_836_800, maintenanceWindows: [{ timeZone: 'Europe/Paris' }] },
    });
    const plan = await cli(['campaign', 'plan', 'kiosk-1'], TOKENS.viewer);
    expect(JSON.parse(plan.out)).toMatchObject({ campaign: 'kiosk-1', totalLayers: 2, devices: [{ missingLayers: 2 }, { missingLayers: 2 }] });
    expect((await cli(['campaign', 'list'], TOKENS.viewer)).out.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['kiosk-1']);
    expect((await cli(['campaign', 'start', 'kiosk-1'], TOKENS.viewer)).code).toBe(ExitCode.failure);
    expect(JSON.parse((await cli(['campaign', 'start', 'kiosk-1'])).out)).toMatchObject({ state: 'running' });
    const shown = JSON.parse((await cli(['campaign', 'show', 'kiosk-1'], TOKENS.viewer)).out) as { counts: Record<string, number>; devices: unknown[] };
    expect(shown.devices.length).toBe(2);
    expect(shown.counts).toMatchObject({ issued: 1, pending: 1 });
    expect(JSON.parse((await cli(['campaign', 'pause', 'kiosk-1'])).out)).toMatchObject({ state: 'paused', pauseReason: { kind: 'manual' } });
    const again = await cli(['campaign', 'pause', 'kiosk-1']);
    expect(again.code).toBe(ExitCode.transitionRefused);
    expect(again.err).toContain('BOOTFLEET_CAMPAIGN_TRANSITION_INVALID');
    expect(JSON.parse((await cli(['campaign', 'resume', 'kiosk-1'])).out)).toMatchObject({ state: 'running' });
    let streamed = '';
    const watching = runCli(['campaign', 'watch', 'kiosk-1', '--server', t.url, '--token', TOKENS.viewer], { out: (text) => (streamed += text), err: () => undefined });
    await waitFor(() => streamed.includes('"type":"status"'), 5_000, 'the watch snapshot');
    expect(JSON.parse((await cli(['campaign', 'abort', 'kiosk-1'])).out)).toMatchObject({ state: 'aborted' });
    expect(await watching).toBe(ExitCode.ok);
    const events = streamed.trim().split('\n').map((l) => JSON.parse(l) as { type: string; state?: string });
    expect(events.map((e) => `${e.type}:${e.state ?? ''}`)).toEqual(['status:running', 'state:aborted']);
    // Watching a finished campaign returns at once with its status.
    expect(JSON.parse((await cli(['campaign', 'watch', 'kiosk-1'], TOKENS.viewer)).out)).toMatchObject({ type: 'status', state: 'aborted' });
  });

  it('applies campaigns declared in YAML idempotently, moves them to their declared state, and refuses a changed definition', async () => {
    const file = join(dir, 'fleet.yaml');
    const doc = (id: string, state: string, waves: string, selector: string): string =>
      `apiVersion: bootfleet/v1\nkind: Campaign\nid: ${id}\nstate: ${state}\nspec:\n  image: ${image}\n  selector: ${selector}\n  waves: ${waves}\n`;
    const write = (git1State: string, waves = '[50, 100]'): Promise<void> =>
      writeFile(file, `${doc('git-1', git1State, waves, '{ groups: [kiosks] }')}---\n${doc('git-2', 'draft', '[100]', '{ ids: [k1] }')}`);
    const apply = async (token: string = TOKENS.operator): Promise<{ code: number; lines: Record<string, unknown>[]; err: string }> => {
      const run = await cli(['apply', '-f', file], token);
      return { code: run.code, err: run.err, lines: run.out.trim() === '' ? [] : run.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
    };
    await write('running');
    expect((await apply(TOKENS.viewer)).code).toBe(ExitCode.failure);
    expect((await apply()).lines).toEqual([
      { id: 'git-1', result: 'created', action: 'start', state: 'running' },
      { id: 'git-2', result: 'created', state: 'draft' },
    ]);
    expect((await apply()).lines).toEqual([
      { id: 'git-1', result: 'unchanged', state: 'running' },
      { id: 'git-2', result: 'unchanged', state: 'draft' },
    ]);
    await write('paused');
    expect((await apply()).lines[0]).toEqual({ id: 'git-1', result: 'unchanged', action: 'pause', state: 'paused' });
    await write('running');
    expect((await apply()).lines[0]).toEqual({ id: 'git-1', result: 'unchanged', action: 'resume', state: 'running' });
    await write('running', '[20, 100]');
    const changed = await apply();
    expect(changed.code).toBe(ExitCode.failure);
    expect(changed.err).toContain('BOOTFLEET_CAMPAIGN_EXISTS');
    await write('aborted');
    expect((await apply()).lines[0]).toEqual({ id: 'git-1', result: 'unchanged', action: 'abort', state: 'aborted' });
    // A broken document anywhere: nothing of the file is applied.
    await writeFile(file, `${doc('git-3', 'draft', '[100]', '{ ids: [k1] }')}---\nkind: Campaign\n`);
    const broken = await apply();
    expect(broken.code).toBe(ExitCode.failure);
    expect(broken.err).toContain('BOOTFLEET_CAMPAIGN_INVALID');
    expect((await t.api('GET', '/api/v1/campaigns/git-3', { token: TOKENS.viewer })).status).toBe(404);
  });

  it('refuses a wrong command line before calling the server, and takes an exponential wave rate', async () => {
    expect((await cli(['campaign', 'create', 'x', '-i', image, '-g', 'kiosks', '--waves', '10,abc'])).code).toBe(ExitCode.usage);
    expect((await cli(['campaign', 'create', 'x', '-g', 'kiosks'])).code).toBe(ExitCode.usage);
    expect((await cli(['campaign', 'create', 'x', '-i', image, '-g', 'kiosks', '--failure-threshold', '2'])).code).toBe(ExitCode.usage);
    expect((await cli(['campaign', 'create', 'x', '-i', image, '-g', 'kiosks', '--wave-growth', '5'])).code).toBe(ExitCode.usage);
    const grown = await cli(['campaign', 'create', 'grown', '-i', image, '-g', 'kiosks', '--wave-growth', '25,2']);
    expect(JSON.parse(grown.out)).toMatchObject({ settings: { waves: [25, 50, 100] } });
    const missing = await cli(['campaign', 'show', 'nope'], TOKENS.viewer);
    expect(missing.code).toBe(ExitCode.failure);
    expect(missing.err).toContain('BOOTFLEET_CAMPAIGN_NOT_FOUND');
  });
});
