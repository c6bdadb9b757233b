/**
 * The deployment part of the agent configuration: the `deploy` object of the
 * agent's JSON configuration file (other top-level sections belong to other
 * parts of the agent and are ignored here). Every field has a default, so a
 * device needs no file at all for the rootfs backend.
 */
import { readFile } from 'node:fs/promises';
import { Type, type Static } from 'typebox';
import { BootfleetError, compileParser, parseJson } from '../../protocol/index.js';
import { HealthCheckSchema } from '../health/checks.js';
import type { ActivationBackend } from './backend.js';
import { bootcBackend } from './bootc-backend.js';
import { Deployer } from './deployer.js';
import { rootfsBackend } from './rootfs-backend.js';

export const DEFAULT_AGENT_DATA_DIR = '/var/lib/bootfleet-agent';
const CONFIG_MAX_BYTES = 256 * 1024;

export const DeployConfigSchema = Type.Object(
  {
    dataDir: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    backend: Type.Optional(Type.Enum(['rootfs', 'bootc'] as const)),
    /** bootc: the bootc executable (`bootc` on PATH by default). */
    bootcPath: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    /** rootfs: where the `current` link lives; `<dataDir>/current` by default. */
    currentLink: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    /** Run after each switch: e.g. ["systemctl","restart","app.service"], ["systemctl","soft-reboot"], ["systemctl","reboot"]. */
    activation: Type.Optional(
      Type.Object(
        { argv: Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 64 }), timeoutMs: Type.Integer({ minimum: 1, maximum: 3_600_000 }) },
        { additionalProperties: false },
      ),
    ),
    /** Probation after an activation or factory reset: 300 s and 3 starts by default (greenboot's count). */
    healthTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    maxBoots: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /** Soak window after the first all-green round, before the commit (docs/protocol.md 7); 0 (default): commit at once. */
    soakSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
    healthChecks: Type.Optional(Type.Array(HealthCheckSchema, { maxItems: 64 })),
  },
  { additionalProperties: false },
);
export type DeployConfig = Static<typeof DeployConfigSchema>;

const deployConfigParser = compileParser('agent deploy configuration', DeployConfigSchema, 'BOOTFLEET_CONFIG_INVALID');

/** Reads the `deploy` section of an agent configuration file; a missing section means all defaults. */
export async function readDeployConfig(path: string): Promise<DeployConfig> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${path}`, { cause: error, details: { path } });
  }
  const value = parseJson(bytes, CONFIG_MAX_BYTES, path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BootfleetError('BOOTFLEET_CONFIG_INVALID', `${path} is not a JSON object`);
  return deployConfigParser.parse((value as { deploy?: unknown }).deploy ?? {});
}

export function backendFor(config: DeployConfig, dataDir: string): ActivationBackend {
  const activation = config.activation === undefined ? {} : { activation: config.activation };
  if (config.backend === 'bootc') return bootcBackend({ dataDir, ...activation, ...(config.bootcPath === undefined ? {} : { bootc: config.bootcPath }) });
  return rootfsBackend({ dataDir, ...activation, ...(config.currentLink === undefined ? {} : { currentLink: config.currentLink }) });
}

export function deployerFor(config: DeployConfig): Deployer {
  const dataDir = config.dataDir ?? DEFAULT_AGENT_DATA_DIR;
  return new Deployer({
    dataDir,
    backend: backendFor(config, dataDir),
    healthTimeoutMs: (config.healthTimeoutSeconds ?? 300) * 1000,
    maxBoots: config.maxBoots ?? 3,
    soakMs: (config.soakSeconds ?? 0) * 1000,
  });
}
