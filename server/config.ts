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

/** The embedded OCI registry (docs/registry.md). Tokens are stored as SHA-256 hex, never in clear. */
export const RegistryConfigSchema = Type.Object(
  {
    /** Pulling without any credentials; pushing always needs an operator token. */
    anonymousPull: Type.Boolean(),
    /** SHA-256 (lowercase hex) of each operator token: may push, pull and delete. */
    operatorTokenSha256: Type.Array(Type.String({ pattern: '^[a-f0-9]{64}$' }), { maxItems: 1024 }),
    /** SHA-256 of each device token: may pull. Enrollment (issue #6) will add per-device tokens. */
    deviceTokenSha256: Type.Array(Type.String({ pattern: '^[a-f0-9]{64}$' }), { maxItems: 100_000 }),
    /** Manifest, tag and blob DELETE (distribution spec, "Content Management"); off by default. */
    allowDelete: Type.Boolean(),
    /** Open upload sessions at once; more get TOOMANYREQUESTS. */
    maxUploadSessions: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    /** Largest blob accepted, in bytes. */
    maxBlobBytes: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
  },
  { additionalProperties: false },
);
export type RegistryConfig = Static<typeof RegistryConfigSchema>;

export function defaultRegistryConfig(): RegistryConfig {
  return {
    anonymousPull: false,
    operatorTokenSha256: [],
    deviceTokenSha256: [],
    allowDelete: false,
    maxUploadSessions: 256,
    maxBlobBytes: 64 * 1024 ** 3,
  };
}

export const MetricsConfigSchema = Type.Object(
  {
    /** `/metrics` without a token, for a scraper on a trusted network; default false (a viewer token is needed). */
    public: Type.Optional(Type.Boolean()),
    /** prom-client's process metrics (CPU, memory, event loop lag, GC); default true. */
    processMetrics: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const HttpSchema = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    /** 0 picks a free port (tests). */
    port: Type.Integer({ minimum: 0, maximum: 65_535 }),
  },
  { additionalProperties: false },
);

export const ServerConfigSchema = Type.Object(
  {
    /** Where the state database, keys and blobs live. */
    dataDir: Type.String({ minLength: 1 }),
    http: HttpSchema,
    /** The key that signs desired state; generated under dataDir on first start when absent. */
    signingKeyFile: Type.Optional(Type.String({ minLength: 1 })),
    logLevel: Type.Enum(LOG_LEVELS),
    /** Absent: the registry runs with defaultRegistryConfig() (nobody can push). */
    registry: Type.Optional(Type.Partial(RegistryConfigSchema)),
    // --- Control plane (issue #6): MQTT broker and API/device access. Absent: embedded broker on
    // 127.0.0.1:1883, and no tokens (every /api/ call is refused until tokens are configured).
    broker: Type.Optional(BrokerConfigSchema),
    auth: Type.Optional(AuthConfigSchema),
    // --- Operations (issue #6): Prometheus metrics at /metrics (docs/control-plane.md, "Metrics").
    metrics: Type.Optional(MetricsConfigSchema),
  },
  { additionalProperties: false },
);
export type ServerConfig = Static<typeof ServerConfigSchema>;

export const DEFAULT_HTTP_PORT = 8080;

export function defaultServerConfig(): ServerConfig {
  return { dataDir: resolve('data'), http: { host: '127.0.0.1', port: DEFAULT_HTTP_PORT }, logLevel: 'info' };
}

const configParser = compileParser('server configuration', ServerConfigSchema, 'BOOTFLEET_CONFIG_INVALID');
/** A configuration file may set any field, nested ones partly. */
const PartialConfigSchema = Type.Partial(
  Type.Object({ ...ServerConfigSchema.properties, http: Type.Partial(HttpSchema) }, { additionalProperties: false }),
);
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
