#!/usr/bin/env node
/** The `bootfleet` executable. Everything it does is in program.ts, testable in process. */
import { runCli } from './program.js';

// `bootfleet ... | head` closes our stdout early: that ends the output, it is no crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2));
