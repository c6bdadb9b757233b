/**
 * Autonomous mode (the default without a server; SEED-GOALS goal 4: "system
 * source of truth should default to a remote registry"): poll a tag with
 * jitter, resolve it to a digest, and run the update pipeline when the digest
 * differs from the booted one, honouring the maintenance windows. A digest
 * whose update failed or was rolled back is not tried again until the tag
 * moves on, so a broken image does not loop (a missing builder signature
 * excepted: it may be pushed after the image).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isBootfleetError, withContextAsync, type UpdatePolicy } from '../../protocol/index.js';
import type { DaemonLog } from '../daemon/log.js';
import type { Lease } from '../deploy/lock-gate.js';
import type { PipelineContext } from '../pipeline/context.js';
import { randomDelayMs } from '../policy/decide.js';
import { runUpdate } from '../pipeline/run-update.js';
import { RegistryClient } from '../registry/client.js';
import { parseReference, type ImageReference } from '../registry/reference.js';
import { resolveImage } from '../registry/resolve.js';

export interface AutonomousOptions {
  readonly image: string;
  readonly pollIntervalMs: number;
  readonly jitterMs: number;
  readonly policy: UpdatePolicy;
  /** Upper bound of the random delay before an activation (policy/decide.ts, randomDelayMs). */
  readonly maxRandomDelayMs?: number;
  readonly ctx: PipelineContext;
  /** Runs one operation holding the data directory's lock (agent/deploy/lock-gate.ts); none in tests without one. */
  readonly exclusive?: <T>(fn: (lease: Lease) => Promise<T>) => Promise<T>;
  readonly log: DaemonLog;
  readonly signal: AbortSignal;
  readonly random?: () => number;
  /** Poll once and return (`agent run --once`, for a systemd timer). */
  readonly once?: boolean;
  /** The periodic runtime-integrity check, run between polls (never during an update). */
  readonly integrity?: { readonly monitor: { tick(): Promise<void> }; readonly intervalMs: number };
}

async function resolveTag(ctx: PipelineContext, ref: ImageReference): Promise<string> {
  const client = new RegistryClient(ref.registry, {
    ...(ctx.pull.credentials === undefined ? {} : { credentials: ctx.pull.credentials }),
    ...(ctx.pull.plainHttp === undefined ? {} : { plainHttp: ctx.pull.plainHttp }),
  });
  try {
    return (await resolveImage(client, ref)).descriptor.digest;
  } finally {
    await client.close();
  }
}

/** One poll: resolve, compare, update. Returns the digest that failed, if one did. */
export async function pollOnce(options: AutonomousOptions, skip: string | undefined): Promise<string | undefined> {
  const ref = parseReference(options.image);
  const digest = await withContextAsync(`Resolving ${options.image}`, () => resolveTag(options.ctx, ref));
  const state = await options.ctx.deployer.status();
  options.log('poll', { image: options.image, digest, booted: state.booted?.manifestDigest ?? null });
  if (digest === state.booted?.manifestDigest || digest === skip) return skip;
  const delayMs = randomDelayMs(options.maxRandomDelayMs ?? 0, (options.random ?? Math.random)());
  options.log('update', { image: options.image, digest, randomDelayMs: delayMs });
  const target = { registry: ref.registry, repository: ref.repository, digest, policy: options.policy };
  const outcome = await (options.exclusive === undefined ? runUpdate(options.ctx, target, delayMs) : options.exclusive((lease) => runUpdate({ ...options.ctx, lease }, target, delayMs)));
  // A signature may be pushed after the image: a missing one is looked for again at the next poll.
  if (outcome.phase === 'failed' && outcome.error?.code === 'BOOTFLEET_SIG_MISSING') return skip;
  return outcome.phase === 'failed' || outcome.phase === 'rolled-back' ? digest : undefined;
}

/** Polls until the signal aborts (or once), checking integrity between polls; resolves false when the last poll failed. */
export async function runAutonomous(options: AutonomousOptions): Promise<boolean> {
  const random = options.random ?? Math.random;
  const integrity = options.integrity;
  let skip: string | undefined;
  let ok = true;
  let nextPollMs = Date.now();
  let nextCheckMs = integrity === undefined ? Number.POSITIVE_INFINITY : Date.now() + integrity.intervalMs;
  while (!options.signal.aborted) {
    if (Date.now() >= nextPollMs) {
      try {
        skip = await pollOnce(options, skip);
        ok = true;
      } catch (error) {
        if (stopped(options.signal)) return ok;
        ok = false;
        logFailure(options, 'poll-failed', error);
      }
      if (options.once === true) return ok;
      nextPollMs = Date.now() + options.pollIntervalMs + Math.floor(random() * options.jitterMs);
    }
    if (integrity !== undefined && Date.now() >= nextCheckMs) {
      const tick = () => integrity.monitor.tick();
      await (options.exclusive === undefined ? tick() : options.exclusive(tick)).catch((error: unknown) => {
        logFailure(options, 'integrity-check-failed', error);
      });
      nextCheckMs = Date.now() + integrity.intervalMs;
    }
    try {
      await sleep(Math.max(0, Math.min(nextPollMs, nextCheckMs) - Date.now()), undefined, { signal: options.signal });
    } catch {
      return ok;
    }
  }
  return ok;
}

function logFailure(options: AutonomousOptions, event: string, error: unknown): void {
  options.log(event, { message: error instanceof Error ? error.message : String(error), ...(isBootfleetError(error) ? { code: error.code } : {}) });
}

/** Read through a call: the signal changes while the loop awaits, which flow analysis cannot see. */
function stopped(signal: AbortSignal): boolean {
  return signal.aborted;
}
