/**
 * Probation after an activation or a factory reset (docs/agent-deployment.md,
 * "Health and probation"): the deployment is committed once every required
 * check passes; it is rolled back automatically when the deadline passes
 * first, or when the agent has started `maxBoots` times during the probation
 * without committing (a crash or reboot loop: greenboot's boot counter).
 * The outcome carries the health results and, on a rollback, the error code
 * and the failing check's name and output, as a report wants them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BootfleetError, type AgentState, type ErrorCode, type HealthResult } from '../../protocol/index.js';
import { appendAgentAudit } from '../deploy/audit-log.js';
import type { CommandRunner } from '../deploy/command-runner.js';
import type { Deployer } from '../deploy/deployer.js';
import { runHealthChecks, type HealthCheck } from './checks.js';

export interface ProbationOptions {
  readonly deployer: Deployer;
  readonly checks: readonly HealthCheck[];
  readonly runner?: CommandRunner;
  /** Pause between two rounds of checks while they fail (default 2_000 ms). */
  readonly retryIntervalMs?: number;
  /** Runs when the checks passed, before the commit; a BootfleetError it throws rolls back instead (integrity `refuse-commit`). */
  readonly beforeCommit?: () => Promise<void>;
  readonly now?: () => number;
}

export interface ProbationOutcome {
  readonly outcome: 'none' | 'committed' | 'rolled-back';
  readonly state: AgentState;
  /** The last round of results (empty when no check ran). */
  readonly health: HealthResult[];
  /** Why it was rolled back; `details.check` and `details.output` name the failing check. */
  readonly error?: BootfleetError;
}

/** At agent start, after recovery: counts the boot, then runs the probation if one is open. */
export async function superviseProbation(options: ProbationOptions): Promise<ProbationOutcome> {
  const state = await options.deployer.status();
  if (state.probation === undefined) return { outcome: 'none', state, health: [] };
  const counted = await options.deployer.countBoot();
  const probation = counted.probation;
  if (probation !== undefined && probation.boots >= probation.maxBoots) {
    const error = new BootfleetError('BOOTFLEET_HEALTH_TOO_MANY_BOOTS', `deployment ${probation.deployment} started ${probation.boots} times without passing its health checks`, {
      details: { boots: probation.boots, maxBoots: probation.maxBoots },
    });
    return rollBack(options, error, []);
  }
  return runProbation(options);
}

/** Runs rounds of checks until they pass (commit) or the deadline passes (rollback). Bounded by the deadline and the checks' timeouts. */
export async function runProbation(options: ProbationOptions): Promise<ProbationOutcome> {
  const now = options.now ?? Date.now;
  const interval = options.retryIntervalMs ?? 2_000;
  const state = await options.deployer.status();
  const probation = state.probation;
  if (probation === undefined) return { outcome: 'none', state, health: [] };
  let last: HealthResult[] = [];
  let failed: HealthResult | undefined;
  // One round always runs, even when the agent starts after the deadline (a slow boot): a deployment is
  // never rolled back unchecked. Later rounds run only before the deadline, each check bounded by the time left.
  for (let round = 0; round === 0 || now() < probation.deadlineMs; round += 1) {
    const left = probation.deadlineMs - now();
    const verdict = await runHealthChecks(options.checks, { ...(left > 0 ? { maxTimeoutMs: left } : {}), ...(options.runner === undefined ? {} : { runner: options.runner }) });
    last = verdict.results;
    failed = verdict.failed;
    if (verdict.passed) {
      const refused = await refusal(options);
      if (refused !== undefined) return rollBack(options, refused, last);
      const committed = await options.deployer.commit();
      await audit(options, 'commit', 'ok', probation.previous?.id, probation.deployment);
      return { outcome: 'committed', state: committed, health: last };
    }
    const pause = Math.min(interval, probation.deadlineMs - now());
    if (pause > 0) await sleep(pause);
  }
  return rollBack(options, deadlineError(probation.deployment, failed), last);
}

async function refusal(options: ProbationOptions): Promise<BootfleetError | undefined> {
  try {
    await options.beforeCommit?.();
    return undefined;
  } catch (error) {
    if (error instanceof BootfleetError) return error;
    throw error;
  }
}

function deadlineError(deployment: string, failed: HealthResult | undefined): BootfleetError {
  if (failed === undefined) return new BootfleetError('BOOTFLEET_HEALTH_DEADLINE', `deployment ${deployment} did not pass its health checks before the deadline`);
  return new BootfleetError('BOOTFLEET_HEALTH_CHECK_FAILED', `required health check ${failed.name} failed on deployment ${deployment}`, {
    details: { check: failed.name, output: failed.output },
  });
}

async function rollBack(options: ProbationOptions, error: BootfleetError, health: HealthResult[]): Promise<ProbationOutcome> {
  const before = await options.deployer.status();
  const state = await options.deployer.rollback(`${error.code}: ${error.message}`);
  await audit(options, 'rollback', 'ok', before.booted?.id, state.booted?.id, error.code, error.message);
  return { outcome: 'rolled-back', state, health, error };
}

function audit(options: ProbationOptions, action: string, result: 'ok', from?: string, to?: string, code?: ErrorCode, reason?: string): Promise<void> {
  return appendAgentAudit(options.deployer.dataDir, { atMs: (options.now ?? Date.now)(), action, result, from, to, code, reason });
}
