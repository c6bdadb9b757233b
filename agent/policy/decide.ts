/**
 * When an update may be activated (issue #5, "Policies"): download-only stages
 * and waits for a later go; maintenance windows delay the activation unless
 * the policy's deadline has passed; a random delay spreads a fleet's
 * activations; a maximum number of attempts stops retrying a failing update.
 * Pure: the caller passes the time and the random number.
 */
import type { UpdatePolicy } from '../../protocol/index.js';
import { isAnyWindowOpen, nextWindowOpening } from './maintenance-window.js';

export type ActivationDecision =
  | { readonly action: 'activate' }
  | { readonly action: 'stage-only' }
  | { readonly action: 'wait'; readonly untilMs: number; readonly reason: 'maintenance-window' | 'random-delay' }
  | { readonly action: 'give-up'; readonly attempts: number };

export interface DecisionInput {
  readonly policy: UpdatePolicy;
  readonly nowMs: number;
  /** Attempts already made at this update (failed activations or probations). */
  readonly attempts: number;
  /** Default 3. */
  readonly maxAttempts?: number;
  /** When the update became activatable, and the random delay drawn for it (randomDelayMs). */
  readonly readySinceMs?: number;
  readonly delayMs?: number;
}

/** A uniform delay in [0, maxMs], from a random number in [0, 1). */
export function randomDelayMs(maxMs: number, random: number): number {
  return Math.floor(Math.max(0, Math.min(random, 1 - Number.EPSILON)) * (maxMs + 1));
}

export function decideActivation(input: DecisionInput): ActivationDecision {
  const maxAttempts = input.maxAttempts ?? 3;
  if (input.attempts >= maxAttempts) return { action: 'give-up', attempts: input.attempts };
  if (input.policy.downloadOnly) return { action: 'stage-only' };
  const readyAt = (input.readySinceMs ?? input.nowMs) + (input.delayMs ?? 0);
  if (input.nowMs < readyAt) return { action: 'wait', untilMs: readyAt, reason: 'random-delay' };
  const windows = input.policy.maintenanceWindows ?? [];
  const deadlineMs = input.policy.deadline === undefined ? undefined : input.policy.deadline * 1000;
  if (windows.length === 0 || isAnyWindowOpen(windows, input.nowMs)) return { action: 'activate' };
  if (deadlineMs !== undefined && input.nowMs >= deadlineMs) return { action: 'activate' };
  const opening = nextWindowOpening(windows, input.nowMs);
  const untilMs = Math.min(opening ?? Number.MAX_SAFE_INTEGER, deadlineMs ?? Number.MAX_SAFE_INTEGER);
  return { action: 'wait', untilMs, reason: 'maintenance-window' };
}
