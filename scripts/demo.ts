/**
 * `npm run demo`: the whole story with real processes on this machine, no
 * network. A server (embedded broker and registry), a sample OS image v1 and
 * v2 built here, pushed and signed, three agents in their own data
 * directories, a campaign to v1, then a campaign to v2 in which device-3's
 * health check fails: it rolls back by itself and the campaign pauses at its
 * failure threshold; then a technician rolls device-1 back with the offline
 * agent CLI. Prints a timeline and a summary; exits 0, or 1 naming what failed.
 * Every process started is stopped and every temporary directory removed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareAgent, runAgent, startServer, type DemoAgent, type DemoServer } from './demo/fleet.js';
import { pushImage, sampleImage, type SampleImage } from './demo/image.js';
import { Supervisor } from './demo/processes.js';
import { agentStatus, campaignStatus, runCampaign, technicianRollback, waitCampaign, waitOnline, serverDevice, type AgentStatusView, type CampaignView } from './demo/story.js';
import { Timeline } from './demo/timeline.js';

const REPO = 'demo/os';
/** The rollout order is a hash of campaign id and device id (server/campaigns/selector.ts): with this id, device-1 and device-3 make the first wave of [34, 100]. */
const UPGRADE = 'v2-upgrade';
const DEVICES = ['device-1', 'device-2', 'device-3'];
/** The device whose health check fails on v2. */
const FAILING = 'device-3';
/** The device the technician rolls back. */
const REVERTED = 'device-1';

/** A health check that passes unless the booted tree needs the sensor (only v2 does) and the device has none. */
function healthScript(dataDir: string, deviceDir: string): string {
  return [
    `if [ -f '${dataDir}/current/etc/demo/needs-sensor' ] && [ ! -e '${deviceDir}/sensor' ]; then`,
    `  echo 'v2 needs the temperature sensor, and this device has none'; exit 1;`,
    'fi',
  ].join('\n');
}

async function buildImages(sup: Supervisor, server: DemoServer, dir: string, timeline: Timeline): Promise<SampleImage[]> {
  await sup.run(['keys', 'generate', '-o', join(dir, 'builder')]);
  timeline.log('builder', 'made a builder signing key (bootfleet keys generate)');
  const v1 = sampleImage('1.0', { 'usr/bin/demo-app': '#!/bin/sh\necho demo app 1.0\n' });
  const v2 = sampleImage('2.0', { 'usr/bin/demo-app': '#!/bin/sh\necho demo app 2.0, with sensor\n', 'etc/demo/needs-sensor': 'temperature\n' });
  for (const image of [v1, v2]) {
    await pushImage(server.url, REPO, image, image.version, server.adminToken);
    timeline.log('builder', `pushed ${REPO}:${image.version} (${image.manifest.digest.slice(0, 19)}…, ${String(image.layers.length)} layers)`);
    await sup.run(['image', 'sign', `${server.host}/${REPO}:${image.version}`, '-k', join(dir, 'builder.key'), '--token-file', server.adminTokenFile, '--plain-http']);
    timeline.log('builder', `signed ${REPO}:${image.version} (bootfleet image sign)`);
  }
  return [v1, v2];
}

async function startAgents(sup: Supervisor, server: DemoServer, dir: string, timeline: Timeline): Promise<DemoAgent[]> {
  const agents: DemoAgent[] = [];
  for (const id of DEVICES) {
    const deviceDir = join(dir, id);
    await mkdir(deviceDir);
    if (id !== FAILING) await writeFile(join(deviceDir, 'sensor'), 'present\n');
    const dataDir = join(deviceDir, 'data');
    const agent = await prepareAgent(sup, server, { id, dir: deviceDir, healthArgv: ['sh', '-c', healthScript(dataDir, deviceDir)], builderPub: join(dir, 'builder.pub') });
    timeline.log(id, `enrolled (bootfleet agent enroll)${id === FAILING ? '; this device has no temperature sensor' : ''}`);
    runAgent(sup, agent, timeline);
    agents.push(agent);
  }
  await waitOnline(server, agents, timeline);
  return agents;
}

async function provision(server: DemoServer, timeline: Timeline): Promise<void> {
  const run = await runCampaign(server, timeline, { id: 'provision-v1', image: `${server.host}/${REPO}:1.0`, selector: { ids: DEVICES }, waves: [100], successThreshold: 1 });
  await waitCampaign(server, run.id, (s) => s.campaign.state === 'completed', 'provision-v1 to complete');
  await run.stop();
}

async function upgrade(server: DemoServer, timeline: Timeline): Promise<CampaignView> {
  const body = { id: UPGRADE, image: `${server.host}/${REPO}:2.0`, selector: { ids: DEVICES }, waves: [34, 100], successThreshold: 1, failureThreshold: 0.5, healthTimeoutSeconds: 3 };
  const run = await runCampaign(server, timeline, body);
  const started = await waitCampaign(server, UPGRADE, (s) => s.devices.length === DEVICES.length, 'the upgrade devices');
  const firstWave = started.devices.filter((d) => d.wave === 0).map((d) => d.device).sort();
  if (firstWave.join(',') !== [REVERTED, FAILING].sort().join(',')) throw new Error(`unexpected first wave ${firstWave.join(',')}`);
  timeline.log('campaign', `${UPGRADE}: first wave is ${firstWave.join(' and ')}`);
  const paused = await waitCampaign(
    server,
    UPGRADE,
    (s) => s.campaign.state === 'paused' && s.devices.find((d) => d.device === REVERTED)?.state === 'succeeded',
    `${UPGRADE} to pause at its failure threshold with ${REVERTED} updated`,
  );
  await run.stop();
  return paused;
}

function slot(view: AgentStatusView['booted']): string {
  return view === null ? '-' : `${view.version} (${view.manifestDigest.slice(0, 19)}…)`;
}

/** Prints the summary and checks the outcome the story promises; throws naming the first difference. */
async function summary(sup: Supervisor, server: DemoServer, agents: readonly DemoAgent[], campaign: CampaignView, images: readonly SampleImage[], timeline: Timeline): Promise<void> {
  timeline.raw('\n=== summary ===\n');
  const statuses = new Map<string, AgentStatusView>();
  for (const agent of agents) {
    const status = await agentStatus(sup, agent);
    statuses.set(agent.id, status);
    const seen = await serverDevice(server, agent.id);
    timeline.raw(`${agent.id}: booted ${slot(status.booted)}, rollback ${slot(status.rollback)}; server sees booted ${seen.slots.booted?.version ?? '-'}\n`);
  }
  const reason = campaign.campaign.pauseReason;
  const counts = Object.entries(campaign.counts).filter(([, n]) => n > 0).map(([state, n]) => `${state} ${String(n)}`).join(', ');
  timeline.raw(`campaign ${campaign.campaign.id}: ${campaign.campaign.state}; ${counts}\n`);
  timeline.raw(`pause reason: ${reason === undefined ? '-' : `${reason.kind} (${String(reason.failed)} of ${String(reason.total)} failed)${reason.message === undefined ? '' : `: ${reason.message}`}`}\n`);
  for (const d of campaign.devices) timeline.raw(`  ${d.device}: wave ${String(d.wave)}, ${d.state}${d.reason === undefined ? '' : ` (${d.reason})`}\n`);
  const [v1, v2] = images;
  const expect = (what: string, ok: boolean): void => {
    if (!ok) throw new Error(`the outcome differs: ${what}`);
  };
  expect('the campaign paused at its failure threshold', campaign.campaign.state === 'paused' && reason?.kind === 'failure-threshold');
  expect(`${FAILING} rolled back to v1 by itself`, statuses.get(FAILING)?.booted?.manifestDigest === v1?.manifest.digest);
  expect(`${REVERTED} booted v1 with v2 as its rollback`, statuses.get(REVERTED)?.booted?.manifestDigest === v1?.manifest.digest && statuses.get(REVERTED)?.rollback?.manifestDigest === v2?.manifest.digest);
  expect('device-2 stayed on v1', statuses.get('device-2')?.booted?.manifestDigest === v1?.manifest.digest);
}

async function main(sup: Supervisor, timeline: Timeline): Promise<void> {
  const started = Date.now();
  const dir = await sup.tempDir('bootfleet-demo-');
  timeline.log('demo', `working in ${dir}`);
  const server = await startServer(sup, dir, timeline);
  const images = await buildImages(sup, server, dir, timeline);
  const agents = await startAgents(sup, server, dir, timeline);
  await provision(server, timeline);
  const paused = await upgrade(server, timeline);
  const reverted = agents.find((a) => a.id === REVERTED);
  if (reverted === undefined) throw new Error(`no ${REVERTED}`);
  await technicianRollback(sup, server, reverted, timeline, () => runAgent(sup, reverted, timeline));
  // The status now, after the technician: the campaign stays paused; device-1's record there keeps its success.
  await summary(sup, server, agents, await campaignStatus(server, paused.campaign.id), images, timeline);
  timeline.raw(`\nDEMO OK in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

const sup = new Supervisor();
const timeline = new Timeline();
const run = { interrupted: false };
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    run.interrupted = true;
    timeline.log('demo', `${signal}: stopping every process`);
    void sup.cleanup().finally(() => process.exit(130));
  });
}
try {
  await main(sup, timeline);
} catch (error) {
  process.exitCode = 1;
  // After an interrupt the story fails as its processes go away: that is not news.
  if (!run.interrupted) {
    timeline.log('demo', `FAILED: ${error instanceof Error ? error.message : String(error)}`);
    timeline.raw(sup.diagnostics());
  }
} finally {
  await sup.cleanup();
}
