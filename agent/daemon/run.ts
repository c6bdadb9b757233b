/**
 * `bootfleet agent run`: the daemon. It opens the data directory (content
 * store, state), then runs managed mode (MQTT, signed desired states) or
 * autonomous mode (a tracked tag) until the signal aborts. Recovery and the
 * probation of a deployment activated before this start come first.
 */
import { mkdir } from 'node:fs/promises';
import { TrustedKeys, type UpdatePolicy } from '../../protocol/index.js';
import { ContentStore } from '../content/store.js';
import { backendFor, DEFAULT_AGENT_DATA_DIR } from '../deploy/config.js';
import { Deployer } from '../deploy/deployer.js';
import type { Credentials } from '../registry/auth.js';
import { assertBootedIntact, type IntegrityAction } from '../health/integrity.js';
import { startUp, type StartUpResult } from '../health/start-up.js';
import type { ActivationBackend } from '../deploy/backend.js';
import { LockGate } from '../deploy/lock-gate.js';
import type { PipelineSink } from '../pipeline/events.js';
import { clearAttempts, recordFailedAttempt } from '../pipeline/attempts.js';
import type { PipelineContext } from '../pipeline/context.js';
import { readFileOrThrow, type AgentConfig } from './config.js';
import type { DeviceCredentials } from './credentials.js';
import { DEFAULT_INTEGRITY_INTERVAL_SECONDS, IntegrityMonitor, type IntegrityMonitorOptions } from './integrity-monitor.js';
import type { DaemonLog } from './log.js';

export interface RunOptions {
  readonly log: DaemonLog;
  readonly signal: AbortSignal;
  /** Autonomous mode: poll once and return. */
  readonly once?: boolean;
}

const DEFAULT_HEALTH_TIMEOUT_SECONDS = 300;

async function registryCredentials(config: AgentConfig, device: DeviceCredentials | undefined): Promise<Credentials | undefined> {
  const registry = config.registry;
  if (registry?.passwordFile !== undefined) {
    const password = (await readFileOrThrow(registry.passwordFile)).toString('utf8').trim();
    return { username: registry.username ?? config.deviceId, password };
  }
  return device === undefined ? undefined : { username: device.username, password: device.password };
}

/** Builds pipeline contexts sharing one store, backend and registry access; `sink` is where events go. */
export class PipelineFactory {
  sink: PipelineSink;
  /** The data directory's lock, taken per operation (docs/agent-deployment.md, "One writer at a time"). */
  readonly gate: LockGate;

  private constructor(
    readonly config: AgentConfig,
    readonly dataDir: string,
    readonly store: ContentStore,
    private readonly backend: ActivationBackend,
    private readonly pull: PipelineContext['pull'],
    private readonly signal: AbortSignal,
    log: DaemonLog,
    private readonly builderKeys?: TrustedKeys,
  ) {
    this.gate = new LockGate({ dataDir, owner: 'daemon', signal });
    this.sink = (event) => {
      if (event.event === 'phase') log('phase', { phase: event.phase, ...(event.error === undefined ? {} : { code: event.error.code, message: event.error.message }) });
      else if (event.event === 'content') log(event.detail.event, { ...event.detail });
    };
  }

  static async open(config: AgentConfig, log: DaemonLog, signal: AbortSignal, device?: DeviceCredentials): Promise<PipelineFactory> {
    const deploy = config.deploy ?? {};
    const dataDir = deploy.dataDir ?? DEFAULT_AGENT_DATA_DIR;
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const store = await ContentStore.open(dataDir);
    const credentials = await registryCredentials(config, device);
    const registry = config.registry ?? {};
    const pull = {
      ...(credentials === undefined ? {} : { credentials }),
      ...(registry.plainHttp === undefined ? {} : { plainHttp: registry.plainHttp }),
      ...(registry.maxBytesPerSecond === undefined ? {} : { bandwidthBytesPerSecond: registry.maxBytesPerSecond }),
      ...(registry.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: registry.stallTimeoutMs }),
    };
    const builderKeys = config.builderKeyFiles === undefined ? undefined : await TrustedKeys.fromFiles(config.builderKeyFiles);
    return new PipelineFactory(config, dataDir, store, backendFor(deploy, dataDir), pull, signal, log, builderKeys);
  }

  /** A context whose probation lasts the policy's healthTimeoutSeconds and soaks its soakSeconds (else the configured ones). */
  contextFor(policy?: Pick<UpdatePolicy, 'healthTimeoutSeconds' | 'soakSeconds'>, signal?: AbortSignal): PipelineContext {
    const deploy = this.config.deploy ?? {};
    const seconds = policy?.healthTimeoutSeconds ?? deploy.healthTimeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_SECONDS;
    const soakMs = (policy?.soakSeconds ?? deploy.soakSeconds ?? 0) * 1000;
    const deployer = new Deployer({ dataDir: this.dataDir, backend: this.backend, healthTimeoutMs: seconds * 1000, maxBoots: deploy.maxBoots ?? 3, soakMs });
    const retry = this.config.healthRetryIntervalMs;
    return {
      store: this.store,
      deployer,
      pull: this.pull,
      checks: deploy.healthChecks ?? [],
      emit: (event) => {
        this.sink(event);
      },
      now: Date.now,
      signal: signal === undefined ? this.signal : AbortSignal.any([this.signal, signal]),
      ...(this.builderKeys === undefined ? {} : { builderKeys: this.builderKeys }),
      ...(retry === undefined ? {} : { healthRetryIntervalMs: retry }),
      ...(this.integrityAction() === 'alert' ? {} : { integrityBeforeCommit: true }),
    };
  }

  integrityAction(): IntegrityAction {
    return this.config.integrity?.onMismatch ?? 'alert';
  }

  /** The periodic integrity check over the booted deployment, and its interval in milliseconds. */
  integrityMonitor(log: DaemonLog, hooks: Pick<IntegrityMonitorOptions, 'onAlert' | 'onRolledBack'> = {}): { monitor: IntegrityMonitor; intervalMs: number } {
    const monitor = new IntegrityMonitor({ deployer: this.contextFor().deployer, action: this.integrityAction(), log, now: Date.now, ...hooks });
    return { monitor, intervalMs: (this.config.integrity?.intervalSeconds ?? DEFAULT_INTEGRITY_INTERVAL_SECONDS) * 1000 };
  }

  /** Recovery and the probation left open by the last run; a rollback there is a failed attempt at that image. */
  async startUp(): Promise<StartUpResult> {
    const ctx = this.contextFor();
    const before = await ctx.deployer.status();
    const started = await startUp({
      deployer: ctx.deployer,
      checks: ctx.checks,
      ...(ctx.healthRetryIntervalMs === undefined ? {} : { retryIntervalMs: ctx.healthRetryIntervalMs }),
      ...(ctx.integrityBeforeCommit === true ? { beforeCommit: () => assertBootedIntact(ctx.deployer) } : {}),
    });
    const tried = before.probation?.cause === 'activate' ? before.booted?.manifestDigest : undefined;
    if (tried !== undefined && started.probation.outcome === 'rolled-back') await recordFailedAttempt(this.dataDir, tried, started.probation.error?.code, Date.now());
    if (tried !== undefined && started.probation.outcome === 'committed') await clearAttempts(this.dataDir);
    return started;
  }
}

/** Resolves false when the last poll failed. */
export async function runAutonomousAgent(config: AgentConfig, options: RunOptions): Promise<boolean> {
  const autonomous = config.autonomous;
  if (autonomous === undefined) return false;
  const factory = await PipelineFactory.open(config, options.log, options.signal);
  const started = await factory.gate.run(() => factory.startUp());
  if (started.probation.outcome !== 'none') options.log('probation', { outcome: started.probation.outcome, ...(started.probation.error === undefined ? {} : { code: started.probation.error.code }) });
  const pollIntervalMs = (autonomous.pollIntervalSeconds ?? 3600) * 1000;
  // Autonomous mode only: a managed agent does not load the registry client until an update runs (docs/agent-content.md, "Memory").
  const { runAutonomous } = await import('../autonomous/autonomous-agent.js');
  return runAutonomous({
    image: autonomous.image,
    pollIntervalMs,
    jitterMs: (autonomous.jitterSeconds ?? pollIntervalMs / 10_000) * 1000,
    policy: {
      downloadOnly: autonomous.downloadOnly ?? false,
      allowDowngrade: autonomous.allowDowngrade ?? true,
      healthTimeoutSeconds: config.deploy?.healthTimeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_SECONDS,
      ...(config.deploy?.soakSeconds === undefined ? {} : { soakSeconds: config.deploy.soakSeconds }),
      ...(autonomous.maintenanceWindows === undefined ? {} : { maintenanceWindows: autonomous.maintenanceWindows }),
      ...(autonomous.maxAttempts === undefined ? {} : { maxAttempts: autonomous.maxAttempts }),
    },
    ...(autonomous.randomDelaySeconds === undefined ? {} : { maxRandomDelayMs: autonomous.randomDelaySeconds * 1000 }),
    ctx: factory.contextFor(),
    exclusive: (fn) => factory.gate.run(fn),
    log: options.log,
    signal: options.signal,
    integrity: factory.integrityMonitor(options.log),
    ...(options.once === undefined ? {} : { once: options.once }),
  });
}
