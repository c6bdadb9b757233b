/**
 * Step "activate": the policy decides when (agent/policy: download-only,
 * maintenance windows, deadline); then the staged deployment is switched to
 * and the activation command runs (agent/deploy).
 */
import type { AgentState, UpdatePolicy } from '../../protocol/index.js';
import { decideActivation, type ActivationDecision } from '../policy/decide.js';
import type { PipelineContext } from './context.js';

export function decideStep(ctx: PipelineContext, policy: UpdatePolicy, readySinceMs: number, delayMs: number, attempts: number): ActivationDecision {
  return decideActivation({ policy, nowMs: ctx.now(), attempts, readySinceMs, delayMs, ...(policy.maxAttempts === undefined ? {} : { maxAttempts: policy.maxAttempts }) });
}

export function activateStep(ctx: PipelineContext): Promise<AgentState> {
  return ctx.deployer.activate();
}
