#!/usr/bin/env node
/** The `bootfleet` executable. Everything it does is in program.ts, testable in process. */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
