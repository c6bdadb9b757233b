/**
 * What the update pipeline tells the daemon while it runs: phase changes
 * (docs/protocol.md, section 7) and byte progress. Managed mode turns them
 * into reports, both modes print them as JSON lines (docs/agent-daemon.md).
 */
import type { BootfleetError, HealthResult, Phase } from '../../protocol/index.js';
import type { ProgressEvent } from '../fetch/progress.js';

export type PipelineEvent =
  | { readonly event: 'phase'; readonly phase: Phase; readonly health?: readonly HealthResult[]; readonly error?: BootfleetError }
  | { readonly event: 'progress'; readonly doneBytes: number; readonly totalBytes: number }
  | { readonly event: 'content'; readonly detail: ProgressEvent };

export type PipelineSink = (event: PipelineEvent) => void;
