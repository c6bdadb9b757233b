/**
 * Child process of the crash-consistency harness
 * (test/integration/crash-consistency.test.ts); not part of the agent.
 *
 *   node dist/scripts/crash-worker.js <treesDir> [<dataDir to recover>]
 *
 * Starts like the agent does (recovery of the given data directory first),
 * prints one JSON line `{"event":"recovered",...}`, then reads JSON lines
 * `{"dir":"<dataDir>","ops":[...]}` from stdin and runs the ops on that data
 * directory: `provision:<v>`, `stage:<v>` (from <treesDir>/<v>),
 * `activate`, `commit`, `rollback`, `factory-reset`, `discard-staged`, or
 * `cycle` (legal actions picked at random, until killed; bounded at 100,000).
 * The harness kills it with SIGKILL, from outside at a random moment or from
 * inside at a named step (BOOTFLEET_CRASH_AT, agent/deploy/crash-point.ts).
 * One process recovers the previous trial's directory and then runs the next
 * trial: Node and its modules load once per kill, not twice.
 */
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { digestOf, isBootfleetError, type AgentState } from '../protocol/index.js';
import { Deployer, directoryStageSource, recover, rootfsBackend, type StageSource } from '../agent/deploy/index.js';

const VERSIONS = ['1.0', '2.0', '3.0'];
const MAX_CYCLES = 100_000;

function sourceFor(treesDir: string, version: string): StageSource {
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, annotations: { version } }));
  return directoryStageSource(join(treesDir, version), { manifestBytes, manifestDigest: digestOf(manifestBytes).value, version });
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) throw new Error('nothing to pick from');
  return item;
}

/** The actions that are legal from `state`, as names `runOp` understands. */
function legalOps(state: AgentState): string[] {
  if (state.probation !== undefined) return ['commit', 'rollback'];
  const ops = VERSIONS.map((v) => `stage:${v}`);
  if (state.staged !== undefined) ops.push('activate', 'activate', 'discard-staged');
  if (state.rollback !== undefined) ops.push('rollback');
  if (state.factory !== undefined && state.factory.id !== state.booted?.id) ops.push('factory-reset');
  return ops;
}

async function runOp(deployer: Deployer, treesDir: string, op: string): Promise<void> {
  const [name, version = ''] = op.split(':');
  switch (name) {
    case 'provision': await deployer.provision(sourceFor(treesDir, version)); return;
    case 'stage': await deployer.stage(sourceFor(treesDir, version)); return;
    case 'activate': await deployer.activate(); return;
    case 'commit': await deployer.commit(); return;
    case 'rollback': await deployer.rollback('crash harness'); return;
    case 'factory-reset': await deployer.factoryReset(); return;
    case 'discard-staged': await deployer.discardStaged(); return;
    case 'cycle':
      for (let i = 0; i < MAX_CYCLES; i += 1) await runOp(deployer, treesDir, pick(legalOps(await deployer.status())));
      return;
    default: throw new Error(`unknown op ${op}`);
  }
}

function deployerFor(dataDir: string): Deployer {
  return new Deployer({ dataDir, backend: rootfsBackend({ dataDir }), healthTimeoutMs: 3_600_000, maxBoots: 100 });
}

async function main(): Promise<void> {
  const [treesDir, recoverDir] = process.argv.slice(2);
  if (treesDir === undefined) throw new Error('usage: crash-worker <treesDir> [<dataDir to recover>]');
  const started = process.hrtime.bigint();
  const result = recoverDir === undefined ? undefined : await recover(deployerFor(recoverDir));
  emit({ event: 'recovered', outcome: result?.outcome ?? 'none', ms: Number(process.hrtime.bigint() - started) / 1e6, uptimeMs: Math.round(process.uptime() * 1000) });
  for await (const line of createInterface({ input: process.stdin })) {
    const { dir, ops } = JSON.parse(line) as { dir: string; ops: string[] };
    try {
      const deployer = deployerFor(dir);
      for (const op of ops) await runOp(deployer, treesDir, op);
      emit({ event: 'done' });
    } catch (error) {
      emit({ event: 'error', code: isBootfleetError(error) ? error.code : 'INTERNAL', message: error instanceof Error ? error.message : String(error) });
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
