/**
 * The set-up and clean-up every agent daemon test shares, registered as vitest hooks in the calling
 * `describe`: a fleet (test/helpers/agent-daemon.ts `startFleet`), a scratch directory holding the
 * registry's device token, the agents the test starts; for managed mode, the device enrolled through the
 * CLI, its config written and its agent started, and the reports it sent.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Report } from '../../protocol/index.js';
import { AgentProcess, enrollDevice, eventually, fileCheck, startFleet, writeJson, type Fleet } from './agent-daemon.js';
import { DEVICE_TOKEN } from './registry.js';

export interface DaemonFleet {
  readonly fleet: Fleet;
  readonly dir: string;
  /** The agent started last. */
  readonly agent: AgentProcess;
  /** The `registry` section of an agent config: the device token over plain HTTP, plus `extra` settings. */
  readonly registryConfig: (extra?: Record<string, unknown>) => Record<string, unknown>;
  /** Starts `agent run --config configPath`; the clean-up kills it. */
  readonly start: (configPath: string) => AgentProcess;
}

export interface DaemonFleetOptions {
  /** Kills the agents after each test too, for tests that each start their own device. */
  readonly stopAgentsAfterEach?: boolean;
}

function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not started (use it inside a test or a hook)`);
  return value;
}

/**
 * Registers the start of a fleet and of a scratch directory (beforeAll) and their clean-up: every agent
 * killed, the server destroyed, the directory removed. Call it before the describe's own hooks: vitest runs
 * beforeAll hooks in the order registered and afterAll hooks in the reverse order.
 */
export function useDaemonFleet(tmpPrefix: string, options: DaemonFleetOptions = {}): DaemonFleet {
  let fleet: Fleet | undefined;
  let dir: string | undefined;
  const agents: AgentProcess[] = [];
  const stopAgents = async (): Promise<void> => {
    for (const agent of agents.splice(0)) await agent.kill();
  };
  beforeAll(async () => {
    fleet = await startFleet();
    dir = await mkdtemp(join(tmpdir(), tmpPrefix));
    await writeFile(join(dir, 'registry.token'), DEVICE_TOKEN, { mode: 0o600 });
  }, 30_000);
  if (options.stopAgentsAfterEach === true) afterEach(stopAgents);
  afterAll(async () => {
    await stopAgents();
    await fleet?.t.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return {
    get fleet() {
      return started(fleet, 'the fleet');
    },
    get dir() {
      return started(dir, 'the scratch directory');
    },
    get agent() {
      return started(agents.at(-1), 'the agent');
    },
    registryConfig: (extra = {}) => ({ username: 'device', passwordFile: join(started(dir, 'the scratch directory'), 'registry.token'), plainHttp: true, ...extra }),
    start: (configPath) => {
      const agent = new AgentProcess(configPath);
      agents.push(agent);
      return agent;
    },
  };
}

/** A managed agent's config beyond its identity, data directory and connections; each section is merged into the one built. */
export interface ManagedConfig {
  readonly deploy?: Record<string, unknown>;
  readonly server?: Record<string, unknown>;
  readonly registry?: Record<string, unknown>;
  readonly [setting: string]: unknown;
}

/** The settings for images that pass their health check by carrying `etc/healthy`, checked again every 100 ms. */
export function healthyFileConfig(dataDir: string): ManagedConfig {
  return { deploy: { healthChecks: [fileCheck('healthy', `${dataDir}/current/etc/healthy`)] }, healthRetryIntervalMs: 100 };
}

export interface ManagedDaemonOptions {
  readonly device: string;
  readonly tmpPrefix: string;
  /** The config's own settings; `dataDir` is where the agent keeps its deployments. */
  readonly config: (dataDir: string) => ManagedConfig;
  /** false: the test starts the agent (`start(configPath)`) once it has done what must come first. Default true. */
  readonly startAgent?: boolean;
}

export interface ManagedDaemon extends DaemonFleet {
  /** `<dir>/agent`. */
  readonly dataDir: string;
  /** `<dir>/agent.json`. */
  readonly configPath: string;
  /** The credentials file `agent enroll` wrote. */
  readonly credentials: string;
  /** The device's reports with a seq above `seq` (all of them for 0: a report's seq starts at 1). */
  readonly reportsAfter: (seq: number) => Report[];
  /** The seq of the device's last report, 0 before its first. */
  readonly lastSeq: () => number;
  /** The first report after seq `after` that `pred` matches, polled for (bounded: `eventually`). */
  readonly waitReport: (after: number, pred: (r: Report) => boolean, what: string, timeoutMs?: number) => Promise<Report>;
}

/** `useDaemonFleet`, then (beforeAll) the device enrolled through the CLI, its config written and (unless `startAgent: false`) its agent started. */
export function useManagedDaemon(o: ManagedDaemonOptions): ManagedDaemon {
  const base = useDaemonFleet(o.tmpPrefix);
  let credentials: string | undefined;
  const dataDir = (): string => join(base.dir, 'agent');
  const configPath = (): string => join(base.dir, 'agent.json');
  const reportsAfter = (seq: number): Report[] => base.fleet.reports.filter((r) => r.device === o.device && r.seq > seq);
  beforeAll(async () => {
    const { fleet } = base;
    credentials = await enrollDevice(fleet, o.device, base.dir);
    const { deploy, server, registry, ...rest } = o.config(dataDir());
    const connection = { mqttUrl: fleet.t.mqttUrl, credentialsFile: credentials, trustedKeyFiles: [join(fleet.t.dir, 'keys', 'server.pub')], reconnectMinMs: 100 };
    await writeJson(configPath(), { deviceId: o.device, ...rest, deploy: { dataDir: dataDir(), ...deploy }, server: { ...connection, ...server }, registry: base.registryConfig(registry) });
    if (o.startAgent !== false) base.start(configPath());
  }, 30_000);
  return {
    get fleet() {
      return base.fleet;
    },
    get dir() {
      return base.dir;
    },
    get agent() {
      return base.agent;
    },
    registryConfig: base.registryConfig,
    start: base.start,
    get dataDir() {
      return dataDir();
    },
    get configPath() {
      return configPath();
    },
    get credentials() {
      return started(credentials, 'the enrolment');
    },
    reportsAfter,
    lastSeq: () => Math.max(0, ...reportsAfter(0).map((r) => r.seq)),
    waitReport: (after, pred, what, timeoutMs) => eventually(() => reportsAfter(after).find(pred), what, timeoutMs),
  };
}
