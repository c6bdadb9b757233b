/** Device credentials on a throw-away level database: scrypt hashes, the verified-password memory, revocation. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Level } from 'level';
import { parseDeviceId } from '../../protocol/index.js';
import { DeviceCredentials } from '../../server/identity/device-credentials.js';

describe('DeviceCredentials', () => {
  let dir = '';
  let db: Level;
  let credentials: DeviceCredentials;
  const id = parseDeviceId('c1');
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-creds-'));
    db = new Level(join(dir, 'db'));
    await db.open();
    credentials = new DeviceCredentials(db);
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores only a scrypt hash and verifies the issued password, twice', async () => {
    const password = await credentials.issueNew(id);
    const stored = await db.sublevel('device-credentials').get(id);
    expect(stored).not.toContain(password);
    expect(JSON.parse(stored ?? '{}')).toMatchObject({ algorithm: 'scrypt', N: 1024 });
    expect(await credentials.verify(id, Buffer.from(password))).toBe(true);
    expect(await credentials.verify(id, Buffer.from(password))).toBe(true);
    expect(await credentials.verify(id, Buffer.from(`${password}x`))).toBe(false);
    expect(await credentials.verify(id, undefined)).toBe(false);
    expect(await credentials.verify('c2', Buffer.from(password))).toBe(false);
  });

  it('forgets a remembered password on revocation, even one verifying concurrently', async () => {
    const password = Buffer.from(await credentials.issueNew(id));
    const racing = credentials.verify(id, password);
    await credentials.revoke(id);
    await racing;
    expect(await credentials.verify(id, password)).toBe(false);
  });

  it('lets only one of two concurrent enrolments of an id win', async () => {
    const results = await Promise.allSettled([credentials.issueNew(id), credentials.issueNew(id)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'BOOTFLEET_ENROLL_EXISTS' } });
  });
});
