/**
 * Runtime integrity (SEED-GOALS goal 6: "If something has been changed, or
 * changes at runtime unexpectedly, the system can alert or stop"): the booted
 * deployment's tree digest (paths, types, modes, content hashes; recorded at
 * staging, agent/deploy/tree-digest.ts) is recomputed and compared. The
 * daemon does it periodically and, when `integrity.onMismatch` says so,
 * before committing a deployment on probation (docs/agent-daemon.md,
 * "Runtime integrity").
 */
import { BootfleetError, isBootfleetError } from '../../protocol/index.js';
import type { Deployer } from '../deploy/deployer.js';
import { verifyDeployment } from '../deploy/deployments.js';

export const INTEGRITY_ACTIONS = ['alert', 'refuse-commit', 'rollback'] as const;
/** alert: report only; refuse-commit: a deployment on probation that changed is rolled back, never committed; rollback: any change rolls back. */
export type IntegrityAction = (typeof INTEGRITY_ACTIONS)[number];

/** Undefined when the booted tree is as staged (or nothing is booted); else BOOTFLEET_INTEGRITY_MISMATCH. */
export async function checkBootedIntegrity(deployer: Deployer): Promise<BootfleetError | undefined> {
  const booted = (await deployer.status()).booted;
  if (booted === undefined) return undefined;
  try {
    await verifyDeployment(deployer.dataDir, booted);
    return undefined;
  } catch (error) {
    if (!isBootfleetError(error, 'BOOTFLEET_DEPLOYMENT_INCOMPLETE')) throw error;
    return new BootfleetError('BOOTFLEET_INTEGRITY_MISMATCH', `the booted deployment ${booted.id} (${booted.version}) changed since it was staged`, {
      cause: error,
      details: { deployment: booted.id, version: booted.version, ...error.details },
    });
  }
}

/** For the probation's last step: throws BOOTFLEET_INTEGRITY_MISMATCH instead of letting a changed tree be committed. */
export async function assertBootedIntact(deployer: Deployer): Promise<void> {
  const mismatch = await checkBootedIntegrity(deployer);
  if (mismatch !== undefined) throw mismatch;
}
