/**
 * Activation backends: how the system is pointed at a deployment
 * (docs/agent-deployment.md, "Activation backends").
 */
import type { DeploymentRef, SwitchingAction } from '../../protocol/index.js';
import { BootfleetError } from '../../protocol/index.js';
import type { CommandResult, CommandRunner } from './command-runner.js';

export interface ActivationBackend {
  readonly name: 'rootfs' | 'bootc';
  /** The deployment the system runs, or will run after the next activation; undefined when none. */
  current(): Promise<string | undefined>;
  /** Points the system at `target`, a complete deployment. Called again by recovery only when `current()` differs. */
  switchTo(target: DeploymentRef, action: SwitchingAction | 'provision' | 'recover'): Promise<void>;
  /** Makes the switch take effect: the configured activation command (restart services, soft-reboot, reboot). */
  activate(): Promise<void>;
}

export interface ActivationCommand {
  readonly argv: readonly string[];
  readonly timeoutMs: number;
}

/** Runs the activation command when one is configured; a failure or timeout is BOOTFLEET_ACTIVATION_FAILED. */
export async function runActivationCommand(runner: CommandRunner, command: ActivationCommand | undefined): Promise<void> {
  if (command === undefined || command.argv.length === 0) return;
  expectSuccess(await runner(command.argv, { timeoutMs: command.timeoutMs }), command.argv);
}

export function expectSuccess(result: CommandResult, argv: readonly string[]): CommandResult {
  if (result.exitCode === 0 && !result.timedOut) return result;
  throw new BootfleetError('BOOTFLEET_ACTIVATION_FAILED', `${argv.join(' ')} ${result.timedOut ? 'timed out' : `exited with ${String(result.exitCode)}`}`, {
    details: { argv, exitCode: result.exitCode, timedOut: result.timedOut, output: (result.stdout + result.stderr).slice(-4096) },
  });
}
