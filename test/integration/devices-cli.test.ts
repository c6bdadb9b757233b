/** `bootfleet device list/show/label` and `bootfleet server token` against a real server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/exit-codes.js';
import { hashToken } from '../../server/identity/tokens.js';
import { captureCli, type CliRun } from '../helpers/cli-capture.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';

describe('bootfleet device (CLI over the API)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    for (const id of ['c1', 'c2', 'c3']) await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: id } });
  });
  afterAll(async () => {
    await t.destroy();
  });

  const cli = (args: string[], token: string = TOKENS.operator): Promise<CliRun> => captureCli([...args, '--server', t.url, '--token', token]);

  it('labels, lists with filters and pages, and shows a device', async () => {
    const labelled = await cli(['device', 'label', 'c2', 'site=lyon', 'tier=canary', '--add-group', 'lab']);
    expect(labelled.code).toBe(ExitCode.ok);
    expect(JSON.parse(labelled.out)).toMatchObject({ id: 'c2', labels: { site: 'lyon', tier: 'canary' }, groups: ['lab'] });
    expect(JSON.parse((await cli(['device', 'label', 'c2', 'tier-'])).out)).toMatchObject({ labels: { site: 'lyon' } });
    const lines = (out: string): string[] => out.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { id: string }).id);
    expect(lines((await cli(['device', 'list', '--label', 'site=lyon'], TOKENS.viewer)).out)).toEqual(['c2']);
    expect(lines((await cli(['device', 'list', '--group', 'lab', '--offline'], TOKENS.viewer)).out)).toEqual(['c2']);
    expect(lines((await cli(['device', 'list', '--limit', '1', '--all'], TOKENS.viewer)).out)).toEqual(['c1', 'c2', 'c3']);
    const firstPage = await cli(['device', 'list', '--limit', '1'], TOKENS.viewer);
    expect(lines(firstPage.out)).toEqual(['c1']);
    expect(firstPage.err).toContain('more devices follow');
    const shown = await cli(['device', 'show', 'c2'], TOKENS.viewer);
    expect(JSON.parse(shown.out)).toMatchObject({ device: { id: 'c2' }, events: expect.arrayContaining([expect.objectContaining({ kind: 'labels' })]) as unknown });
  });

  it('exits non-zero with the server error code', async () => {
    const missing = await cli(['device', 'show', 'nope'], TOKENS.viewer);
    expect(missing.code).toBe(ExitCode.failure);
    expect(missing.err).toContain('BOOTFLEET_DEVICE_NOT_FOUND');
    const forbidden = await cli(['device', 'label', 'c1', 'a=b'], TOKENS.viewer);
    expect(forbidden.err).toContain('BOOTFLEET_AUTH_FORBIDDEN');
    expect((await cli(['device', 'label', 'c1', 'nonsense'])).code).toBe(ExitCode.usage);
  });

  it('makes a token and the configuration entry holding its hash', async () => {
    const run = await captureCli(['server', 'token', '--name', 'ci', '--role', 'admin']);
    expect(run.code).toBe(ExitCode.ok);
    const made = JSON.parse(run.out) as { token: string; auth: { apiTokens: { name: string; role: string; hash: string }[] } };
    expect(made.auth.apiTokens[0]).toMatchObject({ name: 'ci', role: 'admin', hash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) as unknown });
    expect(made.token).toMatch(/^bf_/);
    expect(made.auth.apiTokens[0]?.hash).toBe(hashToken(made.token));
  });
});
