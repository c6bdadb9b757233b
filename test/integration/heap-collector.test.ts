/**
 * The server collects its heap once after a campaign's creation signed
 * ahead for 1,000 devices or more (server/heap-collector.ts), and not after
 * a small one: a real server in this process (HTTP, embedded broker, level
 * on disk), an image pushed over HTTP, 1,000 devices enrolled in its
 * registry. vitest runs without `--expose-gc`, so a recording function is
 * the global `gc` the server finds at start; the collection's effect on a
 * campaign's start is measured by bench/campaign-fleet.ts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseDeviceId } from '../../protocol/index.js';
import { sha256Hex } from '../../server/registry/index.js';
import { COLLECT_AFTER_SIGNED } from '../../server/heap-collector.js';
import { waitFor } from '../helpers/mqtt.js';
import { blobOf, OPERATOR_TOKEN } from '../helpers/registry.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';
import { pushVersionedImage } from '../helpers/sim-device.js';

describe('a full collection after signing ahead', () => {
  const original = globalThis.gc;
  const gc = vi.fn();
  let t: TestServer;
  let image: string;
  const ids = Array.from({ length: COLLECT_AFTER_SIGNED }, (_, i) => `heap${String(i).padStart(4, '0')}`);
  beforeAll(async () => {
    globalThis.gc = gc;
    t = await startTestServer({}, undefined, { registry: { operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)] } });
    for (const id of ids) await t.server.control.registry.enroll(parseDeviceId(id), 'test');
    await pushVersionedImage(t.url, 'fleet/os', [blobOf('heap layer')], '3.0', '3.0');
    image = `${new URL(t.url).host}/fleet/os:3.0`;
  }, 60_000);
  afterAll(async () => {
    globalThis.gc = original;
    await t.destroy();
  });

  it('runs once after a creation that signed ahead for 1,000 devices, not after one of 10', async () => {
    const big = await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { id: 'big', image, selector: { ids }, waves: [100] } });
    expect(big.status).toBe(201);
    await waitFor(() => gc.mock.calls.length === 1, 5_000, 'the collection after the big creation');
    const small = await t.api('POST', '/api/v1/campaigns', { token: TOKENS.operator, body: { id: 'small', image, selector: { ids: ids.slice(0, 10) }, waves: [100] } });
    expect(small.status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(gc).toHaveBeenCalledTimes(1);
  }, 30_000);
});
