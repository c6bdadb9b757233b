/**
 * The only way the device state changes (docs/agent-deployment.md,
 * "Transitions"). Each action is a pure function of the previous state and
 * its arguments that refuses an impossible change with
 * BOOTFLEET_TRANSITION_INVALID before anything is written, as bootc's
 * `verify_transition` does. Switching actions (activate, rollback, factory
 * reset) are split in two: `plan*` checks and returns the intent that is
 * persisted first, `completeSwitch` turns that intent into the new slots.
 * Recovery calls `completeSwitch` again after a crash, which is why it must
 * depend on nothing but the state and the intent.
 */
import { BootfleetError } from '../errors.js';
import {
  HISTORY_MAX_ENTRIES,
  type AgentState,
  type DeploymentRef,
  type HistoryEntry,
  type PendingTransition,
  type TransitionAction,
} from './schema.js';

export interface ProbationSettings {
  readonly nowMs: number;
  /** Time the new deployment has to pass its required health checks. */
  readonly healthTimeoutMs: number;
  /** Agent starts without a commit after which the deployment is rolled back (greenboot uses 3). */
  readonly maxBoots: number;
  /** Soak window: how long the checks must stay green after their first all-green round before the commit. */
  readonly soakMs?: number;
}

function refuse(action: TransitionAction, reason: string): never {
  throw new BootfleetError('BOOTFLEET_TRANSITION_INVALID', `cannot ${action}: ${reason}`, { details: { action, reason } });
}

function settled(action: TransitionAction, prev: AgentState): void {
  if (prev.pending !== undefined) refuse(action, `an interrupted ${prev.pending.action} must be recovered first`);
}

function record(prev: AgentState, entry: HistoryEntry): HistoryEntry[] {
  return [...prev.history, entry].slice(-HISTORY_MAX_ENTRIES);
}

function next(prev: AgentState, changes: Partial<AgentState>, entry: HistoryEntry): AgentState {
  const merged: Record<string, unknown> = { ...prev, ...changes, generation: prev.generation + 1, history: record(prev, entry) };
  // Optional slots that a transition empties are left out, not stored as undefined.
  return Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined)) as AgentState;
}

/** First install: the image the device was built with is booted and kept as the factory image. */
export function provision(prev: AgentState, ref: DeploymentRef, nowMs: number): AgentState {
  settled('provision', prev);
  if (prev.booted !== undefined) refuse('provision', 'the device is already provisioned');
  return next(prev, { booted: ref, factory: ref }, { atMs: nowMs, action: 'provision', deployment: ref.id, version: ref.version });
}

export function stage(prev: AgentState, ref: DeploymentRef, nowMs: number): AgentState {
  settled('stage', prev);
  if (prev.booted === undefined) refuse('stage', 'the device is not provisioned');
  if (prev.probation !== undefined) refuse('stage', `deployment ${prev.probation.deployment} is on probation; commit or roll back first`);
  if (ref.id === prev.booted.id) refuse('stage', `deployment ${ref.id} is the booted one`);
  return next(prev, { staged: ref }, { atMs: nowMs, action: 'stage', deployment: ref.id, version: ref.version });
}

export function discardStaged(prev: AgentState, nowMs: number): AgentState {
  settled('discard-staged', prev);
  if (prev.staged === undefined) refuse('discard-staged', 'nothing is staged');
  return next(prev, { staged: undefined }, { atMs: nowMs, action: 'discard-staged', deployment: prev.staged.id });
}

/** Marks the deployment on probation good; the one booted before it becomes the rollback slot. */
export function commit(prev: AgentState, nowMs: number): AgentState {
  settled('commit', prev);
  if (prev.probation === undefined) refuse('commit', 'no deployment is on probation');
  const rollback = prev.probation.previous ?? prev.rollback;
  return next(prev, { probation: undefined, rollback }, { atMs: nowMs, action: 'commit', deployment: prev.probation.deployment });
}

/** Counts one more agent start during probation (the boot counter). */
export function countBoot(prev: AgentState, nowMs: number): AgentState {
  settled('boot', prev);
  if (prev.probation === undefined) refuse('boot', 'no deployment is on probation');
  const probation = { ...prev.probation, boots: prev.probation.boots + 1 };
  return next(prev, { probation }, { atMs: nowMs, action: 'boot', deployment: probation.deployment, reason: `start ${probation.boots} of ${probation.maxBoots}` });
}

/**
 * Opens the soak window after the first all-green round (docs/protocol.md 7): the time is kept in the state
 * so that an agent restarted during the window continues it instead of starting it again.
 */
export function startSoak(prev: AgentState, nowMs: number): AgentState {
  settled('soak', prev);
  if (prev.probation?.soakMs === undefined) refuse('soak', 'no deployment is on probation with a soak window');
  if (prev.probation.soakStartedAtMs !== undefined) refuse('soak', 'the soak window is already open');
  const probation = { ...prev.probation, soakStartedAtMs: nowMs };
  return next(prev, { probation }, { atMs: nowMs, action: 'soak', deployment: probation.deployment, reason: `healthy; commit after ${prev.probation.soakMs} ms` });
}

/** Records accepted desired-state and command sequences; they only grow (replay protection). */
export function acceptSequences(prev: AgentState, seqs: { desired?: number; command?: number }): AgentState {
  if (seqs.desired !== undefined && seqs.desired <= (prev.lastDesiredSeq ?? 0)) {
    throw new BootfleetError('BOOTFLEET_SIG_REPLAYED', `desired-state seq ${seqs.desired} is not above ${prev.lastDesiredSeq ?? 0}`);
  }
  if (seqs.command !== undefined && seqs.command <= (prev.lastCommandSeq ?? 0)) {
    throw new BootfleetError('BOOTFLEET_SIG_REPLAYED', `command seq ${seqs.command} is not above ${prev.lastCommandSeq ?? 0}`);
  }
  const state: AgentState = { ...prev, generation: prev.generation + 1 };
  if (seqs.desired !== undefined) state.lastDesiredSeq = seqs.desired;
  if (seqs.command !== undefined) state.lastCommandSeq = seqs.command;
  return state;
}

export function planActivate(prev: AgentState, settings: ProbationSettings): PendingTransition {
  settled('activate', prev);
  if (prev.staged === undefined) refuse('activate', 'nothing is staged');
  if (prev.probation !== undefined) refuse('activate', `deployment ${prev.probation.deployment} is on probation`);
  return { action: 'activate', atMs: settings.nowMs, target: prev.staged.id, ...fromOf(prev), ...probationArgs(settings) };
}

/** During probation a rollback returns to the deployment booted before; otherwise to the rollback slot. */
export function planRollback(prev: AgentState, nowMs: number, reason?: string): PendingTransition {
  settled('rollback', prev);
  const target = rollbackTarget(prev);
  if (target === undefined) refuse('rollback', 'there is no deployment to roll back to');
  return { action: 'rollback', atMs: nowMs, target: target.id, ...fromOf(prev), ...(reason === undefined ? {} : { reason: reason.slice(0, 512) }) };
}

/** A factory reset is itself on probation: until it is committed, a rollback returns to the pre-reset deployment. */
export function planFactoryReset(prev: AgentState, settings: ProbationSettings): PendingTransition {
  settled('factory-reset', prev);
  if (prev.factory === undefined) refuse('factory-reset', 'there is no factory deployment');
  if (prev.booted?.id === prev.factory.id) refuse('factory-reset', 'the factory deployment is already booted');
  return { action: 'factory-reset', atMs: settings.nowMs, target: prev.factory.id, ...fromOf(prev), ...probationArgs(settings) };
}

export function rollbackTarget(prev: AgentState): DeploymentRef | undefined {
  return prev.probation === undefined ? prev.rollback : prev.probation.previous;
}

/** The new slots once the system runs `pending.target`; the intent is cleared in the same write. */
export function completeSwitch(prev: AgentState, pending: PendingTransition): AgentState {
  const base: AgentState = { ...prev };
  delete base.pending;
  const entry = { atMs: pending.atMs, action: pending.action, deployment: pending.target, ...(pending.reason === undefined ? {} : { reason: pending.reason }) };
  switch (pending.action) {
    case 'activate': {
      const staged = expectTarget(base, pending, base.staged);
      const probation = probationFor(staged.id, committedOf(base), 'activate', pending);
      return next(base, { booted: staged, staged: undefined, rollback: unless(base.rollback, staged), probation }, { ...entry, version: staged.version });
    }
    case 'factory-reset': {
      const factory = expectTarget(base, pending, base.factory);
      const probation = probationFor(factory.id, committedOf(base), 'factory-reset', pending);
      return next(base, { booted: factory, rollback: unless(base.rollback, factory), probation }, { ...entry, version: factory.version });
    }
    case 'rollback': {
      const target = expectTarget(base, pending, rollbackTarget(base));
      // Out of probation the two swap (bootc rollback); in probation the failed deployment is dropped.
      const rollback = base.probation === undefined ? base.booted : base.rollback;
      return next(base, { booted: target, rollback: unless(rollback, target), probation: undefined }, { ...entry, version: target.version });
    }
  }
}

/** A slot may not hold the booted deployment: it is emptied instead (verify.ts). */
function unless(slot: DeploymentRef | undefined, booted: DeploymentRef): DeploymentRef | undefined {
  return slot?.id === booted.id ? undefined : slot;
}

/** The last committed deployment: the one a probation returns to. */
function committedOf(state: AgentState): DeploymentRef | undefined {
  return state.probation === undefined ? state.booted : state.probation.previous;
}

function expectTarget(prev: AgentState, pending: PendingTransition, ref: DeploymentRef | undefined): DeploymentRef {
  if (ref?.id !== pending.target) refuse(pending.action, `the intent names ${pending.target}, the state holds ${ref?.id ?? 'nothing'}`);
  return ref;
}

function probationFor(id: string, previous: DeploymentRef | undefined, cause: 'activate' | 'factory-reset', pending: PendingTransition): AgentState['probation'] {
  if (pending.healthTimeoutMs === undefined || pending.maxBoots === undefined) refuse(pending.action, 'the intent lacks its probation settings');
  return {
    deployment: id,
    ...(previous === undefined || previous.id === id ? {} : { previous }),
    cause,
    startedAtMs: pending.atMs,
    deadlineMs: pending.atMs + pending.healthTimeoutMs,
    boots: 0,
    maxBoots: pending.maxBoots,
    ...(pending.soakMs === undefined ? {} : { soakMs: pending.soakMs }),
  };
}

function fromOf(prev: AgentState): { from?: string } {
  return prev.booted === undefined ? {} : { from: prev.booted.id };
}

function probationArgs(settings: ProbationSettings): { healthTimeoutMs: number; maxBoots: number; soakMs?: number } {
  return { healthTimeoutMs: settings.healthTimeoutMs, maxBoots: settings.maxBoots, ...(settings.soakMs === undefined || settings.soakMs === 0 ? {} : { soakMs: settings.soakMs }) };
}
