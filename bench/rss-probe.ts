/** Runs one `bootfleet` command and reports the process's peak RSS (KiB) on stderr as JSON. */
import { runCli } from '../cli/program.js';

const code = await runCli(process.argv.slice(2), { out: () => undefined, err: (text) => process.stderr.write(text) });
process.stderr.write(`${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS })}\n`);
process.exitCode = code;
