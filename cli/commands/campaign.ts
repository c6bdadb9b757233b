/**
 * `bootfleet campaign`: update campaigns through the server API
 * (docs/campaigns.md). Answers are printed as JSON; lists as JSON lines.
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { BootfleetError, parseJson } from '../../protocol/index.js';
import { apiTarget, callApi, withApiOptions, type ApiTarget } from '../api-client.js';
import type { CliIo } from '../io.js';

interface ApiOpts {
  server?: string;
  token?: string;
}

interface CreateOpts extends ApiOpts {
  file?: string;
  image?: string;
  imageVersion?: string;
  label: string[];
  group: string[];
  device: string[];
  waves?: number[];
  waveGrowth?: { first: number; factor: number };
  successThreshold?: number;
  failureThreshold?: number;
  revertOnFailure?: boolean;
  startAt?: number;
  deadline?: number;
  downloadOnly?: boolean;
  allowDowngrade?: boolean;
  healthTimeout?: number;
  soak?: number;
  maxConcurrent?: number;
  deviceTimeout?: number;
  ttl?: number;
}

/** Largest campaign file read by `create --file`, bytes. */
const MAX_FILE_BYTES = 1024 * 1024;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function usage(message: string): BootfleetError {
  return new BootfleetError('BOOTFLEET_CLI_USAGE', message);
}

function integer(value: string): number {
  if (!/^[0-9]{1,15}$/.test(value)) throw usage(`${JSON.stringify(value)} is not a whole number`);
  return Number(value);
}

function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw usage(`${JSON.stringify(value)} is not a fraction between 0 and 1`);
  return n;
}

function percentages(value: string): number[] {
  return value.split(',').map((part) => {
    const n = Number(part);
    if (part.trim() === '' || !Number.isFinite(n)) throw usage(`waves ${JSON.stringify(value)} are not comma-separated percentages`);
    return n;
  });
}

function growth(value: string): { first: number; factor: number } {
  const [first, factor, extra] = percentages(value);
  if (first === undefined || factor === undefined || extra !== undefined) throw usage(`--wave-growth ${JSON.stringify(value)} is not first,factor`);
  return { first, factor };
}

/** Unix seconds, or an ISO 8601 date and time (`2026-12-01T02:00:00Z`). */
function time(value: string): number {
  if (/^[0-9]{1,12}$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw usage(`${JSON.stringify(value)} is neither Unix seconds nor an ISO 8601 time`);
  return Math.floor(ms / 1000);
}

async function createBody(id: string, opts: CreateOpts): Promise<Record<string, unknown>> {
  const fromFile = opts.file === undefined ? {} : await readCampaignFile(opts.file);
  const labels: Record<string, string> = {};
  for (const label of opts.label) {
    const at = label.indexOf('=');
    if (at <= 0) throw usage(`label ${JSON.stringify(label)} is not key=value`);
    labels[label.slice(0, at)] = label.slice(at + 1);
  }
  const selector = {
    ...(fromFile.selector as Record<string, unknown> | undefined),
    ...(opts.label.length > 0 ? { labels } : {}),
    ...(opts.group.length > 0 ? { groups: opts.group } : {}),
    ...(opts.device.length > 0 ? { ids: opts.device } : {}),
  };
  const flags: Record<string, unknown> = {
    image: opts.image,
    version: opts.imageVersion,
    waves: opts.waves,
    waveGrowth: opts.waveGrowth,
    successThreshold: opts.successThreshold,
    failureThreshold: opts.failureThreshold,
    revertOnFailure: opts.revertOnFailure,
    startAt: opts.startAt,
    deadline: opts.deadline,
    downloadOnly: opts.downloadOnly,
    allowDowngrade: opts.allowDowngrade,
    healthTimeoutSeconds: opts.healthTimeout,
    soakSeconds: opts.soak,
    maxConcurrentActivations: opts.maxConcurrent,
    deviceTimeoutSeconds: opts.deviceTimeout,
    desiredStateTtlSeconds: opts.ttl,
  };
  const body: Record<string, unknown> = { ...fromFile, id, selector };
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) body[key] = value;
  if (body.image === undefined) throw usage('give --image <host/name:tag> (or "image" in --file)');
  return body;
}

async function readCampaignFile(path: string): Promise<Record<string, unknown>> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${path}`, { cause: error });
  }
  const value = parseJson(text, MAX_FILE_BYTES, path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw usage(`${path} must hold a JSON object`);
  return value as Record<string, unknown>;
}

export function campaignCommand(io: CliIo): Command {
  const campaign = new Command('campaign').description('create, start, pause, resume, abort and inspect update campaigns through the server API');
  withApiOptions(
    campaign
      .command('create')
      .description('create a draft campaign; the image tag is resolved to its digest now and never changes; prints the campaign')
      .argument('<id>', 'campaign id')
      .option('-f, --file <campaign.json>', 'fields of POST /api/v1/campaigns as JSON (flags override them)')
      .option('-i, --image <ref>', 'image in the embedded registry: host[:port]/name:tag or name@sha256:...')
      .option('--image-version <v>', 'image version, when the image has no org.opencontainers.image.version label')
      .option('-l, --label <key=value>', 'target devices with this label (repeat: all must match)', collect, [])
      .option('-g, --group <name>', 'target devices in this group (repeatable: any)', collect, [])
      .option('-d, --device <id>', 'target this device (repeatable: any)', collect, [])
      .option('--waves <p1,p2,...>', 'cumulative percentages ending at 100 (default 1,10,50,100)', percentages)
      .option('--wave-growth <first,factor>', 'instead of --waves: first percent, multiplied by factor each wave up to 100', growth)
      .option('--success-threshold <f>', 'fraction of a wave that must succeed before the next (default 0.9)', fraction)
      .option('--failure-threshold <f>', 'fraction of a wave failed that pauses the campaign (default 0.1)', fraction)
      .option('--revert-on-failure', 'when the failure threshold trips, send signed rollback commands to the updated devices')
      .option('--start-at <time>', 'issue nothing before this time (Unix seconds or ISO 8601)', time)
      .option('--deadline <time>', 'devices activate no later than this, even outside maintenance windows', time)
      .option('--download-only', 'devices stage the image but do not activate it')
      .option('--allow-downgrade', 'allow a target version below the booted one')
      .option('--health-timeout <s>', 'probation after activation, seconds (default 600)', integer)
      .option('--soak <s>', 'soak window: a device commits only after its checks stayed green this long, seconds (default 0)', integer)
      .option('--max-concurrent <n>', 'devices updating at once, at most', integer)
      .option('--device-timeout <s>', 'a device silent this long counts as failed, seconds (default 21600)', integer)
      .option('--ttl <s>', 'lifetime of each signed desired state, seconds (default 86400)', integer),
  ).action(async (id: string, opts: CreateOpts) => {
    const answer = (await callApi(apiTarget(opts), 'POST', '/api/v1/campaigns', await createBody(id, opts))) as { campaign: unknown };
    io.out(`${JSON.stringify(answer.campaign)}\n`);
  });
  withApiOptions(campaign.command('list').description('list campaigns as JSON lines')).action(async (opts: ApiOpts) => {
    const answer = (await callApi(apiTarget(opts), 'GET', '/api/v1/campaigns')) as { campaigns: unknown[] };
    for (const item of answer.campaigns) io.out(`${JSON.stringify(item)}\n`);
  });
  withApiOptions(
    campaign.command('show').description('print a campaign with its counts per state, phase and wave, and each device').argument('<id>', 'campaign id'),
  ).action(async (id: string, opts: ApiOpts) => {
    io.out(`${JSON.stringify(await callApi(apiTarget(opts), 'GET', `/api/v1/campaigns/${encodeURIComponent(id)}`), null, 2)}\n`);
  });
  withApiOptions(
    campaign.command('plan').description('print the layers and bytes each targeted device lacks, and the total transfer cost').argument('<id>', 'campaign id'),
  ).action(async (id: string, opts: ApiOpts) => {
    io.out(`${JSON.stringify(await callApi(apiTarget(opts), 'GET', `/api/v1/campaigns/${encodeURIComponent(id)}/plan`), null, 2)}\n`);
  });
  withApiOptions(
    campaign
      .command('watch')
      .description('print the campaign events (status, state, wave, device) as JSON lines until it completes or is aborted')
      .argument('<id>', 'campaign id'),
  ).action(async (id: string, opts: ApiOpts) => {
    await watchCampaign(apiTarget(opts), id, (event) => {
      io.out(`${JSON.stringify(event)}\n`);
    });
  });
  const actions = { start: 'start rolling out a draft campaign', pause: 'stop issuing new desired states', resume: 'continue a paused campaign; failures so far are acknowledged', abort: 'end the campaign for good' };
  for (const [action, description] of Object.entries(actions)) {
    withApiOptions(campaign.command(action).description(`${description}; prints the campaign`).argument('<id>', 'campaign id')).action(async (id: string, opts: ApiOpts) => {
      const answer = (await callApi(apiTarget(opts), 'POST', `/api/v1/campaigns/${encodeURIComponent(id)}/${action}`)) as { campaign: unknown };
      io.out(`${JSON.stringify(answer.campaign)}\n`);
    });
  }
  return campaign;
}

/** Largest event line accepted from the stream, bytes. */
const MAX_EVENT_BYTES = 64 * 1024;
const FINAL_STATES: readonly unknown[] = ['completed', 'aborted'];

/**
 * Reads the server-sent events of GET /api/v1/campaigns/<id>/events and
 * hands each `data:` line's JSON to `onEvent`; returns once the campaign is
 * completed or aborted (also when it already was), or the server ends the stream.
 */
export async function watchCampaign(target: ApiTarget, id: string, onEvent: (event: Record<string, unknown>) => void): Promise<void> {
  // A first plain call turns a missing campaign or a bad token into the server's error code.
  await callApi(target, 'GET', `/api/v1/campaigns/${encodeURIComponent(id)}/plan`);
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  const controller = new AbortController();
  const response = await fetch(new URL(`/api/v1/campaigns/${encodeURIComponent(id)}/events`, target.server), { headers, signal: controller.signal });
  if (!response.ok || response.body === null) throw new BootfleetError('BOOTFLEET_SERVER_UNREACHABLE', `event stream answered HTTP ${response.status}`);
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      if (buffered.length > MAX_EVENT_BYTES) throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', 'an event of the stream is too large');
      for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
        const data = buffered.slice(0, end).split('\n').find((line) => line.startsWith('data: '));
        buffered = buffered.slice(end + 2);
        if (data === undefined) continue;
        const event = parseJson(data.slice(6), MAX_EVENT_BYTES, 'campaign event') as Record<string, unknown>;
        onEvent(event);
        if (FINAL_STATES.includes(event.state) && (event.type === 'state' || event.type === 'status')) return;
      }
    }
  } finally {
    controller.abort();
  }
}
