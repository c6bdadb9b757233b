/**
 * Commands (docs/protocol.md 6.2), verified as desired states are, with their
 * own sequence made durable before acting: rollback, factory-reset (then a
 * probation, as after an activation), check-now (finish what is unfinished
 * and report). Each is answered by reports carrying its `commandId`, and the
 * switching ones go into the audit log.
 */
import { verifySignedMessage, type Command, type TrustedKeys } from '../../protocol/index.js';
import { appendAgentAudit } from '../deploy/audit-log.js';
import type { Deployer } from '../deploy/deployer.js';
import type { Reporter } from '../daemon/reporter.js';
import type { PipelineContext } from '../pipeline/context.js';
import { healthStep } from '../pipeline/health-step.js';
import { asBootfleetError } from '../pipeline/run-update.js';

export interface CommandOptions {
  readonly deviceId: string;
  readonly keys: TrustedKeys;
  readonly deployer: Deployer;
  readonly nowSeconds: number;
}

export async function acceptCommand(envelope: Buffer, options: CommandOptions): Promise<Command> {
  const last = (await options.deployer.status()).lastCommandSeq;
  const verified = verifySignedMessage('command', envelope, {
    keys: options.keys,
    device: options.deviceId,
    now: options.nowSeconds,
    ...(last === undefined ? {} : { lastSeq: last }),
  });
  await options.deployer.acceptSequences({ command: verified.message.seq });
  return verified.message;
}

export async function runRollbackCommand(ctx: PipelineContext, reporter: Reporter, command: Command): Promise<void> {
  const before = await ctx.deployer.status();
  await reporter.report('rolling-back');
  try {
    const after = await ctx.deployer.rollback(command.reason ?? `command ${command.id}`);
    await audit(ctx.deployer, ctx.now(), 'rollback', 'ok', before.booted?.id, after.booted?.id);
    await reporter.report('rolled-back');
  } catch (error) {
    const failure = asBootfleetError(error);
    await audit(ctx.deployer, ctx.now(), 'rollback', 'refused', before.booted?.id, undefined, failure.code);
    await reporter.report('failed', { error: failure });
  }
}

export async function runFactoryResetCommand(ctx: PipelineContext, reporter: Reporter): Promise<void> {
  const before = await ctx.deployer.status();
  await reporter.report('activating');
  try {
    const after = await ctx.deployer.factoryReset();
    await audit(ctx.deployer, ctx.now(), 'factory-reset', 'ok', before.booted?.id, after.booted?.id);
  } catch (error) {
    const failure = asBootfleetError(error);
    await audit(ctx.deployer, ctx.now(), 'factory-reset', 'refused', before.booted?.id, undefined, failure.code);
    await reporter.report('failed', { error: failure });
    return;
  }
  await reporter.report('probation');
  const outcome = await healthStep(ctx);
  if (outcome.outcome === 'rolled-back') {
    await reporter.report('rolling-back', { health: outcome.health });
    await reporter.report('rolled-back', { health: outcome.health, ...(outcome.error === undefined ? {} : { error: outcome.error }) });
  } else {
    await reporter.report('succeeded', { health: outcome.health });
  }
}

function audit(deployer: Deployer, atMs: number, action: string, result: 'ok' | 'refused', from?: string, to?: string, code?: string): Promise<void> {
  return appendAgentAudit(deployer.dataDir, { atMs, action, result, from, to, code });
}
