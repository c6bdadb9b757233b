/**
 * The update pipeline (STYLE.md rule 4), one named step per module:
 *
 *   fetch → verify → unpack + stage → (policy) → activate → health-check → commit or roll back
 *
 * Each step is wrapped with what it was doing when it failed, and each phase
 * change is emitted (docs/protocol.md section 7: downloading, verifying,
 * staging, staged, waiting, activating, probation, succeeded / rolling-back /
 * rolled-back / failed). `succeeded` is emitted only after the new deployment
 * is booted and committed, i.e. after its probation passed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BootfleetError, withContextAsync, type HealthResult, type Phase } from '../../protocol/index.js';
import { activateStep, decideStep } from './activate-step.js';
import { attemptsFor, clearAttempts, DEFAULT_MAX_ATTEMPTS, recordFailedAttempt } from './attempts.js';
import type { PipelineContext, UpdateTarget } from './context.js';
import { healthStep } from './health-step.js';

/**
 * The content steps (registry client and undici, node-tar, sigstore's image
 * signature check) are loaded when the first update runs, not when the daemon
 * starts: an idle agent does not carry them (its memory budget,
 * docs/agent-content.md "Memory"). Node caches the modules after the first time.
 */
async function contentSteps() {
  const [{ fetchStep }, { verifyStep }, { stageStep }] = await Promise.all([import('./fetch-step.js'), import('./verify-step.js'), import('./stage-step.js')]);
  return { fetchStep, verifyStep, stageStep };
}

export interface UpdateOutcome {
  /** succeeded, rolled-back, failed; or staged under download-only. */
  readonly phase: Phase;
  readonly health?: readonly HealthResult[];
  readonly error?: BootfleetError;
}

/** Bound on the waits for a maintenance window or a random delay within one run. */
const MAX_WAITS = 1_000;

export async function runUpdate(ctx: PipelineContext, target: UpdateTarget, delayMs = 0): Promise<UpdateOutcome> {
  const before = await ctx.deployer.status();
  if (before.booted?.manifestDigest === target.digest && before.probation === undefined) return finish(ctx, { phase: 'succeeded' });
  const attempts = await attemptsFor(ctx.deployer.dataDir, target.digest);
  const maxAttempts = target.policy.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  // Checked before anything is fetched: an image that keeps failing costs no bandwidth (agent/pipeline/attempts.ts).
  if (attempts >= maxAttempts) return failed(ctx, attemptsExhausted(target, attempts, maxAttempts));
  const outcome = await runAttempt(ctx, target, delayMs, attempts);
  if (outcome.phase === 'rolled-back') await recordFailedAttempt(ctx.deployer.dataDir, target.digest, outcome.error?.code, ctx.now());
  if (outcome.phase === 'succeeded') await clearAttempts(ctx.deployer.dataDir);
  return outcome;
}

export function attemptsExhausted(target: Pick<UpdateTarget, 'digest'>, attempts: number, maxAttempts: number): BootfleetError {
  return new BootfleetError('BOOTFLEET_UPDATE_ATTEMPTS_EXHAUSTED', `${target.digest} already failed ${attempts} times (at most ${maxAttempts}); waiting for a newer image or an operator`, {
    details: { digest: target.digest, attempts, maxAttempts },
  });
}

async function runAttempt(ctx: PipelineContext, target: UpdateTarget, delayMs: number, attempts: number): Promise<UpdateOutcome> {
  const readySinceMs = ctx.now();
  for (let wait = 0; wait < MAX_WAITS; wait += 1) {
    try {
      const untilMs = await prepareAndDecide(ctx, target, readySinceMs, delayMs, attempts);
      if (typeof untilMs !== 'number') return untilMs;
      ctx.emit({ event: 'phase', phase: 'waiting' });
      const wait = () => sleep(Math.max(0, untilMs - ctx.now()), undefined, ctx.signal === undefined ? {} : { signal: ctx.signal });
      // A technician may act while the daemon waits: the next round fetches, verifies and stages again from the state it finds.
      await (ctx.lease === undefined ? wait() : ctx.lease.whileReleased(wait));
    } catch (error) {
      if (ctx.signal?.aborted === true) throw error;
      return failed(ctx, error);
    }
  }
  return failed(ctx, new BootfleetError('BOOTFLEET_POLICY_INVALID', `still waiting after ${MAX_WAITS} waits`));
}

/** Fetches, verifies and stages; then activates, or returns when to try again. */
async function prepareAndDecide(ctx: PipelineContext, target: UpdateTarget, readySinceMs: number, delayMs: number, attempts: number): Promise<UpdateOutcome | number> {
  const { fetchStep, verifyStep, stageStep } = await contentSteps();
  let manifest = target.prepared?.manifest;
  if (manifest === undefined) {
    ctx.emit({ event: 'phase', phase: 'downloading' });
    manifest = (await withContextAsync('Fetching', () => fetchStep(ctx, target))).manifest;
  }
  ctx.signal?.throwIfAborted();
  ctx.emit({ event: 'phase', phase: 'verifying' });
  const verified = manifest;
  const image = await withContextAsync('Verifying', () => verifyStep(ctx, target, verified));
  ctx.signal?.throwIfAborted();
  ctx.emit({ event: 'phase', phase: 'staging' });
  const staged = await withContextAsync('Unpacking and staging', () => stageStep(ctx, image));
  ctx.emit({ event: 'phase', phase: 'staged' });
  // The last point where a newer desired state stops this run: from the activation on, the switch and its
  // probation run to a commit or a rollback, never left half-done (docs/agent-daemon.md, "Superseding").
  if (staged.kind !== 'provisioned') ctx.signal?.throwIfAborted();
  if (staged.kind === 'provisioned') {
    // A first install has nothing to roll back to: it is booted (and the factory image) at once.
    ctx.emit({ event: 'phase', phase: 'activating' });
    ctx.emit({ event: 'phase', phase: 'probation' });
    return finish(ctx, { phase: 'succeeded' });
  }
  const decision = decideStep(ctx, target.policy, readySinceMs, delayMs, attempts);
  if (decision.action === 'stage-only') return { phase: 'staged' };
  if (decision.action === 'give-up') return failed(ctx, attemptsExhausted(target, decision.attempts, target.policy.maxAttempts ?? DEFAULT_MAX_ATTEMPTS));
  if (decision.action === 'wait') return decision.untilMs;
  return activateAndCheck(ctx);
}

async function activateAndCheck(ctx: PipelineContext): Promise<UpdateOutcome> {
  ctx.emit({ event: 'phase', phase: 'activating' });
  try {
    await withContextAsync('Activating', () => activateStep(ctx));
  } catch (error) {
    // The switch may have happened before the activation command failed: go back if it did.
    if ((await ctx.deployer.status()).probation === undefined) throw error;
    ctx.emit({ event: 'phase', phase: 'rolling-back' });
    await ctx.deployer.rollback(error instanceof Error ? error.message : String(error));
    return finish(ctx, { phase: 'rolled-back', error: asBootfleetError(error) });
  }
  ctx.emit({ event: 'phase', phase: 'probation' });
  const outcome = await withContextAsync('Checking health', () => healthStep(ctx));
  if (outcome.outcome === 'rolled-back') {
    ctx.emit({ event: 'phase', phase: 'rolling-back', health: outcome.health });
    return finish(ctx, { phase: 'rolled-back', health: outcome.health, ...(outcome.error === undefined ? {} : { error: outcome.error }) });
  }
  return finish(ctx, { phase: 'succeeded', health: outcome.health });
}

function finish(ctx: PipelineContext, outcome: UpdateOutcome): UpdateOutcome {
  ctx.emit({ event: 'phase', phase: outcome.phase, ...(outcome.health === undefined ? {} : { health: outcome.health }), ...(outcome.error === undefined ? {} : { error: outcome.error }) });
  return outcome;
}

function failed(ctx: PipelineContext, error: unknown): UpdateOutcome {
  return finish(ctx, { phase: 'failed', error: asBootfleetError(error) });
}

export function asBootfleetError(error: unknown): BootfleetError {
  if (error instanceof BootfleetError) return error;
  return new BootfleetError('BOOTFLEET_INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
}
