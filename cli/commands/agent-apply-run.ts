/**
 * The work of `bootfleet agent apply` (cli/commands/agent-apply.ts registers
 * the command): kept apart so that the CLI loads the registry client, the
 * archive reader and the pipeline only when `apply` runs (the agent's memory
 * budget, docs/agent-content.md "Memory").
 */
import { mkdir } from 'node:fs/promises';
import { basename } from 'node:path';
import { importArchive } from '../../agent/archive/index.js';
import { ContentStore } from '../../agent/content/store.js';
import { readTechnicianSettings, readFileOrThrow, type TechnicianSettings } from '../../agent/daemon/config.js';
import { readDeployConfig, type DeployConfig, type Deployer } from '../../agent/deploy/index.js';
import { clearAttempts, runUpdate, type PipelineContext, type PipelineEvent, type UpdateTarget } from '../../agent/pipeline/index.js';
import type { Credentials } from '../../agent/registry/auth.js';
import { RegistryClient } from '../../agent/registry/client.js';
import { parseReference } from '../../agent/registry/reference.js';
import { resolveImage, type Platform } from '../../agent/registry/resolve.js';
import { BootfleetError, TrustedKeys, type AgentState, type UpdatePolicy } from '../../protocol/index.js';
import type { CliIo } from '../io.js';
import { credentialsFromEnv } from './agent-content.js';
import type { WaitOption } from './agent-lock.js';
import { agentStatus, audited, loadDeployer, readable, type LocalOptions } from './agent-local.js';

export interface ApplyFlags extends LocalOptions, WaitOption {
  archive?: string;
  name?: string;
  platform?: Platform;
  downloadOnly?: boolean;
  allowDowngrade?: boolean;
  username?: string;
  plainHttp?: boolean;
}

/** Probation length when the configuration names none (seconds), as the daemon's. */
const DEFAULT_HEALTH_TIMEOUT_SECONDS = 300;

async function registryCredentials(flags: ApplyFlags, settings: TechnicianSettings): Promise<Credentials | undefined> {
  const fromEnv = credentialsFromEnv(flags.username);
  if (fromEnv !== undefined || settings.registry?.passwordFile === undefined) return fromEnv;
  const password = (await readFileOrThrow(settings.registry.passwordFile)).toString('utf8').trim();
  return { username: settings.registry.username ?? 'device', password };
}

function eventPrinter(io: CliIo, json: boolean): (event: PipelineEvent) => void {
  let lastProgressMs = 0;
  return (event) => {
    if (event.event === 'content') return;
    if (event.event === 'progress') {
      // At most one progress line a second: a layer download emits thousands.
      if (Date.now() - lastProgressMs < 1000) return;
      lastProgressMs = Date.now();
      if (json) io.out(`${JSON.stringify(event)}\n`);
      return;
    }
    const error = event.error === undefined ? {} : { code: event.error.code, message: event.error.message };
    if (json) io.out(`${JSON.stringify({ event: 'phase', phase: event.phase, ...error })}\n`);
    else io.err(`bootfleet: ${event.phase}${event.error === undefined ? '' : ` (${event.error.code})`}\n`);
  };
}

async function applyContext(flags: ApplyFlags, io: CliIo, deployer: Deployer): Promise<{ ctx: PipelineContext; deploy: DeployConfig }> {
  const settings: TechnicianSettings = flags.config === undefined ? {} : await readTechnicianSettings(flags.config);
  const deploy: DeployConfig = flags.config === undefined ? {} : await readDeployConfig(flags.config);
  await mkdir(deployer.dataDir, { recursive: true, mode: 0o700 });
  const credentials = await registryCredentials(flags, settings);
  const plainHttp = flags.plainHttp ?? settings.registry?.plainHttp;
  const ctx: PipelineContext = {
    store: await ContentStore.open(deployer.dataDir),
    deployer,
    pull: {
      ...(credentials === undefined ? {} : { credentials }),
      ...(plainHttp === undefined ? {} : { plainHttp }),
      ...(settings.registry?.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: settings.registry.stallTimeoutMs }),
      ...(settings.registry?.maxBytesPerSecond === undefined ? {} : { bandwidthBytesPerSecond: settings.registry.maxBytesPerSecond }),
      ...(flags.platform === undefined ? {} : { platform: flags.platform }),
    },
    checks: deploy.healthChecks ?? [],
    emit: eventPrinter(io, flags.json === true),
    now: Date.now,
    ...(settings.builderKeyFiles === undefined ? {} : { builderKeys: await TrustedKeys.fromFiles(settings.builderKeyFiles) }),
    ...(settings.healthRetryIntervalMs === undefined ? {} : { healthRetryIntervalMs: settings.healthRetryIntervalMs }),
  };
  return { ctx, deploy };
}

async function resolveTarget(ctx: PipelineContext, ref: string, policy: UpdatePolicy): Promise<UpdateTarget> {
  const parsed = parseReference(ref);
  const client = new RegistryClient(parsed.registry, {
    ...(ctx.pull.credentials === undefined ? {} : { credentials: ctx.pull.credentials }),
    ...(ctx.pull.plainHttp === undefined ? {} : { plainHttp: ctx.pull.plainHttp }),
  });
  try {
    const resolved = await resolveImage(client, parsed, ...(ctx.pull.platform === undefined ? [] : [ctx.pull.platform]));
    return { registry: parsed.registry, repository: parsed.repository, digest: resolved.descriptor.digest, policy };
  } finally {
    await client.close();
  }
}

async function archiveTarget(ctx: PipelineContext, archive: string, flags: ApplyFlags, policy: UpdatePolicy): Promise<UpdateTarget> {
  const imported = await importArchive(ctx.store, archive, {
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.platform === undefined ? {} : { platform: flags.platform }),
  });
  return { registry: 'oci-archive', repository: basename(archive), digest: imported.manifest.digest, policy, prepared: { manifest: imported.manifest, signatures: imported.signatures } };
}

/** Runs the pipeline; a failed or rolled-back update is thrown, so that the audit line and the exit code carry its code. */
async function applyOnce(ctx: PipelineContext, ref: string | undefined, flags: ApplyFlags, policy: UpdatePolicy): Promise<AgentState> {
  const target = flags.archive === undefined ? await resolveTarget(ctx, ref ?? '', policy) : await archiveTarget(ctx, flags.archive, flags, policy);
  // A technician applying an image is the operator asking to try it again.
  await clearAttempts(ctx.deployer.dataDir);
  const outcome = await runUpdate(ctx, target);
  if (outcome.phase === 'failed' || outcome.phase === 'rolled-back') {
    throw outcome.error ?? new BootfleetError('BOOTFLEET_HEALTH_CHECK_FAILED', `the update ended ${outcome.phase}`);
  }
  return ctx.deployer.status();
}

/** What `agent apply` does once its arguments are parsed (loaded only when the command runs). */
export async function runApply(ref: string | undefined, flags: ApplyFlags, io: CliIo): Promise<void> {
  if ((ref === undefined) === (flags.archive === undefined)) throw new BootfleetError('BOOTFLEET_CLI_USAGE', 'give either an image reference or --archive <path>');
  if (flags.name !== undefined && flags.archive === undefined) throw new BootfleetError('BOOTFLEET_CLI_USAGE', '--name applies to --archive only');
  const deployer = await loadDeployer(flags);
  const { ctx, deploy } = await applyContext(flags, io, deployer);
  const policy: UpdatePolicy = {
    downloadOnly: flags.downloadOnly === true,
    allowDowngrade: flags.allowDowngrade === true,
    healthTimeoutSeconds: deploy.healthTimeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_SECONDS,
  };
  await audited(deployer, 'apply', () => applyOnce(ctx, ref, flags, policy), flags.wait);
  const status = await agentStatus(deployer);
  io.out(flags.json === true ? `${JSON.stringify({ event: 'status', ...status })}\n` : readable(status));
}
