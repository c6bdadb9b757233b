/**
 * What the agent does first at every start (docs/agent-deployment.md): finish
 * or undo an interrupted transition, then, when a deployment is on probation,
 * count this start and carry the probation on to a commit or a rollback.
 */
import { recover, type RecoveryResult } from '../deploy/recovery.js';
import { superviseProbation, type ProbationOptions, type ProbationOutcome } from './probation.js';

export interface StartUpResult {
  readonly recovery: RecoveryResult;
  readonly probation: ProbationOutcome;
}

export async function startUp(options: ProbationOptions): Promise<StartUpResult> {
  const recovery = await recover(options.deployer);
  const probation = await superviseProbation(options);
  return { recovery, probation };
}
