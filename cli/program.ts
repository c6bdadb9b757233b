/** The `bootfleet` program: one subcommand group per component. */
import { Command, CommanderError } from 'commander';
import { BootfleetError } from '../protocol/index.js';
import { agentCommand } from './commands/agent.js';
import { applyCommand } from './commands/apply.js';
import { campaignCommand } from './commands/campaign.js';
import { imageCommand } from './commands/image.js';
import { deviceCommand } from './commands/device.js';
import { keysCommand } from './commands/keys.js';
import { serverCommand } from './commands/server.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { processIo, type CliIo } from './io.js';

export const VERSION = '0.1.0';

export function buildProgram(io: CliIo): Command {
  const program = new Command('bootfleet')
    .description('signed, resumable, health-gated updates for fleets of image-based Linux devices')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput(outputTo(io));
  for (const group of [serverCommand(io), agentCommand(io), keysCommand(io), imageCommand(io), campaignCommand(io), deviceCommand(io), applyCommand(io)]) {
    group.exitOverride().configureOutput(outputTo(io));
    for (const sub of group.commands) sub.exitOverride().configureOutput(outputTo(io));
    program.addCommand(group);
  }
  return program;
}

function outputTo(io: CliIo): { writeOut: (s: string) => void; writeErr: (s: string) => void } {
  return {
    writeOut: (s) => {
      io.out(s);
    },
    writeErr: (s) => {
      io.err(s);
    },
  };
}

/** Runs the CLI and returns its exit code (README, "Exit codes"). */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // `--help` and `--version` reach here with exit code 0; a wrong command line,
      // or a group called without a subcommand, with 1: that is our usage code.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof BootfleetError) {
      io.err(`bootfleet: error ${error.code}: ${error.message}\n`);
      return exitCodeFor(error.code);
    }
    io.err(`bootfleet: error BOOTFLEET_INTERNAL: ${error instanceof Error ? error.message : String(error)}\n`);
    return ExitCode.failure;
  }
}
