/** Runs the daemon in the mode the configuration selects (docs/agent-daemon.md). */
import { BootfleetError } from '../../protocol/index.js';
import { agentMode, type AgentConfig } from './config.js';
import { runAutonomousAgent, type RunOptions } from './run.js';

/** Resolves false when autonomous mode's last poll failed. */
export async function runDaemon(config: AgentConfig, options: RunOptions): Promise<boolean> {
  if (agentMode(config) === 'managed') {
    if (options.once === true) throw new BootfleetError('BOOTFLEET_CLI_USAGE', '--once applies to autonomous mode only');
    // Loaded here, not at start-up: the MQTT client (mqtt.js, about 0.5 MB of source held in the heap) is
    // managed mode's alone; an autonomous agent never loads it (issue #5's memory target).
    const { runManagedAgent } = await import('./run-managed.js');
    await runManagedAgent(config, options);
    return true;
  }
  return runAutonomousAgent(config, options);
}
