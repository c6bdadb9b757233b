/**
 * The local audit log reaches the server (docs/agent-daemon.md, "Audit log to
 * the server"), end to end with real parts: a bootfleet server (API, embedded
 * broker and registry), technician commands run while no daemon runs
 * (`agent apply`, `rollback`, `verify`), then the daemon as a child process in
 * managed mode. Every local entry becomes one `audit` event in the device's
 * history, in seq order; after a kill -9 and a lost acknowledgement mark the
 * entries are sent again and still stored once; an action taken while the
 * daemon runs arrives too.
 */
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAudit } from '../../agent/deploy/index.js';
import { runCli } from '../../cli/program.js';
import { eventually, layerOf, pushTestImage, type Fleet } from '../helpers/agent-daemon.js';
import { useManagedDaemon } from '../helpers/daemon-fleet.js';

const DEVICE = 'field-1';
const REPO = 'fleet/field';

interface Event {
  readonly kind: string;
  readonly details: { seq?: number; action?: string; actor?: string; result?: string };
}

describe('audit log synced to the server', () => {
  // The daemon starts only after the technician's offline actions.
  const daemon = useManagedDaemon({ device: DEVICE, tmpPrefix: 'bootfleet-audit-sync-', startAgent: false, config: () => ({ server: { auditSyncIntervalMs: 100 } }) });
  let fleet: Fleet;
  let dataDir: string;
  let configPath: string;

  beforeAll(async () => {
    ({ fleet, dataDir, configPath } = daemon);
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '1' })], 'v1');
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': '2' })], 'v2');
  }, 30_000);

  async function cli(...args: string[]): Promise<number> {
    return runCli(args, { out: () => undefined, err: () => undefined });
  }

  async function auditEvents(): Promise<Event[]> {
    const shown = await fleet.t.api('GET', `/api/v1/devices/${DEVICE}?events=200`);
    return (shown.body as { events: Event[] }).events.filter((e) => e.kind === 'audit').reverse();
  }

  async function serverHasAll(): Promise<Event[] | undefined> {
    const local = (await readAudit(dataDir)).entries.length;
    const events = await auditEvents();
    return events.length >= local ? events : undefined;
  }

  it('sends the technician actions taken offline once the daemon reaches the server, each once, in order', async () => {
    expect(await cli('agent', 'apply', `${fleet.registry}/${REPO}:v1`, '--config', configPath)).toBe(0);
    expect(await cli('agent', 'apply', `${fleet.registry}/${REPO}:v2`, '--config', configPath, '--allow-downgrade')).toBe(0);
    expect(await cli('agent', 'rollback', '--config', configPath, '--reason', 'customer asked')).toBe(0);
    expect(await cli('agent', 'verify', '--config', configPath)).toBe(0);
    const local = (await readAudit(dataDir)).entries;
    expect(local.filter((e) => e.actor === 'local-cli').map((e) => e.action)).toEqual(['apply', 'apply', 'rollback', 'verify']);

    daemon.start(configPath);
    const events = await eventually(serverHasAll, 'audit events on the server');
    expect(events.map((e) => e.details.seq)).toEqual(local.map((_, i) => i + 1));
    expect(events.map((e) => [e.details.actor, e.details.action, e.details.result])).toEqual(local.map((e) => [e.actor, e.action, e.result]));
  }, 40_000);

  it('stores a resent entry once (kill -9, acknowledgement mark lost), and sends actions taken while the daemon runs', async () => {
    const running = daemon.agent;
    const local = (await readAudit(dataDir)).entries.length;
    // The broker's PUBACK of a report carrying the entries moves the persisted mark.
    await eventually(async () => {
      const mark = JSON.parse(await readFile(join(dataDir, 'audit-acked.json'), 'utf8').catch(() => '{}')) as { acked?: number };
      return (mark.acked ?? 0) >= local ? true : undefined;
    }, 'acknowledgement mark');
    await running.kill('SIGKILL');
    await unlink(join(dataDir, 'audit-acked.json'));
    const restarted = daemon.start(configPath);
    // Without the mark, the restarted daemon sends every entry again.
    await eventually(() => (restarted.lines.some((l) => l.event === 'report' && l.audit === local) ? true : undefined), 'the entries sent again');
    expect(await cli('agent', 'verify', '--config', configPath)).toBe(0);
    const events = await eventually(serverHasAll, 'the new entry on the server');
    const seqs = events.map((e) => e.details.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual((await readAudit(dataDir)).entries.map((_, i) => i + 1));
    expect(events.at(-1)?.details).toMatchObject({ actor: 'local-cli', action: 'verify', result: 'ok' });
  }, 40_000);
});
