/**
 * Server configuration: defaults, then a JSON file, then command-line flags.
 * Defaults bind to loopback: the server must be opened to the network on
 * purpose (`--host 0.0.0.0`), never by accident.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Type, type Static } from 'typebox';
import { BootfleetError, compileParser, parseJson } from '../protocol/index.js';
import { BrokerConfigSchema } from './broker/config.js';
import { AuthConfigSchema } from './identity/config.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const ServerConfigSchema = Type.Object(
  {
    /** Where the state database, keys and blobs live. */
    dataDir: Type.String({ minLength: 1 }),
    http: Type.Object(
      {
        host: Type.String({ minLength: 1 }),
        /** 0 picks a free port (tests). */
        port: Type.Integer({ minimum: 0, maximum: 65_535 }),
      },
      { additionalProperties: false },
    ),
    /** The key that signs desired state; generated under dataDir on first start when absent. */
    signingKeyFile: Type.Optional(Type.String({ minLength: 1 })),
    logLevel: Type.Enum(LOG_LEVELS),
    // --- Control plane (issue #6): MQTT broker and API/device access. Absent: embedded broker on
    // 127.0.0.1:1883, and no tokens (every /api/ call is refused until tokens are configured).
    broker: Type.Optional(BrokerConfigSchema),
    auth: Type.Optional(AuthConfigSchema),
  },
  { additionalProperties: false },
);
export type ServerConfig = Static<typeof ServerConfigSchema>;

export const DEFAULT_HTTP_PORT = 8080;

export function defaultServerConfig(): ServerConfig {
  return { dataDir: resolve('data'), http: { host: '127.0.0.1', port: DEFAULT_HTTP_PORT }, logLevel: 'info' };
}

const configParser = compileParser('server configuration', ServerConfigSchema, 'BOOTFLEET_CONFIG_INVALID');
const PartialConfigSchema = Type.Partial(ServerConfigSchema);
const partialParser = compileParser('server configuration file', PartialConfigSchema, 'BOOTFLEET_CONFIG_INVALID');

export type ServerConfigOverrides = Partial<Omit<ServerConfig, 'http'>> & { http?: Partial<ServerConfig['http']> };

export async function loadServerConfig(file: string | undefined, overrides: ServerConfigOverrides = {}): Promise<ServerConfig> {
  const base = defaultServerConfig();
  let fromFile: ServerConfigOverrides = {};
  if (file !== undefined) {
    let text: Buffer;
    try {
      text = await readFile(file);
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_CONFIG_INVALID', `cannot read configuration file ${file}`, { cause: error });
    }
    let value: unknown;
    try {
      value = parseJson(text, 1024 * 1024, file);
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_CONFIG_INVALID', `configuration file ${file} is not valid JSON`, { cause: error });
    }
    fromFile = partialParser.parse(value);
  }
  const merged = {
    ...base,
    ...fromFile,
    ...overrides,
    http: { ...base.http, ...fromFile.http, ...overrides.http },
  };
  const config = configParser.parse(merged);
  return { ...config, dataDir: resolve(config.dataDir) };
}

export function signingKeyPath(config: ServerConfig): string {
  return config.signingKeyFile ?? join(config.dataDir, 'keys', 'server');
}
