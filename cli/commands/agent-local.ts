/**
 * Field-technician commands of `bootfleet agent`, working on the device with
 * no server and no network: status, rollback, factory reset, history. Each
 * action first finishes or undoes an interrupted transition (recovery), and
 * is appended to the audit log (`<data>/audit.jsonl`), whether it succeeded
 * or was refused, for the server to receive when it is next reachable.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { BootfleetError, isBootfleetError, type AgentState, type DeploymentRef, type Probation } from '../../protocol/index.js';
import {
  appendAudit,
  dataLockHolder,
  deployerFor,
  readAudit,
  readDeployConfig,
  recover,
  verifyDeployment,
  type DeployConfig,
  type Deployer,
  type LockHolder,
} from '../../agent/deploy/index.js';
import { readAttemptRecord, type AttemptRecord } from '../../agent/pipeline/attempts.js';
import type { CliIo } from '../io.js';
import { asTechnician, withWaitOption, type WaitOption } from './agent-lock.js';

export interface LocalOptions {
  config?: string;
  dataDir?: string;
  json?: boolean;
}

export async function loadDeployer(opts: LocalOptions): Promise<Deployer> {
  const config: DeployConfig = opts.config === undefined ? {} : await readDeployConfig(opts.config);
  return deployerFor({ ...config, ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }) });
}

export function withCommonOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'agent configuration file (JSON; its "deploy" section)')
    .option('-d, --data-dir <dir>', 'agent data directory (default /var/lib/bootfleet-agent)');
}

/** bootc-like status (`bootc status --format=json`): slots, probation, and what the backend points at. */
export async function agentStatus(deployer: Deployer): Promise<Record<string, unknown>> {
  const state = await deployer.status();
  const slot = (ref: DeploymentRef | undefined) => ref ?? null;
  return {
    apiVersion: 'bootfleet.dev/v1',
    kind: 'AgentStatus',
    backend: deployer.backend.name,
    current: (await deployer.backend.current()) ?? null,
    booted: slot(state.booted),
    staged: slot(state.staged),
    rollback: slot(state.rollback),
    factory: slot(state.factory),
    probation: state.probation ?? null,
    pending: state.pending ?? null,
    attempts: (await readAttemptRecord(deployer.dataDir)) ?? null,
    lastDesiredSeq: state.lastDesiredSeq ?? null,
    lastCommandSeq: state.lastCommandSeq ?? null,
    /** Who holds the data directory's lock now (the daemon at work, a technician command), if anyone. */
    lock: (await dataLockHolder(deployer.dataDir)) ?? null,
  };
}

export function readable(status: Record<string, unknown>): string {
  const line = (name: string, ref: unknown) => {
    const r = ref as DeploymentRef | null;
    return `${`${name}:`.padEnd(10)}${r === null ? '-' : `${r.version}  ${r.id}  ${r.manifestDigest}`}\n`;
  };
  const probation = status.probation as Probation | null;
  const onProbation = probation === null ? '' : `probation: ${probation.cause}, until ${new Date(probation.deadlineMs).toISOString()}, start ${probation.boots} of ${probation.maxBoots}${soakNote(probation)}\n`;
  const attempts = status.attempts as AttemptRecord | null;
  const failed = attempts === null ? '' : `failed:   ${attempts.digest} ${attempts.failures} time(s), last ${attempts.lastCode ?? '-'}\n`;
  const lock = status.lock as LockHolder | null;
  const locked = lock === null ? '' : `busy:     ${lock.owner} (pid ${lock.pid}) since ${new Date(lock.atMs).toISOString()}\n`;
  return ['booted', 'staged', 'rollback', 'factory'].map((s) => line(s, status[s])).join('') + onProbation + failed + locked + `backend:  ${String(status.backend)}\n`;
}

function soakNote(probation: Probation): string {
  if (probation.soakMs === undefined) return '';
  if (probation.soakStartedAtMs === undefined) return `, soak ${probation.soakMs / 1000} s once healthy`;
  return `, soaking until ${new Date(probation.soakStartedAtMs + probation.soakMs).toISOString()}`;
}

function technician(): string | undefined {
  try {
    return userInfo().username.slice(0, 64);
  } catch {
    return undefined;
  }
}

/**
 * Runs a local action holding the data directory's lock (so that it never interleaves with the daemon's
 * transitions), with recovery first and an audit line either way, a lock not obtained in time included.
 */
export async function audited(deployer: Deployer, action: string, run: () => Promise<AgentState>, waitSeconds?: number): Promise<AgentState> {
  const user = technician();
  const base = { atMs: Date.now(), actor: 'local-cli' as const, action, ...(user === undefined ? {} : { user }) };
  const write = async (error: unknown, from?: string) => {
    const code = error instanceof BootfleetError ? error.code : 'BOOTFLEET_INTERNAL';
    const result = code === 'BOOTFLEET_TRANSITION_INVALID' || code === 'BOOTFLEET_AGENT_BUSY' ? 'refused' : 'failed';
    await appendAudit(deployer.dataDir, { ...base, ...(from === undefined ? {} : { from }), result, code, reason: (error instanceof Error ? error.message : String(error)).slice(0, 1024) });
  };
  const audit = { written: false };
  try {
    return await asTechnician(deployer.dataDir, action, waitSeconds, async () => {
      await recover(deployer);
      const from = (await deployer.status()).booted?.id;
      try {
        const after = await run();
        await appendAudit(deployer.dataDir, { ...base, ...(from === undefined ? {} : { from }), result: 'ok', ...(after.booted === undefined ? {} : { to: after.booted.id }) });
        return after;
      } catch (error) {
        audit.written = true;
        await write(error, from);
        throw error;
      }
    });
  } catch (error) {
    // Not written yet: the lock was not obtained in time, or recovery failed.
    if (!audit.written) await write(error);
    throw error;
  }
}

export function addLocalAgentCommands(agent: Command, io: CliIo): void {
  withCommonOptions(agent.command('status').description('show the booted, staged, rollback and factory deployments (offline)'))
    .option('--json', 'print JSON (like `bootc status --format=json`)')
    .action(async (opts: LocalOptions) => {
      const status = await agentStatus(await loadDeployer(opts));
      io.out(opts.json === true ? `${JSON.stringify(status, null, 2)}\n` : readable(status));
    });

  withWaitOption(withCommonOptions(agent.command('rollback').description('go back to the rollback deployment (or, on probation, the one booted before); audited')))
    .option('-r, --reason <text>', 'why, for the audit log and history')
    .action(async (opts: LocalOptions & WaitOption & { reason?: string }) => {
      const deployer = await loadDeployer(opts);
      await audited(deployer, 'rollback', () => deployer.rollback(opts.reason ?? 'technician rollback'), opts.wait);
      io.out(`${JSON.stringify(await agentStatus(deployer), null, 2)}\n`);
    });

  withWaitOption(withCommonOptions(agent.command('factory-reset').description('boot the factory image; reversible with `rollback` until it is committed; audited'))).action(
    async (opts: LocalOptions & WaitOption) => {
      const deployer = await loadDeployer(opts);
      await audited(deployer, 'factory-reset', () => deployer.factoryReset(), opts.wait);
      io.out(`${JSON.stringify(await agentStatus(deployer), null, 2)}\n`);
    },
  );

  withCommonOptions(agent.command('verify').description('recompute the tree digest of every kept deployment and compare it with the one recorded at staging; audited')).action(
    async (opts: LocalOptions) => {
      const deployer = await loadDeployer(opts);
      const results = await verifySlots(deployer);
      for (const result of results) io.out(`${JSON.stringify(result)}\n`);
      const altered = results.filter((r) => !r.ok);
      const first = altered[0];
      await appendAudit(deployer.dataDir, {
        atMs: Date.now(),
        actor: 'local-cli',
        action: 'verify',
        result: first === undefined ? 'ok' : 'failed',
        ...(first === undefined ? {} : { code: 'BOOTFLEET_DEPLOYMENT_INCOMPLETE', reason: `altered: ${altered.map((r) => `${r.slot} ${r.id}`).join(', ')}`.slice(0, 1024) }),
      });
      if (first !== undefined) {
        throw new BootfleetError('BOOTFLEET_DEPLOYMENT_INCOMPLETE', `${altered.length} deployment(s) differ from what was staged, first: ${first.slot} ${first.id}`, { details: { altered } });
      }
    },
  );

  withCommonOptions(agent.command('history').description('print the transition history and the local audit log as JSON lines')).action(async (opts: LocalOptions) => {
    const deployer = await loadDeployer(opts);
    for (const entry of (await deployer.status()).history) io.out(`${JSON.stringify({ kind: 'transition', ...entry })}\n`);
    const audit = await readAudit(deployer.dataDir);
    for (const entry of audit.entries) io.out(`${JSON.stringify({ kind: 'audit', ...entry })}\n`);
    if (audit.unreadable > 0) io.err(`bootfleet: ${audit.unreadable} unreadable audit line(s) skipped\n`);
  });
}

interface SlotCheck {
  readonly slot: string;
  readonly id: string;
  readonly version: string;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

/** Runtime integrity: every deployment a slot keeps, recomputed from disk. */
async function verifySlots(deployer: Deployer): Promise<SlotCheck[]> {
  const state = await deployer.status();
  const slots: [string, DeploymentRef | undefined][] = [
    ['booted', state.booted],
    ['staged', state.staged],
    ['rollback', state.rollback],
    ['factory', state.factory],
    ['probation.previous', state.probation?.previous],
  ];
  const results: SlotCheck[] = [];
  for (const [slot, ref] of slots) {
    if (ref === undefined) continue;
    try {
      await verifyDeployment(deployer.dataDir, ref);
      results.push({ slot, id: ref.id, version: ref.version, ok: true });
    } catch (error) {
      if (!isBootfleetError(error, 'BOOTFLEET_DEPLOYMENT_INCOMPLETE')) throw error;
      results.push({ slot, id: ref.id, version: ref.version, ok: false, code: error.code, message: error.message });
    }
  }
  return results;
}
