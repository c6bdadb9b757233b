/**
 * The demo's campaigns and the technician's rollback, as steps of the story
 * (scripts/demo.ts runs them in order).
 */
import type { DemoAgent, DemoServer } from './fleet.js';
import { api } from './fleet.js';
import { waitFor, type Supervisor } from './processes.js';
import { followCampaign, type Timeline } from './timeline.js';

export interface CampaignView {
  readonly campaign: { readonly id: string; readonly state: string; readonly pauseReason?: { readonly kind: string; readonly failed?: number; readonly total?: number; readonly message?: string } };
  readonly counts: Record<string, number>;
  readonly devices: readonly { readonly device: string; readonly wave: number; readonly state: string; readonly reason?: string }[];
}

export function campaignStatus(server: DemoServer, id: string): Promise<CampaignView> {
  return api(server, 'GET', `/api/v1/campaigns/${id}`) as Promise<CampaignView>;
}

export interface CampaignRun {
  readonly id: string;
  readonly stop: () => Promise<void>;
}

/** Creates and starts a campaign while its events stream into the timeline. */
export async function runCampaign(server: DemoServer, timeline: Timeline, body: Record<string, unknown> & { id: string }): Promise<CampaignRun> {
  await api(server, 'POST', '/api/v1/campaigns', body);
  timeline.log('operator', `created campaign ${body.id}: ${String(body.image)}, waves ${JSON.stringify(body.waves)}`);
  const controller = new AbortController();
  const following = followCampaign(server.url, server.adminToken, body.id, timeline, controller.signal).catch((error: unknown) => {
    timeline.log('demo', `campaign events of ${body.id} ended: ${error instanceof Error ? error.message : String(error)}`);
  });
  await api(server, 'POST', `/api/v1/campaigns/${body.id}/start`);
  timeline.log('operator', `started campaign ${body.id}`);
  return {
    id: body.id,
    stop: async () => {
      controller.abort();
      await following;
    },
  };
}

/** Waits for the campaign to satisfy `check`; the error names the last state seen. */
export async function waitCampaign(server: DemoServer, id: string, check: (s: CampaignView) => boolean, what: string, timeoutMs = 60_000): Promise<CampaignView> {
  let last: CampaignView | undefined;
  try {
    return await waitFor(async () => {
      last = await campaignStatus(server, id);
      return check(last) ? last : undefined;
    }, what, timeoutMs);
  } catch (error) {
    const seen = last === undefined ? 'nothing' : JSON.stringify({ state: last.campaign.state, counts: last.counts, devices: last.devices });
    throw new Error(`${error instanceof Error ? error.message : String(error)}; last seen: ${seen}`, { cause: error });
  }
}

export async function waitOnline(server: DemoServer, agents: readonly DemoAgent[], timeline: Timeline): Promise<void> {
  for (const agent of agents) {
    await waitFor(async () => {
      if (agent.child?.exited === true) throw new Error(`agent ${agent.id} exited: ${agent.child.stderr.trim()}`);
      const shown = (await api(server, 'GET', `/api/v1/devices/${agent.id}`)) as { device: { online: boolean } };
      return shown.device.online ? true : undefined;
    }, `${agent.id} online`);
    timeline.log('server', `${agent.id} is online`);
  }
}

export interface SlotView {
  readonly version: string;
  readonly manifestDigest: string;
}

export interface AgentStatusView {
  readonly booted: SlotView | null;
  readonly rollback: SlotView | null;
  readonly factory: SlotView | null;
}

/** `bootfleet agent status --json -d <data>`: what the device itself says it boots. */
export async function agentStatus(sup: Supervisor, agent: DemoAgent): Promise<AgentStatusView> {
  const { stdout } = await sup.run(['agent', 'status', '--json', '-d', agent.dataDir]);
  return JSON.parse(stdout) as AgentStatusView;
}

export interface ServerDeviceView {
  readonly online: boolean;
  readonly slots: { readonly booted?: { readonly digest: string; readonly version?: string } };
}

/** What the server knows of a device (its last report's slots). */
export async function serverDevice(server: DemoServer, id: string): Promise<ServerDeviceView> {
  return ((await api(server, 'GET', `/api/v1/devices/${id}`)) as { device: ServerDeviceView }).device;
}

/**
 * The technician's offline rollback: the agent is stopped first, then
 * `bootfleet agent rollback` runs on its data directory; the agent starts
 * again and the server learns the new slots from its first report.
 */
export async function technicianRollback(sup: Supervisor, server: DemoServer, agent: DemoAgent, timeline: Timeline, restart: () => void): Promise<void> {
  timeline.log('technician', `stops the agent of ${agent.id} (SIGTERM)`);
  await agent.child?.stop('SIGTERM');
  timeline.log('technician', `bootfleet agent rollback -d ${agent.dataDir}`);
  await sup.run(['agent', 'rollback', '-d', agent.dataDir, '-r', 'demo: technician on site reverts to the previous image']);
  const after = await agentStatus(sup, agent);
  timeline.log(agent.id, `rolled back by the technician: booted ${after.booted?.version ?? '-'}, rollback slot ${after.rollback?.version ?? '-'}`);
  timeline.log('technician', `starts the agent of ${agent.id} again`);
  restart();
  const digest = after.booted?.manifestDigest;
  let last: ServerDeviceView | undefined;
  try {
    await waitFor(async () => {
      if (agent.child?.exited === true) throw new Error(`agent ${agent.id} exited: ${agent.child.stderr.trim()}`);
      last = await serverDevice(server, agent.id);
      return last.online && last.slots.booted?.digest === digest ? true : undefined;
    }, `the server to see ${agent.id} booted on ${after.booted?.version ?? '-'}`);
  } catch (error) {
    // What the server saw last and what the agent logged last: enough to tell a missing report from a presence.
    const seen = last === undefined ? 'nothing' : `online ${String(last.online)}, booted ${last.slots.booted?.digest ?? '-'}`;
    throw new Error(`${error instanceof Error ? error.message : String(error)}; the server saw ${seen}; ${agent.id} logged last:\n${agent.recent.join('\n')}`, { cause: error });
  }
  timeline.log('server', `${agent.id} is online again and reports booted ${after.booted?.version ?? '-'}`);
}
