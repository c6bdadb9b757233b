/**
 * Runs the CLI's own code in this process (`runCli` from cli/program.ts, not the built bundle: for that, see
 * cli-process.ts) with what it writes captured, as the tests of the CLI commands read it.
 */
import { runCli } from '../../cli/program.js';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function captureCli(args: readonly string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}
