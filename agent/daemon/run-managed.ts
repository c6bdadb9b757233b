/**
 * Managed mode's wiring: the MQTT session, the reporter publishing on
 * `.../reports`, and the agent handling desired states and commands.
 */
import { TrustedKeys } from '../../protocol/index.js';
import { ManagedAgent } from '../managed/managed-agent.js';
import { MqttSession } from '../managed/mqtt-session.js';
import { AuditSync } from './audit-sync.js';
import type { AgentConfig } from './config.js';
import type { DaemonLog } from './log.js';
import { readDeviceCredentials } from './credentials.js';
import { Reporter } from './reporter.js';
import { ReportSequence } from './report-seq.js';
import { PipelineFactory, type RunOptions } from './run.js';

/** How often unsent audit entries are looked for (30_000 ms); they also ride on every phase report. */
const DEFAULT_AUDIT_SYNC_INTERVAL_MS = 30_000;
/** docs/agent-daemon.md, "Reports while offline": the last report again every 10 minutes. */
const DEFAULT_REPORT_INTERVAL_MS = 600_000;

export async function runManagedAgent(config: AgentConfig, options: RunOptions): Promise<void> {
  const server = config.server;
  if (server === undefined) return;
  const credentials = await readDeviceCredentials(server.credentialsFile);
  const keys = await TrustedKeys.fromFiles(server.trustedKeyFiles);
  const factory = await PipelineFactory.open(config, options.log, options.signal, credentials);
  // The session delivers messages to the agent, which reports through the session: one is made first.
  const agentRef: { current?: ManagedAgent } = {};
  const reporterRef: { current?: Reporter } = {};
  const session = new MqttSession({
    url: server.mqttUrl,
    deviceId: config.deviceId,
    username: credentials.username,
    password: credentials.password,
    ...(server.reconnectMinMs === undefined ? {} : { reconnectMinMs: server.reconnectMinMs }),
    ...(server.reconnectMaxMs === undefined ? {} : { reconnectMaxMs: server.reconnectMaxMs }),
    log: options.log,
    onMessage: (kind, payload) => {
      agentRef.current?.onMessage(kind, payload);
    },
    // Reports published while the broker was away can be lost (test/integration/e2e-embedded.test.ts found a
    // success report that never reached a restarted server): say where the device stands again, with a new seq.
    onReconnected: () => {
      options.log('report-again', { phase: reporterRef.current?.lastPhase ?? 'idle' });
      void reporterRef.current?.report(reporterRef.current.lastPhase);
    },
  });
  const audit = new AuditSync(factory.dataDir);
  const reporter = new Reporter({
    device: config.deviceId,
    store: factory.store,
    deployer: factory.contextFor().deployer,
    seq: await ReportSequence.open(factory.dataDir),
    send: async (report) => {
      options.log('report', { seq: report.seq, phase: report.phase, ...(report.error === undefined ? {} : { code: report.error.code }), ...(report.audit === undefined ? {} : { audit: report.audit.length }) });
      return session.publish('reports', JSON.stringify(report));
    },
    audit,
    log: options.log,
    now: Date.now,
    ...(server.progressIntervalMs === undefined ? {} : { progressIntervalMs: server.progressIntervalMs }),
  });
  reporterRef.current = reporter;
  factory.sink = reporter.sink();
  const agent = new ManagedAgent({
    deviceId: config.deviceId,
    keys,
    reporter,
    log: options.log,
    contextFor: (policy, signal) => factory.contextFor(policy, signal),
    startUp: () => factory.startUp(),
    exclusive: (fn) => factory.gate.run(fn),
  });
  agentRef.current = agent;
  session.start();
  void agent.begin();
  const stopIntegrity = scheduleIntegrity(factory, agent, reporter, options.log);
  const stopAudit = scheduleAuditFlush(session, audit, reporter, server.auditSyncIntervalMs ?? DEFAULT_AUDIT_SYNC_INTERVAL_MS, options.log);
  const reportIntervalMs = server.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS;
  const heartbeat = reportIntervalMs === 0 ? undefined : setInterval(() => void reporter.report(reporter.lastPhase), reportIntervalMs);
  await new Promise<void>((resolve) => {
    if (options.signal.aborted) resolve();
    else options.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  stopIntegrity();
  stopAudit();
  clearInterval(heartbeat);
  await session.stop();
}

/** The periodic runtime-integrity check, queued behind the agent's messages (integrity-monitor.ts). Returns the stop function. */
function scheduleIntegrity(factory: PipelineFactory, agent: ManagedAgent, reporter: Reporter, log: DaemonLog): () => void {
  const integrity = factory.integrityMonitor(log, {
    onAlert: (error) => reporter.report(reporter.lastPhase, { error }),
    onRolledBack: (error) => reporter.report('rolled-back', { error }),
  });
  const timer = setInterval(() => {
    agent.checkIntegrity(() => integrity.monitor.tick());
  }, integrity.intervalMs);
  return () => {
    clearInterval(timer);
  };
}

/**
 * Technician actions happen in other processes (the CLI), also while the server is unreachable: unsent
 * audit entries are looked for periodically and sent with a report of the current phase, one flush at a time.
 */
function scheduleAuditFlush(session: MqttSession, audit: AuditSync, reporter: Reporter, intervalMs: number, log: DaemonLog): () => void {
  let flushing = false;
  const flush = async (): Promise<void> => {
    if (flushing || !session.connected) return;
    flushing = true;
    try {
      if ((await audit.pending()).length > 0) await reporter.report(reporter.lastPhase);
    } catch (error) {
      log('audit-sync-failed', { message: error instanceof Error ? error.message : String(error) });
    } finally {
      flushing = false;
    }
  };
  const timer = setInterval(() => {
    void flush();
  }, intervalMs);
  return () => {
    clearInterval(timer);
  };
}
