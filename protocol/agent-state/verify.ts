/**
 * Invariants of the device state, checked on every write (state-store.ts) and
 * on every read: a state that breaks them is refused before it reaches the
 * disk, and a state file that breaks them is reported, never repaired.
 */
import { BootfleetError } from '../errors.js';
import type { AgentState, DeploymentRef } from './schema.js';

function broken(reason: string): never {
  throw new BootfleetError('BOOTFLEET_TRANSITION_INVALID', `inconsistent state: ${reason}`, { details: { reason } });
}

const SLOTS = ['booted', 'staged', 'rollback', 'factory'] as const;

/** Refs to the deployments a state keeps: these directories must exist and are never collected. */
export function referencedDeployments(state: AgentState): DeploymentRef[] {
  const refs = SLOTS.map((slot) => state[slot]).filter((ref): ref is DeploymentRef => ref !== undefined);
  if (state.probation?.previous !== undefined) refs.push(state.probation.previous);
  return refs;
}

export function verifyState(state: AgentState): void {
  const { booted, staged, rollback, probation, pending } = state;
  const refs = referencedDeployments(state);
  if (booted === undefined && refs.length > 0) broken('slots are set but nothing is booted');
  const byId = new Map<string, DeploymentRef>();
  for (const ref of refs) {
    const seen = byId.get(ref.id);
    if (seen !== undefined && (seen.manifestDigest !== ref.manifestDigest || seen.version !== ref.version)) {
      broken(`deployment ${ref.id} appears with two different images`);
    }
    byId.set(ref.id, ref);
  }
  if (booted !== undefined) {
    if (staged?.id === booted.id) broken('the staged deployment is the booted one');
    if (rollback?.id === booted.id) broken('the rollback deployment is the booted one');
  }
  if (probation !== undefined) {
    if (probation.deployment !== booted?.id) broken('the deployment on probation is not the booted one');
    if (probation.previous?.id === booted.id) broken('a probation cannot return to itself');
    if (probation.deadlineMs < probation.startedAtMs) broken('the probation deadline is before its start');
  }
  if (pending !== undefined && !byId.has(pending.target)) broken(`the interrupted ${pending.action} targets an unknown deployment`);
}

/**
 * Whether `next` may replace `prev` on disk. Besides the invariants of
 * `next`: the generation grows by exactly one, and the booted deployment
 * changes only by completing the intent written before (or at provisioning),
 * so that recovery always knows both ends of a switch.
 */
export function verifyTransition(prev: AgentState, next: AgentState): void {
  verifyState(next);
  if (next.generation !== prev.generation + 1) broken(`generation ${next.generation} does not follow ${prev.generation}`);
  if (prev.booted?.id === next.booted?.id) return;
  if (prev.booted === undefined) return;
  if (prev.pending === undefined || prev.pending.target !== next.booted?.id) {
    broken(`the booted deployment changes from ${prev.booted.id} to ${next.booted?.id ?? 'nothing'} without an intent`);
  }
}
