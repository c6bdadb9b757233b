/**
 * Managed mode: the update pipeline driven by signed desired states and
 * commands from the server over MQTT (docs/agent-daemon.md). Messages are
 * handled one at a time, in arrival order; a refused one is answered by a
 * report carrying its error code, and changes nothing on disk.
 */
import { isBootfleetError, verifySignedMessage, type DesiredState, type TrustedKeys, type UpdatePolicy } from '../../protocol/index.js';
import type { DaemonLog } from '../daemon/log.js';
import type { Lease } from '../deploy/lock-gate.js';
import type { Reporter } from '../daemon/reporter.js';
import { clearAttempts } from '../pipeline/attempts.js';
import type { PipelineContext } from '../pipeline/context.js';
import { asBootfleetError, runUpdate } from '../pipeline/run-update.js';
import type { StartUpResult } from '../health/start-up.js';
import { acceptCommand, runFactoryResetCommand, runRollbackCommand } from './commands.js';
import { acceptDesiredState, markDesiredDone, targetOf, unfinishedDesiredState } from './desired.js';
import { envelopeHash, readDesiredRecord } from './desired-record.js';

export interface ManagedAgentOptions {
  readonly deviceId: string;
  readonly keys: TrustedKeys;
  readonly reporter: Reporter;
  readonly log: DaemonLog;
  /** A pipeline context whose probation lasts the policy's healthTimeoutSeconds and soaks its soakSeconds. */
  readonly contextFor: (policy?: Pick<UpdatePolicy, 'healthTimeoutSeconds' | 'soakSeconds'>, signal?: AbortSignal) => PipelineContext;
  /** Recovery, then the probation of a deployment activated before this start. */
  readonly startUp: () => Promise<StartUpResult>;
  /** Runs one queued task holding the data directory's lock (agent/deploy/lock-gate.ts); none in tests without one. */
  readonly exclusive?: (fn: (lease: Lease) => Promise<void>) => Promise<void>;
}

export class ManagedAgent {
  private queue: Promise<void> = Promise.resolve();
  /** The desired state being worked on: a newer verified one for another image stops it (supersedes). */
  private running: { readonly envelopeSha256: string; readonly seq: number; readonly digest: string; readonly controller: AbortController } | undefined;
  private integrityQueued = false;

  constructor(private readonly options: ManagedAgentOptions) {}

  /** Start-up work, queued before any message: recovery and probation, then an unfinished desired state. */
  begin(): Promise<void> {
    return this.enqueue((lease) => this.resume(lease));
  }

  onMessage(kind: 'desired' | 'commands', payload: Buffer): void {
    const newer = kind === 'desired' ? this.supersedes(payload) : undefined;
    if (newer !== undefined && this.running !== undefined) {
      // A verified desired state with a higher seq and another image stops the run in progress at its next safe
      // point (run-update.ts); the newcomer is then accepted as usual, and if it is refused after all, the old one resumes.
      this.options.log('desired-superseding', { seq: this.running.seq, by: newer.seq, digest: newer.image.digest });
      this.running.controller.abort();
    }
    void this.enqueue((lease) => (kind === 'desired' ? this.onDesired(payload, lease) : this.onCommand(payload, lease)));
  }

  /**
   * The newcomer, when it supersedes the run in progress: verified here already (signature, device, expiry,
   * seq above the running one's), so that an unverified message never stops an update, and for another image
   * (a re-issue of the same image, as a server does before expiry, lets the run go on). It is verified again,
   * and recorded, when its turn in the queue comes.
   */
  private supersedes(payload: Buffer): DesiredState | undefined {
    const running = this.running;
    if (running === undefined || running.envelopeSha256 === envelopeHash(payload)) return undefined;
    try {
      const { message } = verifySignedMessage('desired-state', payload, { keys: this.options.keys, device: this.options.deviceId, now: this.nowSeconds(), lastSeq: running.seq });
      return message.image.digest === running.digest ? undefined : message;
    } catch {
      return undefined;
    }
  }

  /**
   * Queues a runtime-integrity check behind the messages in progress, so that
   * its rollback never races an update; one at a time (a long maintenance-window
   * wait does not pile them up).
   */
  checkIntegrity(tick: () => Promise<void>): void {
    if (this.integrityQueued) return;
    this.integrityQueued = true;
    void this.enqueue(async () => {
      this.integrityQueued = false;
      await tick();
    });
  }

  /** Resolves when everything queued so far is done. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Tasks run one at a time, each holding the data directory's lock: a technician's command waits for the task, not for the daemon. */
  private enqueue(task: (lease?: Lease) => Promise<void>): Promise<void> {
    const exclusive = this.options.exclusive;
    this.queue = this.queue.then(() => (exclusive === undefined ? task() : exclusive(task))).catch((error: unknown) => {
      this.options.log('error', { message: error instanceof Error ? error.message : String(error), ...(isBootfleetError(error) ? { code: error.code } : {}) });
    });
    return this.queue;
  }

  private nowSeconds(): number {
    return Math.floor(this.options.contextFor().now() / 1000);
  }

  private async resume(lease?: Lease): Promise<void> {
    const ctx = this.options.contextFor();
    const unfinished = await unfinishedDesiredState(ctx.deployer);
    if (unfinished !== undefined) this.options.reporter.subject = { campaign: unfinished.message.campaign, desiredSeq: unfinished.message.seq };
    const started = await this.options.startUp();
    const probation = started.probation;
    if (probation.outcome !== 'none') {
      const phase = probation.outcome === 'committed' ? 'succeeded' : 'rolled-back';
      await this.options.reporter.report(phase, { health: probation.health, ...(probation.error === undefined ? {} : { error: probation.error }) });
      await markDesiredDone(ctx.deployer, phase);
      return;
    }
    if (unfinished !== undefined) {
      this.options.log('desired-resumed', { seq: unfinished.message.seq });
      await this.runDesired(unfinished.message, lease);
      return;
    }
    await this.options.reporter.report(this.options.reporter.lastPhase);
  }

  private async onDesired(payload: Buffer, lease?: Lease): Promise<void> {
    const ctx = this.options.contextFor();
    let message: DesiredState | undefined;
    try {
      message = await acceptDesiredState(payload, { deviceId: this.options.deviceId, keys: this.options.keys, deployer: ctx.deployer, nowSeconds: this.nowSeconds() });
    } catch (error) {
      await this.refuse('desired-refused', error);
      await this.resumeUnfinished(lease);
      return;
    }
    if (message === undefined) {
      this.options.log('desired-redelivered');
      await this.resumeUnfinished(lease);
      return;
    }
    this.options.log('desired-accepted', { seq: message.seq, campaign: message.campaign, digest: message.image.digest });
    await this.runDesired(message, lease);
  }

  /** Runs the accepted desired state that has not finished (one superseded by a message then refused). */
  private async resumeUnfinished(lease?: Lease): Promise<void> {
    const unfinished = await unfinishedDesiredState(this.options.contextFor().deployer);
    if (unfinished !== undefined) await this.runDesired(unfinished.message, lease);
  }

  private async runDesired(message: DesiredState, lease?: Lease): Promise<void> {
    const record = await readDesiredRecord(this.options.contextFor().deployer.dataDir);
    const controller = new AbortController();
    this.running = { envelopeSha256: record?.envelopeSha256 ?? '', seq: message.seq, digest: message.image.digest, controller };
    this.options.reporter.subject = { campaign: message.campaign, desiredSeq: message.seq };
    const ctx = { ...this.options.contextFor(message.policy, controller.signal), ...(lease === undefined ? {} : { lease }) };
    try {
      // runUpdate reports every phase, the last one included, through the reporter's sink.
      const outcome = await runUpdate(ctx, targetOf(message));
      await markDesiredDone(ctx.deployer, outcome.phase);
    } catch (error) {
      if (!controller.signal.aborted) throw error;
      this.options.log('desired-superseded', { seq: message.seq, phase: this.options.reporter.lastPhase });
    } finally {
      this.running = undefined;
    }
  }

  private async onCommand(payload: Buffer, lease?: Lease): Promise<void> {
    const ctx = this.options.contextFor();
    let command;
    try {
      command = await acceptCommand(payload, { deviceId: this.options.deviceId, keys: this.options.keys, deployer: ctx.deployer, nowSeconds: this.nowSeconds() });
    } catch (error) {
      await this.refuse('command-refused', error);
      return;
    }
    this.options.log('command-accepted', { seq: command.seq, id: command.id, command: command.command });
    this.options.reporter.subject = { commandId: command.id };
    if (command.command === 'rollback') await runRollbackCommand(ctx, this.options.reporter, command);
    else if (command.command === 'factory-reset') await runFactoryResetCommand(ctx, this.options.reporter);
    else await this.checkNow(lease);
  }

  /** check-now: the operator asks to try again (the attempt counter is cleared); finish an unfinished desired state, or report where the device stands. */
  private async checkNow(lease?: Lease): Promise<void> {
    await clearAttempts(this.options.contextFor().deployer.dataDir);
    if ((await unfinishedDesiredState(this.options.contextFor().deployer)) === undefined) await this.options.reporter.report(this.options.reporter.lastPhase);
    else await this.resumeUnfinished(lease);
  }

  private async refuse(event: string, error: unknown): Promise<void> {
    const failure = asBootfleetError(error);
    this.options.log(event, { code: failure.code, message: failure.message });
    this.options.reporter.subject = {};
    await this.options.reporter.report(this.options.reporter.lastPhase, { error: failure });
  }
}
