/**
 * `bootfleet agent`: the device agent. The local, offline commands for field
 * technicians live in agent-local.ts; commands that fetch content (issue #4)
 * join them here.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';
import { addLocalAgentCommands } from './agent-local.js';

export function agentCommand(io: CliIo): Command {
  const agent = new Command('agent').description('run and inspect the device agent (fetch, stage, activate, roll back)');
  addLocalAgentCommands(agent, io);
  return agent;
}
