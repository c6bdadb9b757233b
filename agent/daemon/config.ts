/**
 * The agent daemon's configuration file (docs/agent-daemon.md): one JSON
 * object. `deploy` is the section the technician commands read too
 * (agent/deploy/config.ts); `server` selects managed mode, `autonomous`
 * tracks a tag. Secrets never sit in this file: it names files holding them.
 */
import { readFile } from 'node:fs/promises';
import { Type, type Static } from 'typebox';
import { BootfleetError, compileParser, ID_SCHEMA_PATTERN, MaintenanceWindowSchema, parseJson } from '../../protocol/index.js';
import { DeployConfigSchema } from '../deploy/config.js';
import { INTEGRITY_ACTIONS } from '../health/integrity.js';

const CONFIG_MAX_BYTES = 256 * 1024;
const Path = Type.String({ minLength: 1, maxLength: 4096 });

export const ServerConnectionSchema = Type.Object(
  {
    /** mqtt://host:port or mqtts://host:port. */
    mqttUrl: Type.String({ pattern: '^(mqtt|mqtts|ws|wss)://', maxLength: 2048 }),
    /** The file `bootfleet agent enroll` wrote (mode 0600): username and password for the broker. */
    credentialsFile: Path,
    /** Public keys (PEM) of the server that signs desired states and commands. */
    trustedKeyFiles: Type.Array(Path, { minItems: 1, maxItems: 16 }),
    /** Reconnect backoff: 1_000 ms doubling up to 60_000 ms, with equal jitter. */
    reconnectMinMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
    reconnectMaxMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
    /** At most one progress report per this many milliseconds (default 1_000 ms). */
    progressIntervalMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
    /** How often the daemon looks for audit entries not yet sent (default 30_000 ms); docs/agent-daemon.md. */
    auditSyncIntervalMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 3_600_000 })),
    /**
     * The last report is sent again (new seq) every this many milliseconds (default 600_000 ms; 0: never):
     * a report sent while the server was not subscribed (an external broker that restarted and lost its
     * sessions) is otherwise never seen, and the campaign waits for the device until its timeout.
     */
    reportIntervalMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
  },
  { additionalProperties: false },
);

export const RegistryAccessSchema = Type.Object(
  {
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** File holding the registry password or token; without it, managed mode uses the enrolled credentials. */
    passwordFile: Type.Optional(Path),
    plainHttp: Type.Optional(Type.Boolean()),
    /** Bandwidth cap for metered links, bytes per second. */
    maxBytesPerSecond: Type.Optional(Type.Integer({ minimum: 1024 })),
    stallTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
  },
  { additionalProperties: false },
);

export const AutonomousSchema = Type.Object(
  {
    /** The tag to track: host[:port]/repository:tag. */
    image: Type.String({ minLength: 3, maxLength: 1024 }),
    /** Poll interval (default 3600 s) and its random jitter (default a tenth of it). */
    pollIntervalSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 604_800 })),
    jitterSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 604_800 })),
    downloadOnly: Type.Optional(Type.Boolean()),
    /** Before activating a new image, wait a random time up to this (default 0): a fleet does not restart at once. */
    randomDelaySeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 604_800 })),
    allowDowngrade: Type.Optional(Type.Boolean()),
    maintenanceWindows: Type.Optional(Type.Array(MaintenanceWindowSchema, { maxItems: 16 })),
    /** Rollbacks of one image before it is not tried again until the tag moves on (default 3; agent/pipeline/attempts.ts). */
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);

/** Runtime integrity (docs/agent-daemon.md, "Runtime integrity"). */
export const IntegritySchema = Type.Object(
  {
    /** Between two recomputations of the booted tree's digest (default 3600 s). */
    intervalSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 604_800 })),
    /** alert (default): report only; refuse-commit: a changed deployment on probation is rolled back; rollback: any change rolls back. */
    onMismatch: Type.Optional(Type.Enum(INTEGRITY_ACTIONS)),
  },
  { additionalProperties: false },
);

export const AgentConfigSchema = Type.Object(
  {
    deviceId: Type.String({ pattern: ID_SCHEMA_PATTERN }),
    /** Default: managed when `server` is set, else autonomous. */
    mode: Type.Optional(Type.Enum(['managed', 'autonomous'] as const)),
    deploy: Type.Optional(DeployConfigSchema),
    server: Type.Optional(ServerConnectionSchema),
    registry: Type.Optional(RegistryAccessSchema),
    autonomous: Type.Optional(AutonomousSchema),
    /** Builder public keys (PEM): when set, every image must carry a signature by one of them (docs/registry.md, "Signing"). */
    builderKeyFiles: Type.Optional(Type.Array(Path, { minItems: 1, maxItems: 16 })),
    /** Pause between two rounds of failing health checks during probation (default 2_000 ms). */
    healthRetryIntervalMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
    integrity: Type.Optional(IntegritySchema),
  },
  { additionalProperties: false },
);
export type AgentConfig = Static<typeof AgentConfigSchema>;

const parser = compileParser('agent configuration', AgentConfigSchema, 'BOOTFLEET_CONFIG_INVALID');

export async function readAgentConfig(path: string): Promise<AgentConfig> {
  const config = parser.parse(parseJson(await readFileOrThrow(path), CONFIG_MAX_BYTES, path));
  const mode = agentMode(config);
  if (mode === 'managed' && config.server === undefined) throw new BootfleetError('BOOTFLEET_CONFIG_INVALID', 'managed mode needs a "server" section');
  if (mode === 'autonomous' && config.autonomous === undefined) throw new BootfleetError('BOOTFLEET_CONFIG_INVALID', 'autonomous mode needs an "autonomous" section');
  return config;
}

/**
 * What the technician commands (`bootfleet agent apply`) take from the agent's
 * configuration file besides its `deploy` section: registry access and the
 * builder keys (when set, `apply` refuses an unsigned image as the daemon
 * does). Other sections are the daemon's and are not checked here.
 */
export const TechnicianSettingsSchema = Type.Object(
  {
    registry: Type.Optional(RegistryAccessSchema),
    builderKeyFiles: Type.Optional(Type.Array(Path, { minItems: 1, maxItems: 16 })),
    healthRetryIntervalMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
  },
  { additionalProperties: true },
);
export type TechnicianSettings = Static<typeof TechnicianSettingsSchema>;

const technicianParser = compileParser('agent configuration', TechnicianSettingsSchema, 'BOOTFLEET_CONFIG_INVALID');

export async function readTechnicianSettings(path: string): Promise<TechnicianSettings> {
  return technicianParser.parse(parseJson(await readFileOrThrow(path), CONFIG_MAX_BYTES, path));
}

export function agentMode(config: AgentConfig): 'managed' | 'autonomous' {
  return config.mode ?? (config.server === undefined ? 'autonomous' : 'managed');
}

export async function readFileOrThrow(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${path}`, { cause: error, details: { path } });
  }
}
