/**
 * A server start that fails half-way (here: its HTTP port is taken) closes
 * what it had opened: the state database is not left locked and the broker's
 * port is not left bound, so the same data directory starts at once on a
 * free port, in the same process (as a supervisor retrying would).
 */
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../../server/config.js';
import { startServer, type RunningServer } from '../../server/start.js';
import { freePort } from '../helpers/ports.js';
import { testAuthConfig } from '../helpers/server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { port: address.port, server };
}

describe('a failed server start', () => {
  it('releases the state database and the broker port, so the next start of the same data works', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'bootfleet-start-failure-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const taken = await occupy();
    cleanups.push(() => new Promise<void>((resolve) => taken.server.close(() => { resolve(); })));
    const mqttPort = await freePort();
    const config = (httpPort: number) => loadServerConfig(undefined, {
      dataDir,
      http: { host: '127.0.0.1', port: httpPort },
      logLevel: 'silent',
      broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: mqttPort } },
      auth: testAuthConfig(),
    });

    await expect(startServer(await config(taken.port))).rejects.toMatchObject({ code: 'EADDRINUSE' });

    // Same data directory (its level lock) and same MQTT port, in the same process: both were released.
    const server: RunningServer = await startServer(await config(0));
    cleanups.push(() => server.close());
    const health = await fetch(`${server.url}/readyz`);
    expect(health.status).toBe(200);
    expect(server.control.plane.endpoints.tcp).toBe(`mqtt://127.0.0.1:${String(mqttPort)}`);
  });
});
