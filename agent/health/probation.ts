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
import { BootfleetError, type AgentState, type ErrorCode, type HealthResult, type Probation } from '../../protocol/index.js';
import { appendAgentAudit } from '../deploy/audit-log.js';
import type { CommandRunner } from '../deploy/command-runner.js';
import type { Deployer } from '../deploy/deployer.js';
import { runHealthChecks, type HealthCheck, type HealthVerdict } from './checks.js';

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

/**
 * Runs rounds of checks until they pass (commit) or the deadline passes (rollback). With a soak window
 * (`probation.soakMs`, docs/protocol.md 7) the first all-green round opens the window instead of committing:
 * checks keep running, a required failure in the window rolls back at once, and the commit comes with the
 * first green round at or after the window's end. The window's start is on disk, so a restart continues it;
 * once it is open, the deadline no longer applies (the window's end bounds the loop instead).
 */
export async function runProbation(options: ProbationOptions): Promise<ProbationOutcome> {
  const now = options.now ?? Date.now;
  const state = await options.deployer.status();
  let probation = state.probation;
  if (probation === undefined) return { outcome: 'none', state, health: [] };
  let round: HealthVerdict | undefined;
  // One round always runs, even when the agent starts after the deadline (a slow boot): a deployment is
  // never rolled back unchecked. Later rounds run only before the deadline, or the soak window's end.
  for (let n = 0; n === 0 || probation.soakStartedAtMs !== undefined || now() < probation.deadlineMs; n += 1) {
    round = await checkRound(options, probation, now);
    if (!round.passed && probation.soakStartedAtMs !== undefined) return rollBack(options, checkFailedError(probation.deployment, round.failed, 'soak'), round.results);
    if (round.passed && (probation.soakMs === undefined || now() >= soakEndMs(probation))) return commitProbation(options, probation, round.results);
    if (round.passed && probation.soakStartedAtMs === undefined) probation = (await options.deployer.startSoak()).probation ?? probation;
    const pause = Math.min(options.retryIntervalMs ?? 2_000, roundsEndMs(probation) - now());
    if (pause > 0) await sleep(pause);
  }
  return rollBack(options, deadlineError(probation.deployment, round?.failed), round?.results ?? []);
}

/**
 * One round of checks. Before the soak window opens, a check's timeout is cut to the time left before the
 * deadline (a round never runs long past it). Inside the window it is not: the window's end is when the
 * commit comes, not a limit on the last round, and a green check cut short there would read as a failure
 * and roll a healthy deployment back.
 */
function checkRound(options: ProbationOptions, probation: Probation, now: () => number): Promise<HealthVerdict> {
  const left = probation.soakStartedAtMs === undefined ? probation.deadlineMs - now() : 0;
  return runHealthChecks(options.checks, { ...(left > 0 ? { maxTimeoutMs: left } : {}), ...(options.runner === undefined ? {} : { runner: options.runner }) });
}

/** The end of the soak window; infinite while it is not open. */
function soakEndMs(probation: Probation): number {
  return probation.soakStartedAtMs === undefined || probation.soakMs === undefined ? Number.POSITIVE_INFINITY : probation.soakStartedAtMs + probation.soakMs;
}

/** Until when rounds go on: the soak window's end once it is open, else the probation deadline. */
function roundsEndMs(probation: Probation): number {
  return probation.soakStartedAtMs === undefined ? probation.deadlineMs : soakEndMs(probation);
}

async function commitProbation(options: ProbationOptions, probation: Probation, health: HealthResult[]): Promise<ProbationOutcome> {
  const refused = await refusal(options);
  if (refused !== undefined) return rollBack(options, refused, health);
  const committed = await options.deployer.commit();
  await audit(options, 'commit', 'ok', probation.previous?.id, probation.deployment);
  return { outcome: 'committed', state: committed, health };
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
  return checkFailedError(deployment, failed, 'deadline');
}

/** `details.during`: `deadline` when the checks never all passed in time, `soak` when one failed in the soak window. */
function checkFailedError(deployment: string, failed: HealthResult | undefined, during: 'deadline' | 'soak'): BootfleetError {
  const name = failed?.name ?? 'unknown';
  return new BootfleetError('BOOTFLEET_HEALTH_CHECK_FAILED', `required health check ${name} failed on deployment ${deployment}${during === 'soak' ? ' in its soak window' : ''}`, {
    details: { check: name, output: failed?.output ?? '', during },
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
