/**
 * `--wait <seconds>` of the state-changing `bootfleet agent` commands: they take the data directory's
 * lock (agent/deploy/data-lock.ts) so that they never interleave their transitions with the daemon's,
 * and give up after the wait with BOOTFLEET_AGENT_BUSY (exit code 6, README "Exit codes").
 */
import type { Command } from 'commander';
import { BootfleetError } from '../../protocol/index.js';
import { withDataLock } from '../../agent/deploy/data-lock.js';

export const DEFAULT_CLI_LOCK_WAIT_SECONDS = 30;

export interface WaitOption {
  wait?: number;
}

export function withWaitOption(command: Command): Command {
  return command.option(
    '--wait <seconds>',
    `how long to wait while the daemon or another command works on the data directory, then exit 6 (BOOTFLEET_AGENT_BUSY); default ${DEFAULT_CLI_LOCK_WAIT_SECONDS}`,
    parseWaitSeconds,
  );
}

export function parseWaitSeconds(value: string): number {
  if (!/^[0-9]{1,6}$/.test(value)) throw new BootfleetError('BOOTFLEET_CLI_USAGE', `--wait takes whole seconds (0-999999), not ${JSON.stringify(value)}`);
  return Number(value);
}

/** Runs `fn` holding the data directory's lock, as the technician command `command`. */
export function asTechnician<T>(dataDir: string, command: string, waitSeconds: number | undefined, fn: () => Promise<T>): Promise<T> {
  return withDataLock(dataDir, { owner: `agent ${command}`, waitMs: (waitSeconds ?? DEFAULT_CLI_LOCK_WAIT_SECONDS) * 1000 }, fn);
}
