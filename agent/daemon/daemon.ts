/** Runs the daemon in the mode the configuration selects (docs/agent-daemon.md). */
import { agentMode, type AgentConfig } from './config.js';
import { runManagedAgent } from './run-managed.js';
import { runAutonomousAgent, type RunOptions } from './run.js';

export function runDaemon(config: AgentConfig, options: RunOptions): Promise<void> {
  return agentMode(config) === 'managed' ? runManagedAgent(config, options) : runAutonomousAgent(config, options);
}
