/** Starting and stopping a whole server: state database, signing key, HTTP. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Level } from 'level';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { withContextAsync } from '../protocol/index.js';
import { buildApp } from './app.js';
import { signingKeyPath, type ServerConfig } from './config.js';
import { loadOrCreateSigningKey } from './signing-key.js';
// --- embedded OCI registry (issue #3)
import { openRegistry } from './registry/index.js';
import { startControl, type ControlServices } from './control.js';
import { CampaignManager } from './campaigns/index.js';
import { DesiredStates } from './campaigns/desired-states.js';
import { countPublishes, ServerMetrics } from './metrics.js';
import { HeapCollector } from './heap-collector.js';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly keyId: string;
  /** Control plane (issue #6): broker endpoints, registry, counters. */
  readonly control: ControlServices;
  /** Campaigns (issue #6): waves, signed desired state, report-driven progress. */
  readonly campaigns: CampaignManager;
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  // What a failed start has opened is closed again, last first: a start that fails (a port taken, a bad
  // key) must not keep the state database locked or a broker port bound in the process that called it.
  const opened: (() => Promise<void>)[] = [];
  try {
    return await startParts(config, opened);
  } catch (error) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    throw error;
  }
}

async function startParts(config: ServerConfig, opened: (() => Promise<void>)[]): Promise<RunningServer> {
  const logger = pino({ level: config.logLevel });
  const metrics = new ServerMetrics({ defaultMetrics: config.metrics?.processMetrics ?? true });
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const db = new Level<string, string>(join(config.dataDir, 'state'), { valueEncoding: 'utf8' });
  await withContextAsync('opening the state database', () => db.open());
  opened.push(() => db.close());
  const { key, created } = await withContextAsync('loading the signing key', () => loadOrCreateSigningKey(signingKeyPath(config)));
  if (created) logger.info({ keyId: key.keyId, path: `${signingKeyPath(config)}.key` }, 'generated a new server signing key');
  // --- embedded OCI registry (issue #3)
  const registry = await withContextAsync('opening the registry', () => openRegistry(config, db));
  // --- Control plane (issue #6): broker, device registry, enrolment, audit. ---
  // The signed desired states, read by the embedded broker as the retained ones (desired-states.ts).
  const desired = new DesiredStates(db);
  await withContextAsync('reading the retained desired states', () => desired.open());
  const control = await withContextAsync('starting the MQTT control plane', () => startControl(config, db, logger, metrics, desired));
  opened.push(() => control.close());
  // One set of credentials for the whole fleet: API tokens and enrolled devices work in the registry too.
  registry.auth.useFleetCredentials({
    apiTokenRole: (token) => control.tokens.roleOf(token),
    isDeviceLogin: (deviceId, password) => control.credentials.verify(deviceId, Buffer.from(password, 'utf8')),
  });
  // --- Campaigns (issue #6): follow reports from the ingest; resume running campaigns from level.
  const plane = countPublishes(control.plane, metrics);
  // With --expose-gc (the unit's flag), one full collection after a creation that signed ahead for many devices.
  const heap = new HeapCollector({ logger: logger.child({ component: 'heap' }) });
  opened.push(() => {
    heap.close();
    return Promise.resolve();
  });
  const campaigns = new CampaignManager({
    db,
    registry,
    devices: control.registry,
    plane,
    key,
    desired,
    logger: logger.child({ component: 'campaigns' }),
    afterSigningAhead: (devices) => {
      heap.afterSigningAhead(devices);
    },
  });
  control.ingest.onReport((report) => campaigns.onReport(report));
  opened.push(() => campaigns.close());
  await withContextAsync('resuming campaigns', () => campaigns.open());
  let ready = false;
  metrics.observe({
    devices: () => control.registry.countOnline(),
    campaigns: () => campaigns.activeCounts(),
    signedAheadBytes: () => campaigns.signedAheadBytes(),
    connectedClients: () => control.plane.connectedClients(),
    broker: () => control.plane.counters,
    ingestDropped: () => control.ingest.counters.dropped,
  });
  const app = await buildApp({
    signingKey: key,
    isReady: () => ready,
    logger,
    registry,
    control,
    campaigns,
    metrics: { metrics, public: config.metrics?.public ?? false },
  });
  opened.push(() => app.close());
  await app.listen({ host: config.http.host, port: config.http.port });
  ready = true;
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    app,
    url: `http://${host}:${address.port}`,
    keyId: key.keyId,
    control,
    campaigns,
    async close() {
      ready = false;
      await app.close();
      await campaigns.close();
      heap.close();
      await control.close();
      await db.close();
    },
  };
}
