/**
 * `bootfleet agent`: the device agent. The local, offline commands for field
 * technicians live in agent-local.ts; the commands that fetch and unpack
 * content in agent-content.ts; the daemon (`run`) and `enroll` in agent-daemon.ts.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';
import { addApplyAgentCommand } from './agent-apply.js';
import { addContentAgentCommands } from './agent-content.js';
import { addDaemonAgentCommands } from './agent-daemon.js';
import { addLocalAgentCommands } from './agent-local.js';

export function agentCommand(io: CliIo): Command {
  const agent = new Command('agent').description('run and inspect the device agent (fetch, stage, activate, roll back)');
  addContentAgentCommands(agent, io);
  addLocalAgentCommands(agent, io);
  addApplyAgentCommand(agent, io);
  addDaemonAgentCommands(agent, io);
  return agent;
}
