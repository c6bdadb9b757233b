/**
 * One step of a running campaign (docs/campaigns.md, "Rollout"), as named
 * steps run in order each time something may have changed (a report, a
 * timer tick, a resume):
 *
 *   expireSilent -> judge (trip | complete | advance) -> issuePending -> reissueExpiring
 *
 * The step changes `active` in memory and returns what to persist; the
 * caller writes it in one batch. Messages are published before their
 * device record is written: a crash in between re-issues on restart (the
 * very message again when it was signed ahead, since a bundle signed ahead
 * is stored at creation and kept while its campaign runs:
 * desired-states.ts; else with a higher seq), which devices accept; the
 * opposite order could record a desired state that was never sent.
 */
import type { Logger } from 'pino';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Issued, Issuer } from './issuer.js';
import { verifyCampaignTransition } from './lifecycle.js';
import { InventoryPlanner, type InventoryPlan } from './plan.js';
import type { Campaign, DeviceProgress } from './schemas.js';
import { judgeWaves, type WaveVerdict } from './waves.js';

export interface ActiveCampaign {
  campaign: Campaign;
  readonly devices: Map<string, DeviceProgress>;
}

export type CampaignEvent =
  | { readonly type: 'state'; readonly campaign: string; readonly state: Campaign['state']; readonly reason?: string }
  | { readonly type: 'wave'; readonly campaign: string; readonly wave: number }
  | { readonly type: 'device'; readonly campaign: string; readonly device: string; readonly state: DeviceProgress['state']; readonly phase?: string };

export interface RolloutDeps {
  readonly issuer: Issuer;
  readonly registry: DeviceRegistry;
  readonly logger: Logger;
  readonly emit: (event: CampaignEvent) => void;
  /** Whether anyone listens to device events (an event stream): a start issues 10,000 of them, built for nobody otherwise. */
  readonly listening?: () => boolean;
}

export interface StepResult {
  readonly campaignChanged: boolean;
  readonly devices: Map<string, DeviceProgress>;
  /**
   * Devices issued their first desired state in this step, not in `devices`
   * (the store may write them compact: device-records.ts); a device changed
   * again in the same step is in `devices` too, and that record wins.
   */
  readonly firstIssued: DeviceProgress[];
}

/**
 * Device inventories already read by the caller (the selection at start),
 * so that the first issue does not read every device record a second time.
 */
export type KnownInventories = ReadonlyMap<string, readonly string[]>;

export async function stepCampaign(active: ActiveCampaign, now: number, deps: RolloutDeps, known?: KnownInventories): Promise<StepResult> {
  const devices = new Map<string, DeviceProgress>();
  const firstIssued: DeviceProgress[] = [];
  const before = active.campaign;
  if (before.state !== 'running' || (before.settings.startAt !== undefined && now < before.settings.startAt)) return { campaignChanged: false, devices, firstIssued };
  expireSilent(active, now, devices, deps);
  for (let round = 0; round <= before.settings.waves.length; round += 1) {
    const verdict = judgeWaves({ ...active.campaign.settings, ...active.campaign }, active.devices.values());
    if (verdict.trip) {
      await tripFailure(active, verdict, now, devices, deps);
      return { campaignChanged: true, devices, firstIssued };
    }
    if (verdict.done) {
      setState(active, 'complete', now, deps);
      return { campaignChanged: true, devices, firstIssued };
    }
    if (!verdict.advance) break;
    active.campaign = { ...active.campaign, currentWave: active.campaign.currentWave + 1 };
    deps.emit({ type: 'wave', campaign: before.id, wave: active.campaign.currentWave });
  }
  await issuePending(active, now, devices, deps, { firstIssued, ...(known === undefined ? {} : { known }) });
  await reissueExpiring(active, now, devices, deps);
  return { campaignChanged: active.campaign !== before, devices, firstIssued };
}

export function setState(active: ActiveCampaign, action: 'pause' | 'resume' | 'abort' | 'complete', now: number, deps: Pick<RolloutDeps, 'emit'>, reason?: string): void {
  const state = verifyCampaignTransition(active.campaign.state, action);
  const { pauseReason: _previous, ...rest } = active.campaign;
  const finished = state === 'completed' || state === 'aborted' ? { finishedAt: now } : {};
  active.campaign = { ...rest, state, ...finished };
  deps.emit({ type: 'state', campaign: active.campaign.id, state, ...(reason === undefined ? {} : { reason }) });
}

/**
 * Ends the campaign. Devices that were sent a desired state but never
 * reported on it have their retained desired state withdrawn, so one that
 * comes online later does not start an aborted rollout; devices already
 * working on it keep it (they may be rebooting into the new image).
 */
export async function abortCampaign(active: ActiveCampaign, now: number, deps: RolloutDeps): Promise<Map<string, DeviceProgress>> {
  setState(active, 'abort', now, deps);
  const changed = new Map<string, DeviceProgress>();
  const due: DeviceProgress[] = [];
  for (const device of active.devices.values()) if (device.state === 'issued' && device.lastReportSeq === undefined) due.push(device);
  // In batches, each one `publishMany` (one group commit of the retained deletions), not one awaited publish a device.
  for (let start = 0; start < due.length; start += ISSUE_BATCH) {
    const batch = due.slice(start, start + ISSUE_BATCH);
    await deps.issuer.withdrawMany(batch.map((device) => device.device));
    for (const device of batch) update(active, { ...device, reason: 'withdrawn: campaign aborted' }, changed, deps);
  }
  return changed;
}

/** Records a device's new progress in memory and among the step's changes (in `firstIssued` instead when given). */
function update(active: ActiveCampaign, next: DeviceProgress, changed: Map<string, DeviceProgress>, deps: Pick<RolloutDeps, 'emit' | 'listening'>, firstIssued?: DeviceProgress[]): void {
  const previous = active.devices.get(next.device);
  active.devices.set(next.device, next);
  if (firstIssued === undefined) changed.set(next.device, next);
  else firstIssued.push(next);
  if (previous?.state !== next.state && (deps.listening?.() ?? true)) {
    deps.emit({ type: 'device', campaign: active.campaign.id, device: next.device, state: next.state, ...(next.phase === undefined ? {} : { phase: next.phase }) });
  }
}

/** A device silent for `deviceTimeoutSeconds` since its desired state or its last report counts as failed. */
function expireSilent(active: ActiveCampaign, now: number, changed: Map<string, DeviceProgress>, deps: RolloutDeps): void {
  const timeout = active.campaign.settings.deviceTimeoutSeconds;
  for (const device of active.devices.values()) {
    if (device.state !== 'issued' && device.state !== 'in-progress') continue;
    if ((device.lastActivityAt ?? now) + timeout > now) continue;
    update(active, { ...device, state: 'failed', reason: 'timeout' }, changed, deps);
  }
}

async function tripFailure(active: ActiveCampaign, verdict: WaveVerdict, now: number, changed: Map<string, DeviceProgress>, deps: RolloutDeps): Promise<void> {
  const failed = verdict.counts.failed + verdict.counts.reverted - active.campaign.failuresAcknowledged;
  const message = `${failed} of ${verdict.total} devices failed, at or above the failure threshold ${active.campaign.settings.failureThreshold}`;
  setState(active, 'pause', now, deps, message);
  active.campaign = { ...active.campaign, pauseReason: { kind: 'failure-threshold', message, at: now, failed, total: verdict.total } };
  deps.logger.warn({ campaign: active.campaign.id, failed, total: verdict.total }, 'campaign paused by its failure threshold');
  if (!active.campaign.settings.revertOnFailure) return;
  for (const device of [...active.devices.values()]) {
    if (device.state !== 'succeeded') continue;
    const issued = await deps.issuer.rollback(active.campaign, device.device, `campaign ${active.campaign.id} paused: ${message}`, now);
    update(active, { ...device, state: 'reverted', reason: 'failure-threshold', rollbackCommandSeq: issued.seq, lastActivityAt: now }, changed, deps);
  }
}

/** Issues desired state to the pending devices of the waves so far, keeping at most `maxConcurrentActivations` in flight. */
async function issuePending(active: ActiveCampaign, now: number, changed: Map<string, DeviceProgress>, deps: RolloutDeps, options: IssueOptions): Promise<void> {
  const { currentWave, settings } = active.campaign;
  // One pass (run at every step, a report's included, over up to 10,000 devices): the devices in flight
  // and the pending ones of the waves so far, in rollout order; cut to the room left afterwards.
  let inFlight = 0;
  const candidates: DeviceProgress[] = [];
  for (const device of active.devices.values()) {
    if (device.state === 'issued' || device.state === 'in-progress') inFlight += 1;
    else if (device.state === 'pending' && device.wave <= currentWave) candidates.push(device);
  }
  const room = Math.max(0, (settings.maxConcurrentActivations ?? Number.MAX_SAFE_INTEGER) - inFlight);
  const due = candidates.length > room ? candidates.slice(0, room) : candidates;
  await issue(active, due, now, changed, deps, options);
}

/** Desired states at or past half their lifetime are signed again with a new seq while the campaign runs. */
async function reissueExpiring(active: ActiveCampaign, now: number, changed: Map<string, DeviceProgress>, deps: RolloutDeps): Promise<void> {
  const halfLife = active.campaign.settings.desiredStateTtlSeconds / 2;
  // A loop, not a copy of every device record then a filter: run at every step, over up to 10,000 devices.
  const due: DeviceProgress[] = [];
  for (const d of active.devices.values()) {
    if ((d.state === 'issued' || d.state === 'in-progress') && d.expiresAt !== undefined && d.expiresAt - now <= halfLife) due.push(d);
  }
  if (due.length > 0) await issue(active, due, now, changed, deps, {});
}

/** Devices issued per batch: bounds the memory of one batch of signed messages. */
const ISSUE_BATCH = 256;
/**
 * Batches in flight at once: while one batch is handed to the broker, the
 * next ones' records and sequences are read and they are signed, so devices
 * start receiving after the first batch instead of after the whole wave.
 * 8 since the start got lean (docs/control-plane.md, "Fourth round"): the
 * main thread waited on LevelDB with 4; about 4 MB of bundles in flight.
 */
const ISSUE_WINDOW = 8;

/** What the caller of an issue may add: inventories it has read, and where first issues go (`StepResult.firstIssued`). */
interface IssueOptions {
  readonly known?: KnownInventories;
  readonly firstIssued?: DeviceProgress[];
}

async function issue(active: ActiveCampaign, due: readonly DeviceProgress[], now: number, changed: Map<string, DeviceProgress>, deps: RolloutDeps, options: IssueOptions): Promise<void> {
  const inFlight: Promise<void>[] = [];
  const failures: unknown[] = [];
  const planner = new InventoryPlanner(active.campaign.layers);
  const settle = (batch: Promise<void>): Promise<void> => batch.catch((error: unknown) => void failures.push(error));
  for (let start = 0; start < due.length && failures.length === 0; start += ISSUE_BATCH) {
    if (inFlight.length >= ISSUE_WINDOW) await inFlight.shift();
    inFlight.push(settle(issueBatch(active, due.slice(start, start + ISSUE_BATCH), { ...options, now, planner }, changed, deps)));
  }
  // Every batch started is waited for, failed or not, before the step returns (no publish outlives it).
  await Promise.all(inFlight);
  if (failures.length > 0) throw failures[0] instanceof Error ? failures[0] : new Error(String(failures[0]));
}

/** What every batch of one issue shares. */
interface IssueContext extends IssueOptions {
  readonly now: number;
  readonly planner: InventoryPlanner;
}

/** Signs and publishes one batch, then records each device as issued (published before recorded: see the top). */
async function issueBatch(active: ActiveCampaign, batch: readonly DeviceProgress[], context: IssueContext, changed: Map<string, DeviceProgress>, deps: RolloutDeps): Promise<void> {
  const { now, planner } = context;
  const inventories = await inventoriesOf(
    batch.map((d) => d.device),
    deps.registry,
    context.known,
  );
  const issued = await deps.issuer.desiredStates(
    active.campaign,
    batch.map((d, i) => ({ device: d.device, inventory: inventories[i] ?? NO_LAYERS })),
    now,
    planner,
  );
  batch.forEach((device, i) => {
    const result = issued[i];
    if (result === undefined) return;
    // The same arrays the issuer planned: found by identity (plan.ts).
    const plan = planner.of(inventories[i] ?? NO_LAYERS);
    if (device.state === 'pending') update(active, firstIssue(device, result, now, plan), changed, deps, context.firstIssued);
    else update(active, reissue(device, result, now, plan), changed, deps);
  });
}

/**
 * A pending device's record once issued, built field by field: a spread
 * that overrides fields (`{ ...device, state }`) takes V8's slow path, about
 * 5 us a device here, 50 ms for a start of 10,000. A pending device has no
 * other field: nothing but its first issue changes it (progress.ts ignores
 * reports for it).
 */
function firstIssue(device: DeviceProgress, result: Issued, now: number, plan: Pick<InventoryPlan, 'missingBytes' | 'missingLayers'>): DeviceProgress {
  return {
    device: device.device,
    wave: device.wave,
    state: 'issued',
    missingBytes: plan.missingBytes,
    missingLayers: plan.missingLayers,
    desiredSeq: result.seq,
    issuedAt: result.issuedAt,
    expiresAt: result.expiresAt,
    lastActivityAt: now,
  };
}

/** A re-issue keeps everything else the device's record says (rare: at half-life, one device at a time). */
function reissue(device: DeviceProgress, result: Issued, now: number, plan: Pick<InventoryPlan, 'missingBytes' | 'missingLayers'>): DeviceProgress {
  return {
    ...device,
    desiredSeq: result.seq,
    issuedAt: result.issuedAt,
    expiresAt: result.expiresAt,
    // A re-issue is the server's doing, not a sign of life from the device.
    lastActivityAt: device.lastActivityAt ?? now,
    missingBytes: plan.missingBytes,
    missingLayers: plan.missingLayers,
  };
}

const NO_LAYERS: readonly string[] = [];

async function inventoriesOf(devices: readonly string[], registry: DeviceRegistry, known?: KnownInventories): Promise<(readonly string[])[]> {
  if (known !== undefined && devices.every((device) => known.has(device))) return devices.map((device) => known.get(device) ?? NO_LAYERS);
  return (await registry.getMany(devices)).map((d) => d?.inventory ?? NO_LAYERS);
}
