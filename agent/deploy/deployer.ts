/**
 * The deployment pipeline's state machine on disk: every action reads the
 * state, computes the next one with a transition from protocol/agent-state
 * (which refuses impossible ones before anything is written), and makes it
 * durable in an order that recovery (recovery.ts) can always finish or undo:
 *
 *   stage:   build + publish the deployment dir  →  state (staged)
 *   switch:  state + intent  →  backend.switchTo  →  state (new slots, no intent)  →  activation command
 *   commit:  state (probation cleared, rollback slot set)
 *
 * Deployments no slot references are deleted after each action.
 */
import {
  acceptSequences,
  BootfleetError,
  commit,
  completeSwitch,
  countBoot,
  discardStaged,
  planActivate,
  planFactoryReset,
  planRollback,
  provision,
  stage,
  startSoak,
  withContextAsync,
  type AgentState,
  type DeploymentRef,
  type PendingTransition,
} from '../../protocol/index.js';
import type { ActivationBackend } from './backend.js';
import { crashPoint } from './crash-point.js';
import { buildDeployment, collectGarbage, verifyDeployment } from './deployments.js';
import type { StageSource } from './stage-source.js';
import { readState, writeState } from './state-store.js';

export interface DeployerOptions {
  readonly dataDir: string;
  readonly backend: ActivationBackend;
  /** Milliseconds since the epoch; injected in tests. */
  readonly now?: () => number;
  /** Probation length after an activation or factory reset (default 300_000 ms). */
  readonly healthTimeoutMs?: number;
  /** Agent starts during probation before an automatic rollback (default 3, as greenboot). */
  readonly maxBoots?: number;
  /** Soak window after the first all-green round of checks, before the commit (default 0: none; docs/protocol.md 7). */
  readonly soakMs?: number;
}

export class Deployer {
  readonly dataDir: string;
  readonly backend: ActivationBackend;
  private readonly now: () => number;
  private readonly healthTimeoutMs: number;
  private readonly maxBoots: number;
  private readonly soakMs: number;

  constructor(options: DeployerOptions) {
    this.dataDir = options.dataDir;
    this.backend = options.backend;
    this.now = options.now ?? Date.now;
    this.healthTimeoutMs = options.healthTimeoutMs ?? 300_000;
    this.maxBoots = options.maxBoots ?? 3;
    this.soakMs = options.soakMs ?? 0;
  }

  status(): Promise<AgentState> {
    return readState(this.dataDir);
  }

  /** First install: the deployment becomes booted and factory; the link follows the state (recovery repairs it). */
  provision(source: StageSource): Promise<AgentState> {
    return withContextAsync('Provisioning', async () => {
      const state = await readState(this.dataDir);
      const record = await buildDeployment(this.dataDir, source, this.now());
      const next = await writeState(this.dataDir, state, provision(state, refOf(record), this.now()), 'provision');
      await this.backend.switchTo(refOf(record), 'provision');
      crashPoint('provision:switched');
      return next;
    });
  }

  stage(source: StageSource): Promise<AgentState> {
    return withContextAsync('Staging', async () => {
      const state = await readState(this.dataDir);
      // Refuse before the expensive part when the transition is impossible anyway.
      stage(state, { id: 'probe', manifestDigest: source.manifestDigest, version: source.version }, this.now());
      const record = await buildDeployment(this.dataDir, source, this.now());
      const next = await writeState(this.dataDir, state, stage(state, refOf(record), this.now()), 'stage');
      await collectGarbage(this.dataDir, next);
      return next;
    });
  }

  discardStaged(): Promise<AgentState> {
    return this.simple('Discarding the staged deployment', 'discard-staged', (state) => discardStaged(state, this.now()));
  }

  commit(): Promise<AgentState> {
    return this.simple('Committing', 'commit', (state) => commit(state, this.now()));
  }

  /** Counts an agent start during probation (the boot counter). */
  countBoot(): Promise<AgentState> {
    return this.simple('Counting a boot', 'boot', (state) => countBoot(state, this.now()));
  }

  /** Opens the soak window of the probation (the first all-green round passed). */
  startSoak(): Promise<AgentState> {
    return this.simple('Opening the soak window', 'soak', (state) => startSoak(state, this.now()));
  }

  /** Persists the highest desired-state and command sequences accepted, before acting on them (replay protection across restarts). */
  acceptSequences(seqs: { desired?: number; command?: number }): Promise<AgentState> {
    return this.simple('Recording accepted sequences', 'sequences', (state) => acceptSequences(state, seqs));
  }

  activate(): Promise<AgentState> {
    return this.switch('Activating', (state) => planActivate(state, this.probationSettings()));
  }

  rollback(reason?: string): Promise<AgentState> {
    return this.switch('Rolling back', (state) => planRollback(state, this.now(), reason));
  }

  factoryReset(): Promise<AgentState> {
    return this.switch('Resetting to the factory image', (state) => planFactoryReset(state, this.probationSettings()));
  }

  private probationSettings(): { nowMs: number; healthTimeoutMs: number; maxBoots: number; soakMs: number } {
    return { nowMs: this.now(), healthTimeoutMs: this.healthTimeoutMs, maxBoots: this.maxBoots, soakMs: this.soakMs };
  }

  private simple(context: string, label: string, transition: (state: AgentState) => AgentState): Promise<AgentState> {
    return withContextAsync(context, async () => {
      const state = await readState(this.dataDir);
      const next = await writeState(this.dataDir, state, transition(state), label);
      await collectGarbage(this.dataDir, next);
      return next;
    });
  }

  private switch(context: string, plan: (state: AgentState) => PendingTransition): Promise<AgentState> {
    return withContextAsync(context, async () => {
      const state = await readState(this.dataDir);
      const pending = plan(state);
      const target = refById(state, pending.target);
      await verifyDeployment(this.dataDir, target);
      const withIntent = await writeState(this.dataDir, state, { ...state, pending, generation: state.generation + 1 }, `${pending.action}:intent`);
      const next = await finishSwitch(this, withIntent, pending);
      await this.backend.activate();
      crashPoint(`${pending.action}:activated`);
      await collectGarbage(this.dataDir, next);
      return next;
    });
  }
}

/** Points the backend at the intent's target and records the new slots; recovery calls it too. */
export async function finishSwitch(deployer: Deployer, withIntent: AgentState, pending: PendingTransition): Promise<AgentState> {
  const target = refById(withIntent, pending.target);
  if ((await deployer.backend.current()) !== target.id) await deployer.backend.switchTo(target, pending.action);
  crashPoint(`${pending.action}:switched`);
  return writeState(deployer.dataDir, withIntent, completeSwitch(withIntent, pending), pending.action);
}

export function refById(state: AgentState, id: string): DeploymentRef {
  const all = [state.booted, state.staged, state.rollback, state.factory, state.probation?.previous];
  const ref = all.find((r) => r?.id === id);
  if (ref === undefined) throw new BootfleetError('BOOTFLEET_STATE_CORRUPT', `deployment ${id} is in no slot`);
  return ref;
}

function refOf(record: { id: string; manifestDigest: string; version: string }): DeploymentRef {
  return { id: record.id, manifestDigest: record.manifestDigest, version: record.version };
}
