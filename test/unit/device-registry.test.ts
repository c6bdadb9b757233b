/** The device registry and ingest on a throw-away level database, with an injected clock. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Level } from 'level';
import { pino } from 'pino';
import { parseDeviceId, type Report } from '../../protocol/index.js';
import { DeviceIngest } from '../../server/devices/ingest.js';
import { DeviceRegistry, MAX_EVENTS_PER_DEVICE } from '../../server/devices/registry.js';

describe('DeviceRegistry', () => {
  let dir = '';
  let db: Level;
  let registry: DeviceRegistry;
  let now = 1_795_000_000_000;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-registry-'));
    db = new Level(join(dir, 'db'));
    await db.open();
    registry = new DeviceRegistry(db, () => now);
    await registry.enroll(parseDeviceId('d1'), 'fleet');
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  const report = (seq: number, phase: Report['phase'] = 'idle'): Report => ({ device: 'd1', seq, sentAt: 1, phase, slots: {} });

  it('keeps the enrolled and online counts on every write once tracked, equal to a fresh pass', async () => {
    await registry.applyPresence({ device: 'd1', online: true, since: 100 });
    await registry.trackCounts();
    expect(await registry.countOnline()).toEqual({ enrolled: 1, online: 1 });
    await Promise.all(['d2', 'd3', 'd4'].map((id) => registry.enroll(parseDeviceId(id), 'fleet')));
    await registry.enroll(parseDeviceId('d2'), 'again');
    await registry.applyPresence({ device: 'd2', online: true, since: 100 });
    await registry.applyPresence({ device: 'd2', online: true, since: 100 });
    await registry.applyPresence({ device: 'd1', online: false, since: 100 });
    await registry.applyReport(report(1));
    expect(await registry.countOnline()).toEqual({ enrolled: 4, online: 1 });
    expect(await new DeviceRegistry(db).countOnline()).toEqual({ enrolled: 4, online: 1 });
  });

  it('ignores presence from an older connection than the one it knows', async () => {
    await registry.applyPresence({ device: 'd1', online: true, since: 200 });
    await registry.applyPresence({ device: 'd1', online: false, since: 100 });
    expect(await registry.get('d1')).toMatchObject({ online: true, presenceSince: 200 });
    await registry.applyPresence({ device: 'd1', online: false, since: 200 });
    expect(await registry.get('d1')).toMatchObject({ online: false });
  });

  it('treats a report whose seq is not above the last as a duplicate, concurrent ones included', async () => {
    const outcomes = await Promise.all([registry.applyReport(report(3)), registry.applyReport(report(3)), registry.applyReport(report(2))]);
    expect(outcomes.filter((o) => o === 'stored')).toHaveLength(1);
    expect((await registry.get('d1'))?.lastReport?.seq).toBe(3);
  });

  it('keeps at most MAX_EVENTS_PER_DEVICE events, newest first', async () => {
    for (let seq = 1; seq <= MAX_EVENTS_PER_DEVICE + 20; seq += 1) {
      now += 1;
      await registry.applyReport(report(seq, seq % 2 === 0 ? 'downloading' : 'verifying'));
    }
    const events = await registry.history('d1', 1_000);
    expect(events).toHaveLength(MAX_EVENTS_PER_DEVICE);
    expect(events[0]?.details).toMatchObject({ seq: MAX_EVENTS_PER_DEVICE + 20 });
  });

  it('stores each audit entry a report carries once, in seq order, whatever resends and duplicates arrive', async () => {
    const entry = (seq: number, action: string) => ({ seq, atMs: 1_795_000_000_000 + seq, actor: 'local-cli' as const, action, result: 'ok' as const });
    await registry.applyReport({ ...report(1), audit: [entry(2, 'rollback'), entry(1, 'apply'), entry(2, 'rollback')] });
    await registry.applyReport({ ...report(2), audit: [entry(1, 'apply'), entry(2, 'rollback'), entry(3, 'verify')] });
    await registry.applyReport({ ...report(3), audit: [entry(3, 'verify')] });
    const audit = (await registry.history('d1', 100)).filter((e) => e.kind === 'audit').reverse();
    expect(audit.map((e) => [e.details.seq, e.details.action])).toEqual([
      [1, 'apply'],
      [2, 'rollback'],
      [3, 'verify'],
    ]);
    expect((await registry.get('d1'))?.auditSeq).toBe(3);
  });

  it('drops hostile messages at ingest and stores nothing', async () => {
    const ingest = new DeviceIngest(registry, pino({ level: 'silent' }));
    await ingest.handle('bootfleet/v1/devices/d1/reports', Buffer.from('[]'));
    await ingest.handle('bootfleet/v1/devices/d1/reports', Buffer.alloc(600 * 1024, 0x20));
    await ingest.handle('bootfleet/v1/devices/+/reports', Buffer.from('{}'));
    await ingest.handle('bootfleet/v1/devices/d2/reports', Buffer.from(JSON.stringify({ ...report(1), device: 'd2' })));
    await ingest.handle('bootfleet/v1/devices/d1/desired', Buffer.from('{}'));
    expect(ingest.counters.dropped).toEqual({
      BOOTFLEET_MESSAGE_INVALID: 1,
      BOOTFLEET_MESSAGE_TOO_LARGE: 1,
      BOOTFLEET_TOPIC_INVALID: 2,
      BOOTFLEET_DEVICE_NOT_FOUND: 1,
    });
    expect((await registry.get('d1'))?.lastReport).toBeUndefined();
  });
});
