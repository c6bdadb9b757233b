/**
 * The update state machine as reported by a device (docs/protocol.md,
 * "Device state machine"). The server uses it to reject reports that could
 * not come from a well-behaved agent; an agent implementation can use it to
 * check itself. `failed`, `succeeded` and `rolled-back` are terminal for a
 * desired state; a new desired state starts again from any phase.
 */
import type { Phase } from './report.js';

export const PHASE_TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = {
  idle: ['waiting', 'downloading', 'rolling-back'],
  waiting: ['downloading', 'idle', 'failed'],
  downloading: ['verifying', 'failed', 'waiting'],
  verifying: ['staging', 'failed', 'downloading'],
  staging: ['staged', 'failed'],
  staged: ['activating', 'waiting', 'idle', 'failed'],
  activating: ['probation', 'rolling-back', 'failed'],
  probation: ['succeeded', 'rolling-back'],
  succeeded: ['idle', 'rolling-back'],
  'rolling-back': ['rolled-back', 'failed'],
  'rolled-back': ['idle'],
  failed: ['idle', 'rolling-back'],
};

/** Whether `next` may follow `prev` for the same desired state (a repeat is always allowed). */
export function isPhaseTransitionAllowed(prev: Phase, next: Phase): boolean {
  return prev === next || PHASE_TRANSITIONS[prev].includes(next);
}

/** Phases in which the device has finished with a desired state. */
export const TERMINAL_PHASES: readonly Phase[] = ['succeeded', 'rolled-back', 'failed'];
