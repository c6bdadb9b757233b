/**
 * The campaign engine as one unit for start.ts: create, start, pause,
 * resume, abort, status and plan for the API; reports from the ingest; a
 * bounded timer for timeouts, re-issue and delayed starts. Campaigns that
 * are running or paused live in memory too (write-through); every change is
 * made under the campaign's mutex and persisted before the call returns, so
 * a server killed and restarted continues exactly where it was.
 */
import { EventEmitter } from 'node:events';
import type { Level } from 'level';
import type { Logger } from 'pino';
import { BootfleetError, type Report, type SigningKey } from '../../protocol/index.js';
import type { ControlPlane } from '../broker/control-plane.js';
import { KeyedMutex } from '../devices/keyed-mutex.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Registry } from '../registry/index.js';
import { resolveCampaignImage } from './image.js';
import { Issuer } from './issuer.js';
import { isActive, verifyCampaignTransition } from './lifecycle.js';
import { InventoryPlanner, planCampaign, type CampaignPlan } from './plan.js';
import { applyReport, type ReportFacts } from './progress.js';
import { abortCampaign, setState, stepCampaign, type ActiveCampaign, type CampaignEvent, type KnownInventories, type RolloutDeps } from './rollout.js';
import type { Campaign, CreateCampaign, DeviceProgress } from './schemas.js';
import { checkSelector, selectDevices } from './selector.js';
import { sameDefinition, settingsOf } from './settings.js';
import { campaignStatus, type CampaignStatus } from './status.js';
import { DesiredStates } from './desired-states.js';
import { CampaignStore } from './store.js';
import { assignWaves, countStates } from './waves.js';
import type { CampaignMetrics } from '../metrics.js';

export interface CampaignManagerDeps {
  readonly db: Level;
  readonly registry: Registry;
  readonly devices: DeviceRegistry;
  readonly plane: Pick<ControlPlane, 'publish' | 'publishMany'>;
  readonly key: SigningKey;
  readonly logger: Logger;
  /** Unix milliseconds; injected by tests. */
  readonly now?: () => number;
  /** How often running campaigns are checked for timeouts, re-issue and start times (ms). */
  readonly tickMs?: number;
  /**
   * The store of signed desired states, opened, when the embedded broker
   * reads retained desired states from it (start.ts); absent, the manager
   * opens its own on `db`.
   */
  readonly desired?: DesiredStates;
  /**
   * Told how many devices a creation signed ahead, once it is over (the
   * server's heap collector: server/heap-collector.ts).
   */
  readonly afterSigningAhead?: (devices: number) => void;
}

export const DEFAULT_TICK_MS = 1_000;
/** Devices signed ahead per batch: bounds the memory of one batch of bundles (about 2 KiB each). */
const SIGN_AHEAD_BATCH = 512;

export class CampaignManager {
  readonly events = new EventEmitter();
  private readonly store: CampaignStore;
  private readonly active = new Map<string, ActiveCampaign>();
  private readonly mutex = new KeyedMutex();
  private readonly rollout: RolloutDeps;
  private readonly now: () => number;
  private readonly desired: DesiredStates;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** The sweep of unused signed states running now, and whether another one is due after it. */
  private sweeping: Promise<void> | undefined;
  private sweepDue = false;
  private closed = false;

  constructor(private readonly deps: CampaignManagerDeps) {
    this.store = new CampaignStore(deps.db);
    this.desired = deps.desired ?? new DesiredStates(deps.db);
    this.now = deps.now ?? Date.now;
    // One listener per open event stream; the bound is the API's concern, not a leak.
    this.events.setMaxListeners(0);
    const issuer = new Issuer({ plane: deps.plane, key: deps.key, store: this.store, desired: this.desired });
    this.rollout = {
      issuer,
      registry: deps.devices,
      logger: deps.logger,
      emit: (event: CampaignEvent) => this.events.emit('event', event),
      listening: () => this.events.listenerCount('event') > 0,
    };
  }

  /** Loads running and paused campaigns, applies reports stored while the engine was down, and starts the timer. */
  async open(): Promise<void> {
    if (this.deps.desired === undefined) await this.desired.open();
    for (const campaign of await this.store.list()) {
      if (!isActive(campaign.state)) continue;
      const devices = new Map((await this.store.devices(campaign.id)).map((d) => [d.device, graceAfterOutage(d, campaign, this.seconds())]));
      const active: ActiveCampaign = { campaign, devices };
      this.active.set(campaign.id, active);
      await this.reconcile(active);
    }
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => {
        this.ticking = undefined;
      });
    }, this.deps.tickMs ?? DEFAULT_TICK_MS);
    this.timer.unref();
    await this.tick();
    // What a campaign that ended before a crash left signed and unused.
    this.sweepSoon();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await this.sweeping;
    await Promise.all([...this.active.keys()].map((id) => this.mutex.run(id, () => Promise.resolve())));
  }

  async create(request: CreateCampaign, actor: string): Promise<Campaign> {
    checkSelector(request.selector);
    const settings = settingsOf(request);
    return this.mutex.run(request.id, async () => {
      if ((await this.store.get(request.id)) !== undefined) {
        throw new BootfleetError('BOOTFLEET_CAMPAIGN_EXISTS', `campaign ${request.id} exists`, { details: { campaign: request.id } });
      }
      const image = await resolveCampaignImage(this.deps.registry, request.image, request.version);
      const campaign: Campaign = {
        id: request.id,
        state: 'draft',
        createdAt: this.seconds(),
        createdBy: actor,
        image: request.image,
        target: image.target,
        layers: [...image.layers],
        ...(image.imageSignature === undefined ? {} : { imageSignature: image.imageSignature }),
        selector: request.selector,
        settings,
        currentWave: 0,
        failuresAcknowledged: 0,
        deviceCount: 0,
      };
      await this.store.put(campaign);
      const signed = await this.signAhead(campaign);
      this.deps.afterSigningAhead?.(signed);
      return campaign;
    });
  }

  /**
   * Signs the desired state of every device the selector matches now and
   * stores it (issuer.ts `prepare`), so that `start` only publishes: the
   * signing cost (about 55 us a device) is paid while the operator reviews
   * the plan, not between start and the devices being notified. Best
   * effort: whatever is missing or stale at start is signed then. Returns
   * how many devices it signed for.
   */
  private async signAhead(campaign: Campaign): Promise<number> {
    let signed = 0;
    try {
      const selected = await selectDevices(this.deps.devices, campaign.id, campaign.selector);
      for (let i = 0; i < selected.length; i += SIGN_AHEAD_BATCH) {
        const batch = selected.slice(i, i + SIGN_AHEAD_BATCH);
        await this.rollout.issuer.prepare(
          campaign,
          batch.map((d) => ({ device: d.id, inventory: d.inventory })),
          this.seconds(),
        );
        signed += batch.length;
      }
    } catch (error) {
      this.deps.logger.warn({ err: error, campaign: campaign.id }, 'desired states could not be signed ahead; they are signed at start');
    }
    return signed;
  }

  /**
   * Idempotent create (GitOps): creates the campaign when absent; when present,
   * succeeds unchanged only if the definition is the same, since a campaign
   * never changes once created.
   */
  async apply(request: CreateCampaign, actor: string): Promise<{ campaign: Campaign; created: boolean }> {
    const existing = this.active.get(request.id)?.campaign ?? (await this.store.get(request.id));
    if (existing === undefined) return { campaign: await this.create(request, actor), created: true };
    const same = sameDefinition(existing, request);
    if (!same) {
      throw new BootfleetError('BOOTFLEET_CAMPAIGN_EXISTS', `campaign ${request.id} exists with another definition; campaigns never change, create a new one`, {
        details: { campaign: request.id, differs: true },
      });
    }
    return { campaign: existing, created: false };
  }

  async list(): Promise<Campaign[]> {
    return (await this.store.list()).map((c) => this.active.get(c.id)?.campaign ?? c);
  }

  async get(id: string): Promise<Campaign> {
    const campaign = this.active.get(id)?.campaign ?? (await this.store.get(id));
    if (campaign === undefined) throw new BootfleetError('BOOTFLEET_CAMPAIGN_NOT_FOUND', `no campaign ${JSON.stringify(id)}`, { details: { campaign: id } });
    return campaign;
  }

  /**
   * The campaign and its devices between two steps, under the campaign's
   * mutex: a step changes them in memory one device at a time (a pause by
   * the failure threshold, then each revert), and a status taken in the
   * middle showed the campaign paused with a device still succeeded.
   */
  async status(id: string): Promise<CampaignStatus> {
    return this.mutex.run(id, () => this.statusLocked(id));
  }

  /**
   * Calls `opened` with the campaign's status, then `listener` with each of
   * its later events, none missed and none also in the status: the status
   * is taken and the listener added under the campaign's mutex, between two
   * steps, and only a step emits events. (A status, then a subscription,
   * left a gap: the step queued behind the status could emit before the
   * caller had subscribed.) Returns what ends the listening.
   */
  async watch(id: string, opened: (status: CampaignStatus) => void, listener: (event: CampaignEvent) => void): Promise<() => void> {
    return this.mutex.run(id, async () => {
      opened(await this.statusLocked(id));
      const own = (event: CampaignEvent): void => {
        if (event.campaign === id) listener(event);
      };
      this.events.on('event', own);
      return () => {
        this.events.off('event', own);
      };
    });
  }

  private async statusLocked(id: string): Promise<CampaignStatus> {
    const campaign = await this.get(id);
    const devices = this.active.get(id)?.devices.values() ?? (await this.store.devices(id));
    return campaignStatus(campaign, [...devices]);
  }

  /** Bytes of bundles signed ahead held in memory (the metrics read it at every scrape). */
  signedAheadBytes(): number {
    return this.desired.memoryBytes();
  }

  /** Device counts of the running and paused campaigns, from memory (the metrics read them at every scrape). */
  activeCounts(): CampaignMetrics[] {
    return [...this.active.values()].map(({ campaign, devices }) => {
      const phases: Record<string, number> = {};
      for (const device of devices.values()) if (device.phase !== undefined) phases[device.phase] = (phases[device.phase] ?? 0) + 1;
      return { id: campaign.id, states: countStates(devices.values()), phases };
    });
  }

  /** Delta cost from the devices' current inventories: the selector's devices for a draft, the frozen ones after start. */
  async plan(id: string): Promise<CampaignPlan> {
    const campaign = await this.get(id);
    const ids = campaign.state === 'draft' ? undefined : (await this.store.devices(id)).map((d) => d.device);
    const devices =
      ids === undefined
        ? await selectDevices(this.deps.devices, id, campaign.selector)
        : (await Promise.all(ids.map((d) => this.deps.devices.get(d)))).filter((d) => d !== undefined);
    return planCampaign(campaign.layers, devices);
  }

  async start(id: string): Promise<Campaign> {
    return this.mutex.run(id, async () => {
      const draft = await this.get(id);
      verifyCampaignTransition(draft.state, 'start');
      const selected = await selectDevices(this.deps.devices, id, draft.selector);
      if (selected.length === 0) throw new BootfleetError('BOOTFLEET_CAMPAIGN_NO_DEVICES', `campaign ${id} selects no device`, { details: { campaign: id } });
      this.checkNoConflict(id, selected.map((d) => d.id));
      const waves = assignWaves(selected.length, draft.settings.waves);
      // Each device's delta only (not the whole plan with its totals): one plan per distinct inventory.
      const planner = new InventoryPlanner(draft.layers);
      const devices = new Map<string, DeviceProgress>();
      // The selection has just read every device's record: the first issue uses its inventories.
      const known = new Map<string, readonly string[]>();
      selected.forEach((device, index) => {
        const { missingBytes, missingLayers } = planner.of(device.inventory);
        devices.set(device.id, { device: device.id, wave: waves[index] ?? 0, state: 'pending', missingBytes, missingLayers });
        known.set(device.id, device.inventory);
      });
      const campaign: Campaign = { ...draft, state: 'running', startedAt: this.seconds(), deviceCount: selected.length };
      await this.store.putStarted(campaign, [...devices.values()]);
      const active: ActiveCampaign = { campaign, devices };
      this.active.set(id, active);
      this.rollout.emit({ type: 'state', campaign: id, state: 'running' });
      await this.stepLocked(active, known);
      return active.campaign;
    });
  }

  /** One device follows one campaign at a time: two would overwrite each other's retained desired state. */
  private checkNoConflict(id: string, devices: readonly string[]): void {
    for (const other of this.active.values()) {
      const shared = devices.find((device) => other.devices.has(device));
      if (shared === undefined) continue;
      throw new BootfleetError('BOOTFLEET_CAMPAIGN_CONFLICT', `device ${shared} is in campaign ${other.campaign.id}, which is ${other.campaign.state}`, {
        details: { campaign: id, device: shared, other: other.campaign.id },
      });
    }
  }

  async pause(id: string, actor: string): Promise<Campaign> {
    return this.change(id, 'pause', (active, now) => {
      active.campaign = { ...active.campaign, pauseReason: { kind: 'manual', message: `paused by ${actor}`, at: now } };
    });
  }

  /** Failures seen so far are acknowledged: only new ones count against the threshold after a resume. */
  async resume(id: string): Promise<Campaign> {
    return this.change(id, 'resume', (active) => {
      let failures = 0;
      for (const device of active.devices.values()) if (device.state === 'failed' || device.state === 'reverted') failures += 1;
      active.campaign = { ...active.campaign, failuresAcknowledged: failures };
    });
  }

  async abort(id: string): Promise<Campaign> {
    return this.mutex.run(id, async () => {
      const active = this.active.get(id);
      if (active === undefined) {
        const campaign = await this.get(id);
        const aborted: Campaign = { ...campaign, state: verifyCampaignTransition(campaign.state, 'abort'), finishedAt: this.seconds() };
        await this.store.put(aborted);
        await this.ended(id);
        return aborted;
      }
      const changed = await abortCampaign(active, this.seconds(), this.rollout);
      await this.store.put(active.campaign, changed.values());
      this.active.delete(id);
      await this.ended(id);
      return active.campaign;
    });
  }

  /** Called by the ingest for every stored (non-duplicate) report; never throws. */
  async onReport(report: Report): Promise<void> {
    try {
      await this.followReport(report);
    } catch (error) {
      this.deps.logger.error({ err: error, device: report.device, seq: report.seq }, 'a report could not be applied to its campaign');
    }
  }

  private async followReport(report: Report): Promise<void> {
    const active = report.campaign === undefined ? undefined : this.active.get(report.campaign);
    if (active === undefined) return;
    const facts: ReportFacts = {
      seq: report.seq,
      phase: report.phase,
      campaign: report.campaign,
      ...(report.slots.booted === undefined ? {} : { bootedDigest: report.slots.booted.digest }),
      ...(report.error === undefined ? {} : { errorCode: report.error.code }),
    };
    await this.mutex.run(active.campaign.id, () => this.applyFacts(active, report.device, facts));
  }

  private async applyFacts(active: ActiveCampaign, device: string, facts: ReportFacts): Promise<void> {
    const progress = active.devices.get(device);
    if (progress === undefined) return;
    const next = applyReport(progress, facts, active.campaign.target.digest, this.seconds());
    if (next === undefined) return;
    active.devices.set(device, next);
    if (next.state !== progress.state) this.rollout.emit({ type: 'device', campaign: active.campaign.id, device, state: next.state, ...(next.phase === undefined ? {} : { phase: next.phase }) });
    await this.store.putDevices(active.campaign.id, [next]);
    await this.stepLocked(active);
  }

  /**
   * A report stored by the registry but not yet applied here (the server
   * died in between) is applied at start from the device's record.
   */
  private async reconcile(active: ActiveCampaign): Promise<void> {
    for (const progress of [...active.devices.values()]) {
      const device = await this.deps.devices.get(progress.device);
      const last = device?.lastReport;
      if (device === undefined || last?.campaign !== active.campaign.id) continue;
      const facts: ReportFacts = {
        seq: last.seq,
        phase: last.phase,
        campaign: last.campaign,
        ...(device.slots.booted === undefined ? {} : { bootedDigest: device.slots.booted.digest }),
        ...(last.error === undefined ? {} : { errorCode: last.error.code }),
      };
      await this.applyFacts(active, progress.device, facts);
    }
  }

  private async change(id: string, action: 'pause' | 'resume', adjust: (active: ActiveCampaign, now: number) => void): Promise<Campaign> {
    return this.mutex.run(id, async () => {
      const active = this.active.get(id);
      if (active === undefined) {
        // Not running nor paused: the transition check refuses it with the campaign's real state.
        verifyCampaignTransition((await this.get(id)).state, action);
        throw new BootfleetError('BOOTFLEET_INTERNAL', `campaign ${id} is active but not loaded`);
      }
      setState(active, action, this.seconds(), this.rollout);
      adjust(active, this.seconds());
      await this.store.put(active.campaign);
      await this.stepLocked(active);
      return active.campaign;
    });
  }

  /** Runs one rollout step; the caller holds the campaign's mutex. */
  private async stepLocked(active: ActiveCampaign, known?: KnownInventories): Promise<void> {
    const result = await stepCampaign(active, this.seconds(), this.rollout, known);
    if (result.campaignChanged) await this.store.put(active.campaign, result.devices.values(), result.firstIssued);
    else if (result.devices.size > 0 || result.firstIssued.length > 0) await this.store.putDevices(active.campaign.id, result.devices.values(), result.firstIssued);
    if (isActive(active.campaign.state)) return;
    this.active.delete(active.campaign.id);
    await this.ended(active.campaign.id);
  }

  /**
   * A campaign ended: its signed states leave memory, and a sweep deletes
   * those no device holds as its retained desired state (in the
   * background: the next campaign does not wait for it).
   */
  private async ended(id: string): Promise<void> {
    this.desired.forget(id);
    await this.store.dropLegacyPrepared(id);
    this.sweepSoon();
  }

  /** Runs a sweep now, or once the running one is done; never two at once. */
  private sweepSoon(): void {
    if (this.closed) return;
    if (this.sweeping !== undefined) {
      this.sweepDue = true;
      return;
    }
    this.sweeping = this.sweep().finally(() => {
      this.sweeping = undefined;
      if (!this.sweepDue) return;
      this.sweepDue = false;
      this.sweepSoon();
    });
  }

  private async sweep(): Promise<void> {
    try {
      const ended = new Set((await this.store.list()).filter((c) => c.state === 'completed' || c.state === 'aborted').map((c) => c.id));
      const result = await this.desired.sweep(
        (campaign) => ended.has(campaign),
        (devices) => this.store.currentSeqs(devices, 'desired'),
      );
      this.deps.logger.debug({ deleted: result.deleted, compacted: result.compacted }, 'unused signed desired states swept');
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'unused signed desired states could not be swept; the next campaign end tries again');
    }
  }

  private async tick(): Promise<void> {
    for (const active of [...this.active.values()]) {
      try {
        await this.mutex.run(active.campaign.id, () => this.stepLocked(active));
      } catch (error) {
        this.deps.logger.error({ err: error, campaign: active.campaign.id }, 'campaign step failed; retried at the next tick');
      }
    }
  }

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }
}

/**
 * Silence that spans a server outage is not the device's fault (its reports
 * waited in its queue or were lost): a device whose timeout ran out while the
 * server was down gets one more full timeout from the restart. In memory
 * only until its next change is written, so a restart alone changes nothing stored.
 */
function graceAfterOutage(device: DeviceProgress, campaign: Campaign, now: number): DeviceProgress {
  if (device.state !== 'issued' && device.state !== 'in-progress') return device;
  if ((device.lastActivityAt ?? now) + campaign.settings.deviceTimeoutSeconds > now) return device;
  return { ...device, lastActivityAt: now };
}
