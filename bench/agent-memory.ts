/**
 * The agent's memory figures (issues #4 and #5, target < 80 MB), each next to
 * a bare Node process started with the same flags in the same run:
 *   - peak RSS of `bootfleet agent pull` of a large layer, and of `agent unpack`;
 *   - the idle CLI (`agent inventory`): what loading Node and our modules costs;
 *   - the daemon (`agent run`, managed mode, connected to a broker, idle).
 * The agent runs as the systemd unit runs it: the bundle (dist/bundle/main.js,
 * scripts/bundle.ts) with AGENT_NODE_FLAGS. The same figures for tsc's
 * module-per-file output (dist/cli/main.js, what shipped before the bundle)
 * are taken in the same run; the pull and unpack are also measured with
 * node's defaults, to show what the flags do.
 * Each figure is one fresh child process; CLI figures are its maxRSS, the
 * daemon's are /proc/<pid>/status (VmHWM, VmRSS) after it has idled.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { MediaType, parseImageManifest, parseImageReference, referenceTarget, signDeviceMessage, type DesiredState } from '../protocol/index.js';
import { eventually, startFleet, writeJson, type Fleet } from '../test/helpers/agent-daemon.js';
import { TOKENS } from '../test/helpers/server.js';
import { result, type BenchResult } from './harness.js';
import { readUnit, unitLaunch } from './lib/unit-launch.js';

/** How deploy/systemd/bootfleet-agent.service starts node (bench/lib/unit-launch.ts). */
const AGENT_UNIT = unitLaunch(readUnit('bootfleet-agent.service'));
export const AGENT_NODE_FLAGS: readonly string[] = AGENT_UNIT.flags;
/** The unit's environment (MALLOC_ARENA_MAX=1), given to the agent and to the bare node it is compared with. */
export const AGENT_ENV: Readonly<Record<string, string>> = AGENT_UNIT.env;

const TARGET_NOTE = 'target < 80 MB';
/** The shipped executable, the bundle next to this built script (dist/bundle/main.js). */
export const CLI = new URL('../bundle/main.js', import.meta.url).pathname;
/** tsc's output of the same entry (dist/cli/main.js): about 900 ES modules, the before figure. */
export const TSC_CLI = new URL('../cli/main.js', import.meta.url).pathname;
/** How long the daemon idles, connected, before its memory is read (3_000 ms). */
const DAEMON_IDLE_MS = 3_000;

export interface ProbeReport {
  readonly peakRssKiB: number;
  readonly peakMiB: Record<string, number>;
  readonly atPeakRssMiB: Record<string, number>;
}

/** Runs bench/rss-probe.js (`<entry> <bootfleet args>`, or `--bare`) in a fresh node and returns its report. */
export async function probe(args: readonly string[], nodeFlags: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<ProbeReport> {
  const script = new URL('./rss-probe.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [...nodeFlags, script, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`probe ${args.join(' ')} failed (${String(code)}): ${err}`);
  return JSON.parse(err.trim().split('\n').at(-1) ?? '{}') as ProbeReport;
}

function mib(report: ProbeReport): number {
  return Math.round((report.peakRssKiB / 1024) * 10) / 10;
}

function show(name: string, report: ProbeReport, bare: number): void {
  const at = report.atPeakRssMiB;
  console.log(
    `${name.padEnd(44)} ${mib(report).toFixed(1).padStart(7)} MiB  x${(mib(report) / bare).toFixed(2)} bare` +
      `  (at peak: heap ${String(at.heapTotal)} / used ${String(at.heapUsed)}, external ${String(at.external)}, arrayBuffers ${String(at.arrayBuffers)};` +
      ` peaks: external ${String(report.peakMiB.external)}, arrayBuffers ${String(report.peakMiB.arrayBuffers)})`,
  );
}

async function procStatusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (match === null) throw new Error(`no ${field} for ${pid}`);
  return Number(match[1]);
}

/** `bootfleet agent enroll`, as a device does; returns the credentials file. */
async function enroll(fleet: Fleet, deviceId: string, dir: string): Promise<string> {
  const tokenFile = join(dir, 'enroll.token');
  await writeFile(tokenFile, TOKENS.enrollment, { mode: 0o600 });
  const out = join(dir, 'credentials.json');
  const child = spawn(process.execPath, [CLI, 'agent', 'enroll', '--server', fleet.t.url, '--token-file', tokenFile, '--device-id', deviceId, '--out', out], { stdio: 'ignore' });
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`agent enroll failed with ${String(code)}`);
  return out;
}

/** Enrols device `bench-dev` with `fleet` and writes a managed-mode agent configuration under `work` (with `extra` settings); returns its path. */
export async function managedAgentConfig(fleet: Fleet, work: string, extra: Record<string, unknown> = {}): Promise<string> {
  const dir = await mkdtemp(join(work, 'daemon-'));
  const credentials = await enroll(fleet, 'bench-dev', dir);
  const config = join(dir, 'agent.json');
  await writeJson(config, {
    deviceId: 'bench-dev',
    deploy: { dataDir: join(dir, 'agent') },
    server: { mqttUrl: fleet.t.mqttUrl, credentialsFile: credentials, trustedKeyFiles: [join(fleet.t.dir, 'keys', 'server.pub')] },
    ...extra,
  });
  return config;
}

/** Samples a process's VmHWM every 25 ms until `done` settles; returns the highest, MiB (one decimal). */
async function peakWhile(pid: number, done: Promise<unknown>): Promise<number> {
  let peakKiB = 0;
  const timer = setInterval(() => {
    procStatusKiB(pid, 'VmHWM').then(
      (kib) => (peakKiB = Math.max(peakKiB, kib)),
      () => undefined, // the process has just exited
    );
  }, 25);
  try {
    await done;
  } finally {
    clearInterval(timer);
  }
  peakKiB = Math.max(peakKiB, await procStatusKiB(pid, 'VmHWM').catch(() => 0));
  return Math.round((peakKiB / 1024) * 10) / 10;
}

/** The desired state a campaign would sign for `image` (`host:port/repo:tag` on a plain-HTTP registry), every layer missing. */
async function desiredStateFor(image: string, device: string): Promise<DesiredState> {
  const ref = parseImageReference(image);
  const res = await fetch(`http://${ref.registry}/v2/${ref.name}/manifests/${referenceTarget(ref)}`, { headers: { accept: MediaType.ociManifest } });
  const bytes = Buffer.from(await res.arrayBuffer());
  const manifest = parseImageManifest(bytes);
  const now = Math.floor(Date.now() / 1000);
  return {
    device,
    seq: 1,
    issuedAt: now - 10,
    expiresAt: now + 3600,
    campaign: 'bench-memory',
    image: { registry: ref.registry, repository: ref.name, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length, mediaType: MediaType.ociManifest, version: '1.0' },
    layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, missing: true })),
    policy: { downloadOnly: false, allowDowngrade: false, healthTimeoutSeconds: 60 },
  };
}

interface DaemonLaunch {
  readonly flags: readonly string[];
  readonly cli: string;
  readonly env: Readonly<Record<string, string>>;
  /** More agent configuration (e.g. `registry`). */
  readonly extra?: Record<string, unknown>;
}

/**
 * Starts a real bootfleet server (embedded broker) and the managed daemon
 * enrolled with it, waits until the daemon is connected, runs `use` with them
 * (`output` is the daemon's stdout so far), then stops both.
 */
async function withConnectedDaemon<T>(work: string, launch: DaemonLaunch, use: (fleet: Fleet, pid: number, output: () => string) => Promise<T>): Promise<T> {
  const fleet = await startFleet();
  try {
    const config = await managedAgentConfig(fleet, work, launch.extra);
    const child = spawn(process.execPath, [...launch.flags, launch.cli, 'agent', 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...launch.env } });
    try {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.stderr.resume();
      await eventually(() => (out.includes('"mqtt-connected"') ? true : undefined), 'the daemon to connect', 20_000);
      return await use(fleet, child.pid ?? 0, () => out);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
  } finally {
    await fleet.t.destroy();
  }
}

/**
 * A whole update by the managed daemon, as `bootfleet-agent.service` runs it:
 * connected to a real server (embedded broker), it gets a signed desired
 * state for `image`, pulls, unpacks, activates and commits it. Its VmHWM from
 * start-up to the `succeeded` report: idle code, MQTT client and the update.
 */
export function managedUpdatePeak(work: string, image: string): Promise<number> {
  const launch = { flags: AGENT_NODE_FLAGS, cli: CLI, env: AGENT_ENV, extra: { registry: { plainHttp: true } } };
  return withConnectedDaemon(work, launch, async (fleet, pid, output) => {
    const desired = await desiredStateFor(image, 'bench-dev');
    await fleet.t.server.control.plane.publish('bootfleet/v1/devices/bench-dev/desired', JSON.stringify(signDeviceMessage('desired-state', desired, fleet.key)), { qos: 1, retain: true });
    const finished = eventually(() => /"phase":"(succeeded|failed|rolled-back)"/.exec(output())?.[1], 'the update to finish', 600_000);
    const peak = await peakWhile(pid, finished);
    const phase = await finished;
    if (phase !== 'succeeded') throw new Error(`the managed update ended ${phase}: ${output().slice(-2000)}`);
    return peak;
  });
}

/** The daemon in managed mode against a real bootfleet server (embedded broker), connected and idle. */
export function daemonIdle(work: string, nodeFlags: readonly string[], cli: string = CLI, env: Readonly<Record<string, string>> = {}): Promise<{ hwmMiB: number; rssMiB: number }> {
  return withConnectedDaemon(work, { flags: nodeFlags, cli, env }, async (_fleet, pid) => {
    await new Promise((resolve) => setTimeout(resolve, DAEMON_IDLE_MS));
    return { hwmMiB: (await procStatusKiB(pid, 'VmHWM')) / 1024, rssMiB: (await procStatusKiB(pid, 'VmRSS')) / 1024 };
  });
}

/**
 * A whole update in one agent process, as the timer unit runs it: `agent run
 * --once` in autonomous mode pulls the image, unpacks it, activates and
 * commits it, then exits. Its VmHWM is read from /proc every 25 ms while it
 * runs (the last read is within 25 ms of the exit; what comes after the
 * unpack, the activation and the commit, is small).
 */
export async function fullUpdatePeak(work: string, image: string, entry: string = CLI): Promise<number> {
  const dataDir = await mkdtemp(join(work, 'rss-update-'));
  const config = `${dataDir}.json`;
  await writeJson(config, { deviceId: 'bench-update', deploy: { dataDir }, registry: { plainHttp: true }, autonomous: { image } });
  const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, entry, 'agent', 'run', '--once', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...AGENT_ENV },
  });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const closed = once(child, 'close') as Promise<[number | null]>;
  const peak = await peakWhile(child.pid ?? 0, closed);
  const [code] = await closed;
  if (code !== 0) throw new Error(`agent run --once failed (${String(code)}): ${err.slice(-2000)}`);
  return peak;
}

export interface MemoryBenchInput {
  readonly work: string;
  /** `host:port/repo:tag` of an image with one large gzip layer. */
  readonly image: string;
  readonly layerMb: number;
}

interface Figures {
  readonly work: string;
  readonly image: string;
  readonly layerMb: number;
  readonly add: (name: string, report: ProbeReport, base: number, baseName: string, note: string) => void;
  readonly bare: number;
  readonly bareName: string;
}

/** Idle CLI, pull and unpack of the large layer, with the unit's flags, for one entry; `tag` names the entry in each figure. */
async function cliFigures(f: Figures, entry: string, tag: string, dirs: string): Promise<void> {
  const dataDir = join(f.work, `rss-agent${dirs}`);
  const note = tag === '' ? TARGET_NOTE : `${TARGET_NOTE}; before the bundle, for comparison`;
  f.add(`peak RSS, idle CLI (agent inventory)${tag}`, await probe([entry, 'agent', 'inventory', '--data-dir', join(f.work, `rss-idle${dirs}`)], AGENT_NODE_FLAGS, AGENT_ENV), f.bare, f.bareName, `${note}; Node + protocol + content code, no data moved`);
  f.add(`peak RSS, agent pull of a ${String(f.layerMb)} MB layer${tag}`, await probe([entry, 'agent', 'pull', f.image, '--data-dir', dataDir, '--json'], AGENT_NODE_FLAGS, AGENT_ENV), f.bare, f.bareName, note);
  f.add(`peak RSS, agent unpack of a ${String(f.layerMb)} MB layer${tag}`, await probe([entry, 'agent', 'unpack', f.image, '--data-dir', dataDir, '--dest', join(f.work, `rss-root${dirs}`)], AGENT_NODE_FLAGS, AGENT_ENV), f.bare, f.bareName, note);
}

/** Runs every memory figure; prints them and returns them as BenchResults. */
export async function benchMemory(input: MemoryBenchInput): Promise<BenchResult[]> {
  const { work, image, layerMb } = input;
  const results: BenchResult[] = [];
  const bare = mib(await probe(['--bare'], AGENT_NODE_FLAGS, AGENT_ENV));
  const bareDefault = mib(await probe(['--bare'], []));
  const unit = [...Object.entries(AGENT_ENV).map(([name, value]) => `${name}=${value}`), ...AGENT_NODE_FLAGS].join(' ');
  console.log(`bare node process: ${String(bare)} MiB with ${unit}, ${String(bareDefault)} MiB with node's defaults`);
  const add = (name: string, report: ProbeReport, base: number, baseName: string, note: string): void => {
    show(name, report, base);
    results.push(result(name, mib(report), 'MiB', baseName, base, false, note));
  };
  const bareName = `bare node (${unit})`;
  const figures: Figures = { work, image, layerMb, add, bare, bareName };
  await cliFigures(figures, CLI, '', '');
  await cliFigures(figures, TSC_CLI, ', tsc output', '-tsc');
  const update = await fullUpdatePeak(work, image);
  console.log(`agent run --once, a full update (pull, unpack, activate, commit): VmHWM ${update.toFixed(1)} MiB  x${(update / bare).toFixed(2)} bare`);
  results.push(result(`peak RSS, a full update by the agent (agent run --once, autonomous, ${String(layerMb)} MB layer)`, update, 'MiB', bareName, bare, false, `${TARGET_NOTE}; the timer unit's process: pull, unpack, activate, commit`));
  const managed = await managedUpdatePeak(work, image);
  console.log(`agent run, managed, a full update from a signed desired state: VmHWM ${managed.toFixed(1)} MiB  x${(managed / bare).toFixed(2)} bare`);
  results.push(result(`peak RSS, a full update by the managed daemon (agent run, ${String(layerMb)} MB layer)`, managed, 'MiB', bareName, bare, false, `${TARGET_NOTE}; the daemon unit's process from start-up: MQTT session, signed desired state, pull, unpack, activate, commit`));
  // The same two without the unit's flags: what they buy.
  const defaults = 'bare node (defaults)';
  const dataDir = join(work, 'rss-agent');
  add(`peak RSS, agent pull, node defaults`, await probe([CLI, 'agent', 'pull', image, '--data-dir', join(work, 'rss-agent-2'), '--json'], []), bareDefault, defaults, 'without the unit flags, for comparison');
  add(`peak RSS, agent unpack, node defaults`, await probe([CLI, 'agent', 'unpack', image, '--data-dir', dataDir, '--dest', join(work, 'rss-root-2')], []), bareDefault, defaults, 'without the unit flags, for comparison');
  const daemons = [
    [AGENT_NODE_FLAGS, AGENT_ENV, CLI, bare, bareName, '', `${TARGET_NOTE}; VmHWM after start-up and ${String(DAEMON_IDLE_MS)} ms idle`],
    [AGENT_NODE_FLAGS, AGENT_ENV, TSC_CLI, bare, bareName, ', tsc output', `${TARGET_NOTE}; before the bundle, for comparison`],
    [[], {}, CLI, bareDefault, defaults, ', node defaults', 'without the unit flags, for comparison'],
  ] as const;
  for (const [flags, env, entry, base, baseName, suffix, note] of daemons) {
    const daemon = await daemonIdle(work, flags, entry, env);
    console.log(`daemon idle${suffix} (managed, connected): VmRSS ${daemon.rssMiB.toFixed(1)} MiB, VmHWM ${daemon.hwmMiB.toFixed(1)} MiB  x${(daemon.hwmMiB / base).toFixed(2)} bare`);
    results.push(result(`peak RSS, daemon idle (agent run, managed, connected)${suffix}`, Math.round(daemon.hwmMiB * 10) / 10, 'MiB', baseName, base, false, note));
  }
  await writeFile(join(work, 'memory.json'), JSON.stringify(results));
  return results;
}
