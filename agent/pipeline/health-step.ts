/**
 * Step "health-check", then "commit or roll back": the probation of
 * agent/health runs rounds of checks until they pass (commit) or the deadline
 * passes (automatic rollback naming the failing check and its output).
 */
import { assertBootedIntact } from '../health/integrity.js';
import { runProbation, type ProbationOutcome } from '../health/probation.js';
import type { PipelineContext } from './context.js';

export function healthStep(ctx: PipelineContext): Promise<ProbationOutcome> {
  return runProbation({
    deployer: ctx.deployer,
    checks: ctx.checks,
    now: ctx.now,
    ...(ctx.healthRetryIntervalMs === undefined ? {} : { retryIntervalMs: ctx.healthRetryIntervalMs }),
    ...(ctx.integrityBeforeCommit === true ? { beforeCommit: () => assertBootedIntact(ctx.deployer) } : {}),
  });
}
