/** Runs the daemon in the mode the configuration selects (docs/agent-daemon.md). */
import { BootfleetError } from '../../protocol/index.js';
import { agentMode, type AgentConfig } from './config.js';
import { runManagedAgent } from './run-managed.js';
import { runAutonomousAgent, type RunOptions } from './run.js';

/** Resolves false when autonomous mode's last poll failed. */
export async function runDaemon(config: AgentConfig, options: RunOptions): Promise<boolean> {
  if (agentMode(config) === 'managed') {
    if (options.once === true) throw new BootfleetError('BOOTFLEET_CLI_USAGE', '--once applies to autonomous mode only');
    await runManagedAgent(config, options);
    return true;
  }
  return runAutonomousAgent(config, options);
}
