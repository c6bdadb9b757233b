/**
 * Turns pipeline events into reports: every phase change, and byte progress
 * at most once per `progressIntervalMs`. Reports are built and sent one at a
 * time, in sequence order (the seq is persisted before each one is sent).
 */
import type { AuditRecord, BootfleetError, HealthResult, Phase, Report } from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import type { Deployer } from '../deploy/deployer.js';
import type { PipelineSink } from '../pipeline/events.js';
import type { AuditSync } from './audit-sync.js';
import type { DaemonLog } from './log.js';
import { buildReport } from './report-builder.js';
import type { ReportSequence } from './report-seq.js';

export interface ReporterOptions {
  readonly device: string;
  readonly store: ContentStore;
  readonly deployer: Deployer;
  readonly seq: ReportSequence;
  /** Sends one report; managed mode publishes it, autonomous mode only logs it. Resolves `true` when the broker acknowledged it (PUBACK). */
  readonly send: (report: Report) => Promise<unknown>;
  /** Managed mode: the audit entries to carry until acknowledged (audit-sync.ts). */
  readonly audit?: AuditSync;
  readonly log: DaemonLog;
  readonly now: () => number;
  readonly progressIntervalMs?: number;
}

/** What the reports are about: a desired state, or a command. */
export interface ReportSubject {
  readonly campaign?: string;
  readonly desiredSeq?: number;
  readonly commandId?: string;
}

export interface PhaseExtras {
  readonly health?: readonly HealthResult[];
  readonly error?: BootfleetError;
  readonly progress?: { readonly doneBytes: number; readonly totalBytes: number };
}

export class Reporter {
  subject: ReportSubject = {};
  lastPhase: Phase = 'idle';
  private chain: Promise<void> = Promise.resolve();
  private lastProgressMs = 0;

  constructor(private readonly options: ReporterOptions) {}

  /** Queues a report; resolves once it is sent (a failure is logged, never thrown). */
  report(phase: Phase, extras: PhaseExtras = {}): Promise<void> {
    this.lastPhase = phase;
    const subject = this.subject;
    this.chain = this.chain.then(() => this.send(phase, subject, extras));
    return this.chain;
  }

  /** The sink the pipeline writes to: phases always, progress throttled, content events logged. */
  sink(): PipelineSink {
    return (event) => {
      if (event.event === 'phase') {
        this.options.log('phase', { phase: event.phase, ...(event.error === undefined ? {} : { code: event.error.code, message: event.error.message }) });
        void this.report(event.phase, { ...(event.health === undefined ? {} : { health: event.health }), ...(event.error === undefined ? {} : { error: event.error }) });
      } else if (event.event === 'progress') {
        const now = this.options.now();
        if (now - this.lastProgressMs < (this.options.progressIntervalMs ?? 1_000) && event.doneBytes < event.totalBytes) return;
        this.lastProgressMs = now;
        void this.report(this.lastPhase, { progress: { doneBytes: event.doneBytes, totalBytes: event.totalBytes } });
      } else {
        this.options.log(event.detail.event, { ...event.detail });
      }
    };
  }

  /** An unreadable audit log must not cost the report itself: it goes without the entries. */
  private async pendingAudit(): Promise<AuditRecord[] | undefined> {
    try {
      return await this.options.audit?.pending();
    } catch (error) {
      this.options.log('audit-sync-failed', { message: error instanceof Error ? error.message : String(error) });
      return undefined;
    }
  }

  private async send(phase: Phase, subject: ReportSubject, extras: PhaseExtras): Promise<void> {
    try {
      // Progress reports stay small: the audit rides on the others.
      const audit = extras.progress === undefined ? await this.pendingAudit() : undefined;
      const report = await buildReport({
        device: this.options.device,
        seq: await this.options.seq.next(),
        nowMs: this.options.now(),
        phase,
        state: await this.options.deployer.status(),
        store: this.options.store,
        ...subject,
        ...extras,
        inventory: extras.progress === undefined,
        ...(audit === undefined || audit.length === 0 ? {} : { audit }),
      });
      const acknowledged = await this.options.send(report);
      const last = audit?.at(-1);
      if (acknowledged === true && last !== undefined) await this.options.audit?.acknowledge(last.seq);
    } catch (error) {
      this.options.log('report-failed', { phase, message: error instanceof Error ? error.message : String(error) });
    }
  }
}
