/**
 * What a device's report means for its progress in a campaign
 * (docs/campaigns.md, "Counting"). Pure: the engine persists the result.
 *
 * A device counts as `succeeded` only when it reports phase `succeeded`
 * with its booted slot on the campaign's target digest: the agent reports
 * `succeeded` after probation, from the new image (SEED goals, "none of them
 * has", 1). `failed` and `rolled-back` count as failed. A report whose seq is
 * not above the last one applied changes nothing, so a duplicate never counts twice.
 */
import type { Phase } from '../../protocol/index.js';
import type { DeviceProgress } from './schemas.js';

export interface ReportFacts {
  readonly seq: number;
  readonly phase: Phase;
  readonly campaign?: string;
  readonly bootedDigest?: string;
  readonly errorCode?: string;
}

/** The device's new progress, or undefined when the report changes nothing. */
export function applyReport(progress: DeviceProgress, report: ReportFacts, targetDigest: string, now: number): DeviceProgress | undefined {
  if (progress.state === 'pending') return undefined;
  if (progress.lastReportSeq !== undefined && report.seq <= progress.lastReportSeq) return undefined;
  const base: DeviceProgress = { ...progress, phase: report.phase, lastReportSeq: report.seq, lastActivityAt: now };
  const next = nextState(progress, report, targetDigest);
  if (next === undefined) return base;
  const { reason: _dropped, ...rest } = base;
  return next.reason === undefined ? { ...rest, state: next.state } : { ...rest, state: next.state, reason: next.reason };
}

function nextState(progress: DeviceProgress, report: ReportFacts, targetDigest: string): Pick<DeviceProgress, 'state' | 'reason'> | undefined {
  switch (report.phase) {
    case 'succeeded':
      if (report.bootedDigest === targetDigest) return { state: 'succeeded' };
      // Success from another image (the old one, after an agent mix-up) is not success of this campaign.
      return { state: 'in-progress', reason: 'reported succeeded without booting the target' };
    case 'failed':
      return { state: progress.state === 'reverted' ? 'reverted' : 'failed', reason: report.errorCode ?? 'failed' };
    case 'rolled-back':
      return { state: progress.state === 'reverted' ? 'reverted' : 'failed', reason: 'rolled-back' };
    case 'idle':
      // An agent goes idle after finishing; that neither undoes nor makes a result.
      return undefined;
    default:
      // A reverted device stays reverted while it rolls back; others are on their way.
      return progress.state === 'reverted' ? undefined : { state: 'in-progress' };
  }
}
