/**
 * `bootfleet agent run` (the daemon, foreground: JSON lines on stdout,
 * SIGINT or SIGTERM stops it) and `bootfleet agent enroll` (once per device:
 * writes the broker credentials the server issues, mode 0600).
 * docs/agent-daemon.md.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { BootfleetError, parseDeviceId } from '../../protocol/index.js';
import { callApi } from '../api-client.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';

async function readToken(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${path}`, { cause: error, details: { path } });
  }
}

/**
 * The daemon (MQTT, the pipeline, the registry client) is loaded when `run` or
 * `enroll` starts, so that the other commands do not carry it (docs/agent-content.md, "Memory").
 */
// The modules themselves, not agent/daemon/index.js: its re-export of run-managed.js would load the MQTT client in every mode.
const daemonApi = async () => {
  const [config, log, daemon, credentials] = await Promise.all([
    import('../../agent/daemon/config.js'),
    import('../../agent/daemon/log.js'),
    import('../../agent/daemon/daemon.js'),
    import('../../agent/daemon/credentials.js'),
  ]);
  return { ...config, ...log, ...daemon, ...credentials };
};

/** After SIGTERM, how long work in flight may take to notice before the process exits (5_000 ms). */
const STOP_GRACE_MS = 5_000;

export function addDaemonAgentCommands(agent: Command, io: CliIo): void {
  agent
    .command('run')
    .description('run the agent daemon in the foreground (managed or autonomous mode); JSON lines on stdout; SIGINT or SIGTERM stops it')
    .requiredOption('-c, --config <file>', 'agent configuration file (JSON; docs/agent-daemon.md)')
    .option('--once', 'autonomous mode: poll the tag once, update if it moved, and exit (for a systemd timer); exit 1 when the poll failed')
    .action(async (opts: { config: string; once?: boolean }) => {
      const { jsonLinesLog, readAgentConfig, runDaemon } = await daemonApi();
      const config = await readAgentConfig(opts.config);
      const controller = new AbortController();
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        controller.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const log = jsonLinesLog((line) => {
        io.out(line);
      });
      log('agent-start', { deviceId: config.deviceId, pid: process.pid });
      const running = runDaemon(config, { log, signal: controller.signal, ...(opts.once === undefined ? {} : { once: opts.once }) });
      // Work that does not watch the signal (a download, a probation round) gets a short grace, then is cut:
      // everything the agent writes is crash-safe, and the next start resumes or recovers it.
      const grace = new Promise<boolean>((resolve) => {
        controller.signal.addEventListener('abort', () => setTimeout(() => resolve(true), STOP_GRACE_MS).unref(), { once: true });
      });
      const ok = await Promise.race([running, grace]);
      log('agent-stop');
      // Work still in flight (a download) stops here; its partial file resumes at the next start.
      process.exit(ok ? ExitCode.ok : ExitCode.failure);
    });
  agent
    .command('enroll')
    .description('enrol this device with a server once; writes the broker credentials file (mode 0600)')
    .requiredOption('--server <url>', 'server URL, e.g. https://fleet.example.net')
    .requiredOption('--token-file <file>', 'file holding the fleet enrolment token (never on the command line)')
    .requiredOption('--device-id <id>', 'this device id')
    .requiredOption('-o, --out <file>', 'credentials file to create (refuses to replace one)')
    .action(async (opts: { server: string; tokenFile: string; deviceId: string; out: string }) => {
      const { writeDeviceCredentials } = await daemonApi();
      const deviceId = parseDeviceId(opts.deviceId);
      const token = await readToken(opts.tokenFile);
      const answer = await callApi({ server: opts.server, token: undefined }, 'POST', '/api/v1/enroll', { token, deviceId });
      const credentials = await writeDeviceCredentials(opts.out, answer);
      io.out(`${JSON.stringify({ deviceId: credentials.deviceId, username: credentials.username, credentialsFile: opts.out })}\n`);
    });
}
