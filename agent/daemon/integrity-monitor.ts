/**
 * The daemon's periodic runtime-integrity check (docs/agent-daemon.md,
 * "Runtime integrity"): every `integrity.intervalSeconds` the booted tree is
 * recomputed (agent/health/integrity.ts). A change is logged, audited and,
 * in managed mode, reported, once per changed tree; then
 * `integrity.onMismatch` decides: `alert` does nothing more, `refuse-commit`
 * rolls back a deployment still on probation, `rollback` rolls back to the
 * rollback slot whatever the probation. Ticks run where the daemon
 * serialises its work (managed: the message queue; autonomous: the poll
 * loop), so a rollback never races an update.
 */
import { isBootfleetError, type BootfleetError } from '../../protocol/index.js';
import { appendAgentAudit } from '../deploy/audit-log.js';
import type { Deployer } from '../deploy/deployer.js';
import { checkBootedIntegrity, type IntegrityAction } from '../health/integrity.js';
import type { DaemonLog } from './log.js';

export interface IntegrityMonitorOptions {
  readonly deployer: Deployer;
  readonly action: IntegrityAction;
  readonly log: DaemonLog;
  readonly now: () => number;
  /** Managed mode: report the change (the phase stays as it was). */
  readonly onAlert?: (error: BootfleetError) => Promise<void>;
  /** Managed mode: report the rollback it caused. */
  readonly onRolledBack?: (error: BootfleetError) => Promise<void>;
}

/** Default interval between two checks: an hour (hashing a root tree costs about a second per GB). */
export const DEFAULT_INTEGRITY_INTERVAL_SECONDS = 3600;

export class IntegrityMonitor {
  /** The changed tree last alerted (deployment and its actual digest): one alert per change, not per tick. */
  private alerted: string | undefined;
  private refusedRollback: string | undefined;

  constructor(private readonly options: IntegrityMonitorOptions) {}

  async tick(): Promise<void> {
    const mismatch = await checkBootedIntegrity(this.options.deployer);
    if (mismatch === undefined) {
      this.alerted = undefined;
      return;
    }
    const key = `${String(mismatch.details.deployment)}:${String(mismatch.details.actual)}`;
    if (key !== this.alerted) {
      this.alerted = key;
      await this.alert(mismatch);
    }
    const state = await this.options.deployer.status();
    if (this.options.action === 'rollback' || (this.options.action === 'refuse-commit' && state.probation !== undefined)) await this.rollBack(mismatch, key);
  }

  private async alert(mismatch: BootfleetError): Promise<void> {
    this.options.log('integrity-mismatch', { code: mismatch.code, message: mismatch.message, ...mismatch.details });
    await this.audit('integrity', 'failed', mismatch, mismatch.details.deployment);
    await this.options.onAlert?.(mismatch);
  }

  private async rollBack(mismatch: BootfleetError, key: string): Promise<void> {
    const from = (await this.options.deployer.status()).booted?.id;
    try {
      const after = await this.options.deployer.rollback(`${mismatch.code}: ${mismatch.message}`);
      // The audit line first: once the log says it rolled back, the record of it is on disk.
      await this.audit('rollback', 'ok', mismatch, from, after.booted?.id);
      this.options.log('integrity-rollback', { from: from ?? null, to: after.booted?.id ?? null });
      await this.options.onRolledBack?.(mismatch);
    } catch (error) {
      // No rollback slot (a device that only ever had its factory image): the change stays reported.
      if (!isBootfleetError(error, 'BOOTFLEET_TRANSITION_INVALID')) throw error;
      if (this.refusedRollback === key) return;
      this.refusedRollback = key;
      this.options.log('integrity-rollback-refused', { code: error.code, message: error.message });
    }
  }

  private audit(action: string, result: 'ok' | 'failed', mismatch: BootfleetError, from: unknown, to?: string): Promise<void> {
    return appendAgentAudit(this.options.deployer.dataDir, {
      atMs: this.options.now(),
      action,
      result,
      code: mismatch.code,
      reason: mismatch.message,
      from: typeof from === 'string' ? from : undefined,
      to,
    });
  }
}
