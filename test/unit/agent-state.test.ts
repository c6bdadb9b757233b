import { describe, expect, it } from 'vitest';
import {
  acceptSequences,
  agentStateParser,
  commit,
  completeSwitch,
  countBoot,
  discardStaged,
  initialAgentState,
  planActivate,
  planFactoryReset,
  planRollback,
  provision,
  stage,
  startSoak,
  verifyState,
  verifyTransition,
  type AgentState,
  type DeploymentRef,
  type PendingTransition,
} from '../../protocol/index.js';

const ref = (n: number): DeploymentRef => ({ id: `d${n}`, manifestDigest: `sha256:${String(n).repeat(64).slice(0, 64)}`, version: `${n}.0` });
const F = ref(1);
const A = ref(2);
const B = ref(3);
const settings = { nowMs: 1000, healthTimeoutMs: 60_000, maxBoots: 3 };

/** Applies a switch the way the deployer does: intent first, then the new slots. */
function switchVia(prev: AgentState, plan: PendingTransition): AgentState {
  const withIntent = { ...prev, pending: plan, generation: prev.generation + 1 };
  verifyTransition(prev, withIntent);
  const done = completeSwitch(withIntent, plan);
  verifyTransition(withIntent, done);
  return agentStateParser.parse(done);
}

function provisioned(): AgentState {
  return provision(initialAgentState(), F, 0);
}

describe('agent state transitions', () => {
  it('stages, activates on probation, commits: the previous booted deployment becomes the rollback slot', () => {
    const staged = stage(provisioned(), A, 1);
    const active = switchVia(staged, planActivate(staged, settings));
    expect(active.booted).toEqual(A);
    expect(active.staged).toBeUndefined();
    expect(active.probation).toMatchObject({ deployment: 'd2', previous: F, boots: 0, maxBoots: 3, deadlineMs: 61_000 });
    const committed = commit(active, 2);
    verifyTransition(active, committed);
    expect(committed).toMatchObject({ booted: A, rollback: F, factory: F });
    expect(committed.probation).toBeUndefined();
  });

  it('rolls back during probation to the deployment booted before, dropping the failed one', () => {
    const staged = stage(commit(switchVia(stage(provisioned(), A, 1), planActivate(stage(provisioned(), A, 1), settings)), 2), B, 3);
    const onB = switchVia(staged, planActivate(staged, settings));
    const back = switchVia(onB, planRollback(onB, 4, 'health'));
    expect(back.booted).toEqual(A);
    expect(back.rollback).toEqual(F);
    expect(back.probation).toBeUndefined();
    expect(back.history.at(-1)).toMatchObject({ action: 'rollback', deployment: 'd2', reason: 'health' });
  });

  it('swaps booted and rollback outside probation (bootc rollback)', () => {
    const s1 = stage(provisioned(), A, 1);
    const committed = commit(switchVia(s1, planActivate(s1, settings)), 2);
    const swapped = switchVia(committed, planRollback(committed, 3));
    expect(swapped).toMatchObject({ booted: F, rollback: A });
  });

  it('makes a factory reset reversible until committed, then keeps the pre-reset deployment as rollback', () => {
    const s1 = stage(provisioned(), A, 1);
    const onA = commit(switchVia(s1, planActivate(s1, settings)), 2);
    const reset = switchVia(onA, planFactoryReset(onA, settings));
    expect(reset.booted).toEqual(F);
    expect(reset.probation).toMatchObject({ cause: 'factory-reset', previous: A });
    const undone = switchVia(reset, planRollback(reset, 5));
    expect(undone.booted).toEqual(A);
    const kept = commit(reset, 6);
    expect(kept).toMatchObject({ booted: F, rollback: A, factory: F });
  });

  it('refuses impossible transitions with BOOTFLEET_TRANSITION_INVALID', () => {
    const base = provisioned();
    const attempts: (() => unknown)[] = [
      () => provision(base, A, 1),
      () => stage(initialAgentState(), A, 1),
      () => stage(base, F, 1),
      () => discardStaged(base, 1),
      () => commit(base, 1),
      () => countBoot(base, 1),
      () => planActivate(base, settings),
      () => planRollback(base, 1),
      () => planFactoryReset(base, settings),
      () => stage({ ...base, pending: { action: 'rollback', atMs: 0, target: 'd1' } }, A, 1),
    ];
    for (const attempt of attempts) expect(attempt).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }));
  });

  it('refuses a write that switches the booted deployment without an intent, or skips a generation', () => {
    const staged = stage(provisioned(), A, 1);
    const sneaky = { ...staged, booted: A, staged: undefined, generation: staged.generation + 1 };
    delete sneaky.staged;
    expect(() => { verifyTransition(staged, sneaky); }).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }));
    expect(() => { verifyTransition(staged, { ...staged, generation: staged.generation + 2 }); }).toThrow(
      expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }),
    );
    expect(() => { verifyTransition(staged, { ...staged, rollback: { ...F, id: 'd2' }, generation: staged.generation + 1 }); }).toThrow(
      expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }),
    );
  });

  it('counts boots during probation', () => {
    const s1 = stage(provisioned(), A, 1);
    const active = switchVia(s1, planActivate(s1, settings));
    expect(countBoot(countBoot(active, 2), 3).probation?.boots).toBe(2);
  });

  it('opens a soak window once, only on a probation that has one; the window survives a counted boot', () => {
    const s1 = stage(provisioned(), A, 1);
    const plain = switchVia(s1, planActivate(s1, settings));
    expect(plain.probation?.soakMs).toBeUndefined();
    expect(() => startSoak(plain, 2)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }));
    const soaking = switchVia(s1, planActivate(s1, { ...settings, soakMs: 5_000 }));
    const opened = startSoak(soaking, 2);
    verifyTransition(soaking, opened);
    expect(agentStateParser.parse(opened).probation).toMatchObject({ soakMs: 5_000, soakStartedAtMs: 2 });
    expect(opened.history.at(-1)).toMatchObject({ action: 'soak', deployment: A.id });
    expect(() => startSoak(opened, 3)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }));
    expect(countBoot(opened, 4).probation?.soakStartedAtMs).toBe(2);
    expect(() => startSoak(stage(provisioned(), A, 1), 2)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }));
  });

  it('parses a state file strictly, with BOOTFLEET_STATE_CORRUPT on a bad field', () => {
    expect(() => agentStateParser.parse({ ...provisioned(), booted: { id: '../x', manifestDigest: F.manifestDigest, version: '1' } })).toThrow(
      expect.objectContaining({ code: 'BOOTFLEET_STATE_CORRUPT' }),
    );
    expect(() => agentStateParser.parse({ ...provisioned(), extra: 1 })).toThrow(expect.objectContaining({ code: 'BOOTFLEET_STATE_CORRUPT' }));
  });

  it('accepts only growing desired-state and command sequences (BOOTFLEET_SIG_REPLAYED otherwise)', () => {
    const s1 = acceptSequences(provisioned(), { desired: 5, command: 2 });
    expect(s1).toMatchObject({ lastDesiredSeq: 5, lastCommandSeq: 2 });
    verifyTransition(provisioned(), s1);
    expect(() => acceptSequences(s1, { desired: 5 })).toThrow(expect.objectContaining({ code: 'BOOTFLEET_SIG_REPLAYED' }));
    expect(() => acceptSequences(s1, { command: 1 })).toThrow(expect.objectContaining({ code: 'BOOTFLEET_SIG_REPLAYED' }));
    expect(acceptSequences(s1, { command: 3 })).toMatchObject({ lastDesiredSeq: 5, lastCommandSeq: 3 });
  });

  it('refuses to complete an intent that does not match the state', () => {
    const staged = stage(provisioned(), A, 1);
    const plan = planActivate(staged, settings);
    expect(() => completeSwitch(staged, { ...plan, target: 'd9' })).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }));
    const withoutSettings: PendingTransition = { action: plan.action, atMs: plan.atMs, target: plan.target };
    expect(() => completeSwitch(staged, withoutSettings)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }));
  });

  it('states its invariants: each broken one is BOOTFLEET_TRANSITION_INVALID', () => {
    const s1 = stage(provisioned(), A, 1);
    const onA = switchVia(s1, planActivate(s1, settings));
    const probation = onA.probation ?? { deployment: 'd2', cause: 'activate' as const, startedAtMs: 0, deadlineMs: 0, boots: 0, maxBoots: 1 };
    const broken: AgentState[] = [
      { ...initialAgentState(), factory: F },
      { ...provisioned(), rollback: { ...F, version: '9.0' } },
      { ...provisioned(), staged: F },
      { ...onA, probation: { ...probation, deployment: 'd1' } },
      { ...onA, probation: { ...probation, previous: A } },
      { ...onA, probation: { ...probation, deadlineMs: probation.startedAtMs - 1 } },
      { ...provisioned(), pending: { action: 'rollback', atMs: 0, target: 'd7' } },
    ];
    for (const state of broken) expect(() => { verifyState(state); }).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TRANSITION_INVALID' }));
  });
});
