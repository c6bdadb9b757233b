/**
 * A server restart keeps enrolments, the registry and report idempotence:
 * the device logs in with the same password, and a report replayed after
 * the restart is still a duplicate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/index.js';
import { SAMPLE_DIGESTS } from '../helpers/messages.js';
import { connectDevice, waitFor } from '../helpers/mqtt.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';

describe('server restart', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.destroy();
    t = undefined;
  });

  it('keeps devices, credentials and seen report sequence numbers', async () => {
    t = await startTestServer();
    const dir = t.dir;
    const { body } = await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'keep' } });
    const { password } = body as { password: string };
    const login = { clientId: 'keep', username: 'keep', password };
    const payload = JSON.stringify({ device: 'keep', seq: 5, sentAt: 1_795_000_000, phase: 'staged', slots: { staged: { digest: SAMPLE_DIGESTS.manifest } } });
    const first = await connectDevice({ url: t.mqttUrl, ...login });
    await first.publishAsync(deviceTopic('keep', 'reports'), payload, { qos: 1 });
    const before = t.server.control.ingest.counters;
    await waitFor(() => before.reportsStored === 1, 5_000, 'report stored');
    await first.endAsync();
    await t.stop();

    t = await startTestServer({}, dir);
    const again = await connectDevice({ url: t.mqttUrl, ...login });
    await again.publishAsync(deviceTopic('keep', 'reports'), payload, { qos: 1 });
    const after = t.server.control.ingest.counters;
    await waitFor(() => after.reportsDuplicate === 1, 5_000, 'duplicate after restart');
    expect(after.reportsStored).toBe(0);
    await again.endAsync();
    const shown = await t.api('GET', '/api/v1/devices/keep', { token: TOKENS.viewer });
    expect(shown).toMatchObject({ status: 200, body: { device: { lastReport: { seq: 5, phase: 'staged' }, slots: { staged: { digest: SAMPLE_DIGESTS.manifest } } } } });
  });
});
