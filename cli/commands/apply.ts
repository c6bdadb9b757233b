/**
 * `bootfleet apply -f campaign.yaml`: campaigns declared in files kept in
 * git (docs/campaigns.md, "GitOps"). Each YAML document is
 *
 *   apiVersion: bootfleet/v1
 *   kind: Campaign
 *   id: spring-rollout
 *   state: running          # draft | running | paused | aborted (default draft)
 *   spec: { image: ..., selector: ..., waves: ... }   # the fields of POST /api/v1/campaigns
 *
 * Applying is idempotent: the campaign is created when absent (PUT), left
 * alone when identical, refused when its definition changed; then its
 * lifecycle is moved toward `state`. A campaign paused by its failure
 * threshold is never resumed by an apply: that needs a person.
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { BootfleetError, parseCampaignId } from '../../protocol/index.js';
import { apiTarget, callApi, withApiOptions, type ApiTarget } from '../api-client.js';
import type { CliIo } from '../io.js';

const DESIRED_STATES = ['draft', 'running', 'paused', 'aborted'] as const;
type DesiredState = (typeof DESIRED_STATES)[number];
/** Largest file read, bytes. */
const MAX_FILE_BYTES = 1024 * 1024;
const MAX_DOCUMENTS = 100;

interface Declared {
  readonly id: string;
  readonly state: DesiredState;
  readonly spec: Record<string, unknown>;
}

interface CampaignView {
  readonly id: string;
  readonly state: string;
  readonly pauseReason?: { readonly kind: string };
}

export function applyCommand(io: CliIo): Command {
  return withApiOptions(
    new Command('apply')
      .description('create campaigns declared in a YAML file and move them to their declared state; idempotent; prints one JSON line per campaign')
      .requiredOption('-f, --file <campaign.yaml>', 'YAML file with one or more `kind: Campaign` documents'),
  ).action(async (opts: { file: string; server?: string; token?: string }) => {
    const declared = await parseDeclarations(await readText(opts.file), opts.file);
    const target = apiTarget(opts);
    for (const item of declared) io.out(`${JSON.stringify(await applyOne(target, item))}\n`);
  });
}

async function readText(path: string): Promise<string> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${path}`, { cause: error });
  }
  if (text.byteLength > MAX_FILE_BYTES) throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', `${path} is larger than ${MAX_FILE_BYTES} bytes`);
  return text.toString('utf8');
}

/**
 * Parses every document before anything is applied: a broken file changes nothing.
 * The YAML parser is loaded here, not with the CLI: every `bootfleet` process,
 * the agent daemon included, would otherwise carry it (about 8 MiB of RSS).
 */
export async function parseDeclarations(text: string, name: string): Promise<Declared[]> {
  const { parseAllDocuments } = await import('yaml');
  const documents = parseAllDocuments(text);
  if (documents.length === 0) throw invalid(name, 'holds no document');
  if (documents.length > MAX_DOCUMENTS) throw invalid(name, `holds more than ${MAX_DOCUMENTS} documents`);
  return documents.map((doc, index) => {
    const [error] = doc.errors;
    if (error !== undefined) throw invalid(name, `document ${index + 1}: ${error.message}`);
    // A bound on alias expansion: a hostile file cannot blow up into a huge value ("billion laughs").
    return declaration(doc.toJS({ maxAliasCount: 100 }) as unknown, `${name} document ${index + 1}`);
  });
}

function declaration(value: unknown, where: string): Declared {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(where, 'is not a mapping');
  const doc = value as Record<string, unknown>;
  if (doc.apiVersion !== 'bootfleet/v1' || doc.kind !== 'Campaign') throw invalid(where, 'needs apiVersion: bootfleet/v1 and kind: Campaign');
  if (typeof doc.id !== 'string') throw invalid(where, 'needs an id');
  const state = doc.state ?? 'draft';
  if (!(DESIRED_STATES as readonly unknown[]).includes(state)) throw invalid(where, `state must be one of ${DESIRED_STATES.join(', ')}`);
  if (typeof doc.spec !== 'object' || doc.spec === null || Array.isArray(doc.spec)) throw invalid(where, 'needs a spec mapping');
  // The spec itself is validated by the server's schema, the one definition of a campaign.
  return { id: parseCampaignId(doc.id), state: state as DesiredState, spec: doc.spec as Record<string, unknown> };
}

function invalid(where: string, why: string): BootfleetError {
  return new BootfleetError('BOOTFLEET_CAMPAIGN_INVALID', `${where} ${why}`);
}

async function applyOne(target: ApiTarget, item: Declared): Promise<Record<string, unknown>> {
  const path = `/api/v1/campaigns/${encodeURIComponent(item.id)}`;
  const before = await callApi(target, 'GET', path).catch((error: unknown) => {
    if (error instanceof BootfleetError && error.code === 'BOOTFLEET_CAMPAIGN_NOT_FOUND') return undefined;
    throw error;
  });
  const applied = (await callApi(target, 'PUT', path, item.spec)) as { campaign: CampaignView };
  const result = before === undefined ? 'created' : 'unchanged';
  const action = lifecycleAction(applied.campaign, item.state);
  if (action === undefined || action === 'needs-operator') {
    return { id: item.id, result, state: applied.campaign.state, ...(action === undefined ? {} : { note: 'paused by its failure threshold: resume it by hand' }) };
  }
  const moved = (await callApi(target, 'POST', `${path}/${action}`)) as { campaign: CampaignView };
  return { id: item.id, result, action, state: moved.campaign.state };
}

/** The lifecycle call that moves `campaign` toward `desired`, if any. */
function lifecycleAction(campaign: CampaignView, desired: DesiredState): 'start' | 'pause' | 'resume' | 'abort' | 'needs-operator' | undefined {
  const { state } = campaign;
  if (state === 'completed' || state === 'aborted') return undefined;
  switch (desired) {
    case 'draft':
      return undefined;
    case 'running':
      if (state === 'draft') return 'start';
      if (state === 'paused') return campaign.pauseReason?.kind === 'manual' ? 'resume' : 'needs-operator';
      return undefined;
    case 'paused':
      return state === 'running' ? 'pause' : undefined;
    case 'aborted':
      return 'abort';
  }
}
