/**
 * The end-to-end fault stories, each a campaign on the fleet of
 * test/helpers/e2e-fleet.ts, asserting what an operator checks: the
 * campaign's status counts, and each device's slots and digests through the
 * API and `bootfleet agent status --json`. Run by e2e-embedded.test.ts and
 * e2e-mosquitto.test.ts.
 */
import { expect } from 'vitest';
import { runAgent, type DemoAgent } from '../../scripts/demo/fleet.js';
import { waitFor } from '../../scripts/demo/processes.js';
import type { CampaignView } from '../../scripts/demo/story.js';
import { completed, deviceView, image, imageBytes, restartServer, startCampaign, waitCampaign, type E2eFleet } from './e2e-fleet.js';

const KiB = 1024;

/** Every device of the fleet appears once, and the counts add up to the fleet: nobody counted twice. */
function expectCountedOnce(f: E2eFleet, s: CampaignView): void {
  const ids = s.devices.map((d) => d.device);
  expect(new Set(ids).size, 'a device listed twice').toBe(ids.length);
  expect(ids.sort()).toEqual(f.agents.map((a) => a.id).sort());
  expect(Object.values(s.counts).reduce((n, c) => n + c, 0)).toBe(f.agents.length);
}

/** Each agent booted `version`, says so itself, runs its tree, and the server agrees. */
async function expectAllOn(f: E2eFleet, version: string): Promise<void> {
  const digest = image(f, version).manifest.digest;
  for (const agent of f.agents) {
    const view = await deviceView(f, agent);
    expect(view.status.booted?.manifestDigest, agent.id).toBe(digest);
    expect(view.treeVersion, agent.id).toBe(version);
    expect(view.serverBooted, agent.id).toBe(digest);
  }
}

/**
 * (a) The link is cut every 512 KiB on every connection: a download that
 * started over would never finish, so the campaign completing shows the
 * agents resumed; the bytes that crossed the link are the missing bytes plus
 * HTTP headers, not a multiple of them.
 */
export async function linkCutDuringDownload(f: E2eFleet, id: string, version: string): Promise<void> {
  const cut = 512 * KiB;
  const [bytesBefore, connectionsBefore] = [f.proxy.bytesToClients(), f.proxy.connections()];
  f.proxy.setFaults({ cutEveryBytes: cut });
  try {
    await startCampaign(f, id, version);
    const done = await waitCampaign(f, id, completed, `${id} to complete over a link cut every 512 KiB`, 90_000);
    expect(done.counts.succeeded, JSON.stringify(done.devices)).toBe(f.agents.length);
    expectCountedOnce(f, done);
  } finally {
    f.proxy.setFaults({});
  }
  const missing = f.agents.length * imageBytes(f, version);
  const fetched = f.proxy.bytesToClients() - bytesBefore;
  const connections = f.proxy.connections() - connectionsBefore;
  f.timeline.log('test', `${String(fetched)} bytes over ${String(connections)} connections for ${String(missing)} missing bytes`);
  expect(connections).toBeGreaterThan(missing / cut);
  expect(fetched).toBeGreaterThanOrEqual(missing);
  // Headers of each response (well under 2 KiB) on top of the blobs; a restart from zero would add a whole layer.
  expect(fetched).toBeLessThan(missing + connections * 2 * KiB);
  await expectAllOn(f, version);
}

/** Downloads slowed to 1 MiB/s per connection, so that a kill lands while devices are downloading. */
async function startSlowCampaign(f: E2eFleet, id: string, version: string): Promise<void> {
  f.proxy.setFaults({ throttleBytesPerSecond: 1024 * KiB });
  await startCampaign(f, id, version);
  await waitCampaign(f, id, (s) => s.devices.some((d) => d.state === 'in-progress'), `a device of ${id} in progress`);
}

async function expectCompletes(f: E2eFleet, id: string, version: string): Promise<void> {
  const done = await waitCampaign(f, id, completed, `${id} to complete`, 90_000);
  expect(done.counts.succeeded, `${JSON.stringify(done.devices)}\n${f.log.join('')}`).toBe(f.agents.length);
  expectCountedOnce(f, done);
  await expectAllOn(f, version);
}

/** (b) The server is killed (SIGKILL) mid-campaign and started again: the campaign goes on and completes. */
export async function serverKilledMidCampaign(f: E2eFleet, id: string, version: string): Promise<void> {
  try {
    await startSlowCampaign(f, id, version);
    await restartServer(f);
  } finally {
    f.proxy.setFaults({});
  }
  await expectCompletes(f, id, version);
}

/** (c) The broker is killed (SIGKILL) mid-campaign and started again: the agents reconnect and the campaign completes. */
export async function brokerRestartedMidCampaign(f: E2eFleet, id: string, version: string, restartBroker: () => Promise<void>): Promise<void> {
  try {
    await startSlowCampaign(f, id, version);
    f.timeline.log('test', 'kill -9 the broker and start it again');
    await restartBroker();
  } finally {
    f.proxy.setFaults({});
  }
  await expectCompletes(f, id, version);
  for (const agent of f.agents) {
    const shown = await waitFor(async () => {
      const device = (await deviceView(f, agent)).status;
      return device.booted === null ? undefined : device;
    }, `${agent.id} status`);
    expect(shown.booted?.version).toBe(version);
  }
}

/** Kills the agent (SIGKILL) as soon as it says it is activating. */
function killOnActivating(agent: DemoAgent): void {
  const stdout = agent.child?.process.stdout;
  const onData = (d: Buffer): void => {
    if (!/"phase":"activating"/.test(d.toString())) return;
    stdout?.off('data', onData);
    agent.child?.process.kill('SIGKILL');
  };
  stdout?.on('data', onData);
}

/**
 * (d) Agents killed during activation: the first kills itself at the step
 * where the deployment is switched but the state does not record it yet
 * (BOOTFLEET_CRASH_AT, agent/deploy/crash-point.ts), the others get SIGKILL
 * from outside when they print the activating phase. Started again, each is
 * on the complete old or new deployment, and the campaign's view of it agrees
 * (succeeded on the new image, or failed on the old one), never stuck.
 */
export async function agentKilledDuringActivation(f: E2eFleet, id: string, from: string, to: string): Promise<void> {
  const [first, ...others] = f.agents;
  if (first === undefined) throw new Error('no agent');
  await first.child?.stop('SIGTERM');
  runAgent(f.sup, first, f.timeline, { BOOTFLEET_CRASH_AT: 'activate:switched' });
  for (const agent of others) killOnActivating(agent);
  await startCampaign(f, id, to);
  for (const agent of f.agents) {
    const code = await waitFor(() => (agent.child?.exited === true ? (agent.child.process.signalCode ?? 'exit') : undefined), `${agent.id} killed during activation`, 60_000);
    expect(code, agent.id).toBe('SIGKILL');
    f.timeline.log('test', `${agent.id} was killed during activation; starting it again`);
    runAgent(f.sup, agent, f.timeline);
  }
  const settled = (s: CampaignView): boolean => s.devices.every((d) => d.state === 'succeeded' || d.state === 'failed');
  const done = await waitCampaign(f, id, settled, `every device of ${id} succeeded or failed`, 90_000);
  expectCountedOnce(f, done);
  for (const agent of f.agents) {
    const view = await deviceView(f, agent);
    const state = done.devices.find((d) => d.device === agent.id)?.state;
    const expected = state === 'succeeded' ? to : from;
    expect({ device: agent.id, tree: view.treeVersion, booted: view.status.booted?.manifestDigest, server: view.serverBooted }).toEqual({
      device: agent.id,
      tree: expected,
      booted: image(f, expected).manifest.digest,
      server: image(f, expected).manifest.digest,
    });
  }
}
