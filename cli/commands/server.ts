/** `bootfleet server`: run the fleet server. */
import { Command, Option } from 'commander';
import { BootfleetError } from '../../protocol/index.js';
import { defaultBrokerConfig } from '../../server/broker/config.js';
import { LOG_LEVELS, loadServerConfig, type ServerConfig, type ServerConfigOverrides } from '../../server/config.js';
import type { CliIo } from '../io.js';
import { ROLES, type Role } from '../../server/identity/config.js';
import { generateToken } from '../../server/identity/tokens.js';

export function serverCommand(io: CliIo): Command {
  const server = new Command('server').description('run the fleet server (HTTP API, state database, signing key)');
  server
    .command('start')
    .description('start the server in the foreground; SIGINT or SIGTERM stops it cleanly')
    .option('-c, --config <file>', 'JSON configuration file (README, "Server configuration")')
    .option('--data-dir <dir>', 'state directory (default: ./data)')
    .option('--host <address>', 'HTTP listen address (default: 127.0.0.1)')
    .option('--port <port>', 'HTTP port, 0 for any free port (default: 8080)', (v) => Number.parseInt(v, 10))
    .option('--mqtt-port <port>', 'embedded broker MQTT/TCP port, 0 for any free port (default: 1883)', (v) => Number.parseInt(v, 10))
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .action(async (opts: { config?: string; dataDir?: string; host?: string; port?: number; mqttPort?: number; logLevel?: (typeof LOG_LEVELS)[number] }) => {
      const overrides: ServerConfigOverrides = {};
      if (opts.dataDir !== undefined) overrides.dataDir = opts.dataDir;
      if (opts.logLevel !== undefined) overrides.logLevel = opts.logLevel;
      if (opts.host !== undefined || opts.port !== undefined) {
        overrides.http = { ...(opts.host === undefined ? {} : { host: opts.host }), ...(opts.port === undefined ? {} : { port: opts.port }) };
      }
      const loaded = await loadServerConfig(opts.config, overrides);
      const config = opts.mqttPort === undefined ? loaded : withMqttPort(loaded, opts.mqttPort);
      // Loaded here, not at start-up: the device-side commands never pay for the server's modules.
      const { startServer } = await import('../../server/start.js');
      const running = await startServer(config);
      io.err(`bootfleet server listening on ${running.url} (data ${config.dataDir}, signing key ${running.keyId})\n`);
      const mqtt = Object.values(running.control.plane.endpoints).join(', ');
      io.err(`bootfleet mqtt (${running.control.plane.mode}): ${mqtt}\n`);
      io.err(`bootfleet metrics at ${running.url}/metrics (${config.metrics?.public === true ? 'no token' : 'viewer token'}), API document at ${running.url}/docs\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await running.close();
    });
  // --- Control plane (issue #6): tokens for the `auth` section of the configuration. ---
  server
    .command('token')
    .description('make a random API or enrolment token; prints the token (keep it secret) and the entry for the configuration')
    .requiredOption('-n, --name <name>', 'who holds the token (operator name, or fleet/batch for enrolment)')
    .addOption(new Option('-r, --role <role>', 'API role').choices(ROLES).default('viewer'))
    .option('--enrollment', 'an enrolment token for devices (goes in auth.enrollmentTokens)')
    .action((opts: { name: string; role: Role; enrollment?: boolean }) => {
      const { token, hash } = generateToken();
      const entry = opts.enrollment === true ? { enrollmentTokens: [{ name: opts.name, hash }] } : { apiTokens: [{ name: opts.name, role: opts.role, hash }] };
      io.out(`${JSON.stringify({ token, auth: entry })}\n`);
    });
  return server;
}

/** `--mqtt-port` changes only the embedded broker's TCP port, keeping the rest of its configuration. */
function withMqttPort(config: ServerConfig, port: number): ServerConfig {
  const broker = config.broker ?? defaultBrokerConfig();
  if (broker.mode !== 'embedded') throw new BootfleetError('BOOTFLEET_CLI_USAGE', '--mqtt-port applies to the embedded broker only');
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new BootfleetError('BOOTFLEET_CLI_USAGE', `--mqtt-port must be 0 to 65535, got ${port}`);
  return { ...config, broker: { ...broker, tcp: { host: broker.tcp?.host ?? '127.0.0.1', port } } };
}
