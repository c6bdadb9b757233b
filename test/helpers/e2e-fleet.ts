/**
 * The fleet of the end-to-end tests (test/integration/e2e-*.test.ts), built
 * from the demo's own parts (scripts/demo/): the server as a process of the
 * built CLI (embedded registry; embedded broker or an external one), sample
 * OS images built here, pushed and signed with `bootfleet image sign`, agents
 * as `bootfleet agent run` processes with their own data directories, and a
 * fault proxy (test/helpers/fault-proxy.ts) on the agents' path to the
 * registry: campaigns name the image by the proxy's address, the server
 * resolves it in its own registry (server/campaigns/image.ts) and the agents
 * download through the proxy.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { api, prepareAgent, runAgent, runServer, startServer, type DemoAgent, type DemoServer, type ExternalBroker } from '../../scripts/demo/fleet.js';
import { pushImage, sampleImage, type SampleImage } from '../../scripts/demo/image.js';
import { Supervisor, waitFor } from '../../scripts/demo/processes.js';
import { agentStatus, campaignStatus, waitOnline, type AgentStatusView, type CampaignView } from '../../scripts/demo/story.js';
import { Timeline } from '../../scripts/demo/timeline.js';
import { CLI_PATH } from './cli-process.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

export const REPO = 'e2e/os';
/** Each version's app layer carries this much random payload: enough to cut a download in the middle. */
export const PAYLOAD_BYTES = 3 * 1024 * 1024;
/** The agents report their state again this often: a report lost while the server was away is repeated soon. */
const REPORT_INTERVAL_MS = 2_000;

export interface E2eFleet {
  readonly sup: Supervisor;
  readonly timeline: Timeline;
  /** Everything the timeline printed: shown when an assertion fails. */
  readonly log: string[];
  readonly dir: string;
  server: DemoServer;
  readonly agents: DemoAgent[];
  readonly images: ReadonlyMap<string, SampleImage>;
  readonly proxy: FaultProxy;
}

export interface FleetOptions {
  readonly devices: readonly string[];
  readonly versions: readonly string[];
  readonly external?: ExternalBroker;
}

function versionedImage(version: string): SampleImage {
  // base64 keeps the random payload incompressible and a valid text file.
  const payload = randomBytes((PAYLOAD_BYTES * 3) / 4).toString('base64');
  return sampleImage(version, { 'usr/bin/e2e-app': `#!/bin/sh\necho e2e ${version}\n`, 'var/lib/e2e/payload.b64': payload });
}

async function buildImages(f: Pick<E2eFleet, 'sup' | 'server' | 'dir'>, versions: readonly string[]): Promise<Map<string, SampleImage>> {
  await f.sup.run(['keys', 'generate', '-o', join(f.dir, 'builder')]);
  const images = new Map<string, SampleImage>();
  for (const version of versions) {
    const image = versionedImage(version);
    await pushImage(f.server.url, REPO, image, version, f.server.adminToken);
    await f.sup.run(['image', 'sign', `${f.server.host}/${REPO}:${version}`, '-k', join(f.dir, 'builder.key'), '--token-file', f.server.adminTokenFile, '--plain-http']);
    images.set(version, image);
  }
  return images;
}

/** Starts the server, builds and signs every version, starts the proxy and the agents; `f.sup.cleanup()` stops them all. */
export async function startE2eFleet(sup: Supervisor, o: FleetOptions): Promise<E2eFleet> {
  const log: string[] = [];
  const timeline = new Timeline((text) => log.push(text));
  const dir = await sup.tempDir('bootfleet-e2e-');
  const server = await startServer(sup, dir, timeline, o.external);
  const images = await buildImages({ sup, server, dir }, o.versions);
  const proxy = await startFaultProxy(server.host);
  const agents: DemoAgent[] = [];
  for (const id of o.devices) {
    const deviceDir = join(dir, id);
    await mkdir(deviceDir);
    const agent = await prepareAgent(sup, server, { id, dir: deviceDir, healthArgv: ['true'], builderPub: join(dir, 'builder.pub'), reportIntervalMs: REPORT_INTERVAL_MS });
    runAgent(sup, agent, timeline);
    agents.push(agent);
  }
  await waitOnline(server, agents, timeline);
  return { sup, timeline, log, dir, server, agents, images, proxy };
}

export function newSupervisor(): Supervisor {
  return new Supervisor(CLI_PATH);
}

/**
 * Registers in the calling `describe` the start of a fleet with the options `options()` gives then (beforeAll,
 * up to 60 s: images are built and signed) and its clean-up (afterAll: the proxy closed, every process stopped).
 * Hooks the fleet needs (an external broker) are registered before: vitest runs afterAll hooks in reverse order.
 */
export function useE2eFleet(options: () => FleetOptions): () => E2eFleet {
  const sup = newSupervisor();
  let fleet: E2eFleet | undefined;
  beforeAll(async () => {
    fleet = await startE2eFleet(sup, options());
  }, 60_000);
  afterAll(async () => {
    await fleet?.proxy.close();
    await sup.cleanup();
  }, 30_000);
  return () => {
    if (fleet === undefined) throw new Error('the fleet did not start');
    return fleet;
  };
}

export function image(f: E2eFleet, version: string): SampleImage {
  const found = f.images.get(version);
  if (found === undefined) throw new Error(`no image ${version}`);
  return found;
}

/** Creates and starts a one-wave campaign to `version` for every agent, downloading through the proxy. */
export async function startCampaign(f: E2eFleet, id: string, version: string): Promise<void> {
  const body = {
    id,
    image: `${f.proxy.host}/${REPO}:${version}`,
    selector: { ids: f.agents.map((a) => a.id) },
    waves: [100],
    successThreshold: 1,
    // A device that fails is counted and the others go on: the tests check the count, not a pause.
    failureThreshold: 1,
    healthTimeoutSeconds: 10,
  };
  await api(f.server, 'POST', '/api/v1/campaigns', body);
  await api(f.server, 'POST', `/api/v1/campaigns/${id}/start`);
  f.timeline.log('operator', `started campaign ${id} to ${version}`);
}

/** Polls the campaign (through server restarts: a refused connection is "not yet") until `check` holds. */
export async function waitCampaign(f: E2eFleet, id: string, check: (s: CampaignView) => boolean, what: string, timeoutMs = 60_000): Promise<CampaignView> {
  let last: CampaignView | undefined;
  try {
    return await waitFor(async () => {
      try {
        last = await campaignStatus(f.server, id);
      } catch {
        return undefined;
      }
      return check(last) ? last : undefined;
    }, what, timeoutMs);
  } catch (error) {
    const seen = last === undefined ? 'nothing' : JSON.stringify({ state: last.campaign.state, counts: last.counts, devices: last.devices });
    const records = await Promise.all(f.agents.map((a) => api(f.server, 'GET', `/api/v1/devices/${a.id}`).catch((e: unknown) => String(e))));
    const context = `last seen: ${seen}\ndevice records: ${JSON.stringify(records)}\ntimeline:\n${f.log.join('')}${f.sup.diagnostics()}`;
    throw new Error(`${error instanceof Error ? error.message : String(error)}; ${context}`, { cause: error });
  }
}

export const completed = (s: CampaignView): boolean => s.campaign.state === 'completed';

/** SIGKILLs the server and starts it again on the same ports and data directory. */
export async function restartServer(f: E2eFleet): Promise<void> {
  f.timeline.log('test', `kill -9 the server (pid ${String(f.server.child.process.pid)})`);
  await f.server.child.stop('SIGKILL');
  f.server = await runServer(f.sup, f.server, f.timeline);
}

export interface DeviceView {
  readonly status: AgentStatusView;
  /** `etc/demo/version` of the tree the agent's `current` link points at: what would boot. */
  readonly treeVersion: string;
  /** What the server records as booted. */
  readonly serverBooted: string | undefined;
}

/** What an operator checks on a device: `agent status --json`, the tree it runs, and the server's view of it. */
export async function deviceView(f: E2eFleet, agent: DemoAgent): Promise<DeviceView> {
  const status = await agentStatus(f.sup, agent);
  const treeVersion = (await readFile(join(agent.dataDir, 'current', 'etc', 'demo', 'version'), 'utf8')).trim();
  const shown = (await api(f.server, 'GET', `/api/v1/devices/${agent.id}`)) as { device: { slots: { booted?: { digest: string } } } };
  return { status, treeVersion, serverBooted: shown.device.slots.booted?.digest };
}

/** Sum of the sizes of what a device lacking every blob of `version` downloads: manifest, config, layers. */
export function imageBytes(f: E2eFleet, version: string): number {
  const i = image(f, version);
  return i.manifest.size + i.config.size + i.layers.reduce((n, l) => n + l.size, 0);
}
