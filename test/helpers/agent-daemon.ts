/**
 * A fleet for agent daemon tests: a real bootfleet server (HTTP API, embedded
 * broker, embedded registry) with registry tokens, the reports devices send,
 * images pushed over HTTP, and the agent as a real child process
 * (`node dist/bundle/main.js agent run`, the shipped bundle), whose JSON lines are collected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MediaType, parseReport, readSigningKey, signDeviceMessage, type Command, type DesiredState, type MaintenanceWindow, type Report, type SigningKey } from '../../protocol/index.js';
import { sha256Hex } from '../../server/registry/index.js';
import { CLI_PATH, runCliProcess } from './cli-process.js';
import { blobOf, DEVICE_TOKEN, OPERATOR_TOKEN, pushImage, type Blob } from './registry.js';
import { startTestServer, TOKENS, type TestServer } from './server.js';
import { buildTar } from './tar-build.js';

export interface Fleet {
  readonly t: TestServer;
  /** host:port of the embedded registry (the server's HTTP listener). */
  readonly registry: string;
  readonly key: SigningKey;
  readonly reports: Report[];
}

export async function startFleet(): Promise<Fleet> {
  const t = await startTestServer({}, undefined, {
    registry: { operatorTokenSha256: [sha256Hex(OPERATOR_TOKEN)], deviceTokenSha256: [sha256Hex(DEVICE_TOKEN)] },
  });
  const reports: Report[] = [];
  await t.server.control.plane.onDeviceMessage('bootfleet/v1/devices/+/reports', (_topic, payload) => {
    reports.push(parseReport(payload));
    return Promise.resolve();
  });
  return { t, registry: new URL(t.url).host, key: await readSigningKey(join(t.dir, 'keys', 'server.key')), reports };
}

export interface TestImage {
  readonly manifest: Blob;
  readonly layers: readonly Blob[];
}

/** An uncompressed tar layer holding `files` (paths relative to the root; directories made as needed). */
export function layerOf(files: Record<string, string | Buffer>): Blob {
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return blobOf(buildTar([...[...dirs].sort().map((path) => ({ path, type: 'Directory' as const })), ...Object.entries(files).map(([path, body]) => ({ path, body }))]));
}

export function randomLayer(bytes: number): Blob {
  return layerOf({ 'var/lib/big.bin': randomBytes(bytes) });
}

export async function pushTestImage(fleet: Fleet, repo: string, layers: Blob[], tag?: string): Promise<TestImage> {
  const manifest = await pushImage(fleet.t.url, repo, layers, {}, tag);
  return { manifest, layers };
}

export interface DesiredOptions {
  readonly device: string;
  readonly seq: number;
  readonly version: string;
  readonly repo: string;
  readonly healthTimeoutSeconds?: number;
  readonly nowSeconds?: number;
  readonly key?: SigningKey;
}

export function desiredFor(fleet: Fleet, image: TestImage, o: DesiredOptions): DesiredState {
  const now = o.nowSeconds ?? Math.floor(Date.now() / 1000);
  return {
    device: o.device,
    seq: o.seq,
    issuedAt: now - 10,
    expiresAt: now + 3600,
    campaign: 'test-campaign',
    image: { registry: fleet.registry, repository: o.repo, digest: image.manifest.digest, size: image.manifest.size, mediaType: MediaType.ociManifest, version: o.version },
    layers: image.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: MediaType.ociLayerTar, missing: true })),
    policy: { downloadOnly: false, allowDowngrade: false, healthTimeoutSeconds: o.healthTimeoutSeconds ?? 30 },
  };
}

/** A required health check of an agent config that passes while the file `path` exists (`test -f`). */
export function fileCheck(name: string, path: string, timeoutMs = 2_000): Record<string, unknown> {
  return { name, kind: 'command', required: true, timeoutMs, argv: ['test', '-f', path] };
}

/** Publishes a desired state as the server's campaigns do: signed, retained, QoS 1, on `topicDevice`'s topic (default: its own). */
export async function publishDesired(fleet: Fleet, desired: DesiredState, key: SigningKey = fleet.key, topicDevice = desired.device): Promise<void> {
  const envelope = JSON.stringify(signDeviceMessage('desired-state', desired, key));
  await fleet.t.server.control.plane.publish(`bootfleet/v1/devices/${topicDevice}/desired`, envelope, { qos: 1, retain: true });
}

/** Publishes a command as the server does: signed, QoS 1, not retained, on the command's device's topic. */
export async function publishCommand(fleet: Fleet, command: Command): Promise<void> {
  const envelope = JSON.stringify(signDeviceMessage('command', command, fleet.key));
  await fleet.t.server.control.plane.publish(`bootfleet/v1/devices/${command.device}/commands`, envelope, { qos: 1, retain: false });
}

/** Matches the report that ends the update to desired state `seq`, whatever its outcome. */
export const finished =
  (seq: number) =>
  (r: Report): boolean =>
    r.desiredSeq === seq && ['succeeded', 'rolled-back', 'failed'].includes(r.phase);

/** Enrols through the CLI (`agent enroll`), as a device would; returns the credentials file. */
export async function enrollDevice(fleet: Fleet, deviceId: string, dir: string): Promise<string> {
  const tokenFile = join(dir, 'enroll.token');
  await writeFile(tokenFile, TOKENS.enrollment, { mode: 0o600 });
  const out = join(dir, 'credentials.json');
  const done = await runCliProcess(['agent', 'enroll', '--server', fleet.t.url, '--token-file', tokenFile, '--device-id', deviceId, '--out', out]);
  if (done.code !== 0) throw new Error(`enroll failed: ${done.stderr}`);
  return out;
}

export class AgentProcess {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  readonly child: ChildProcess;
  private buffer = '';

  constructor(configPath: string) {
    this.child = spawn(process.execPath, [CLI_PATH, 'agent', 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      const parts = this.buffer.split('\n');
      this.buffer = parts.pop() ?? '';
      for (const line of parts) if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** SIGKILL (or another signal) and wait for the exit, bounded. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<number | null> {
    if (this.exited) return this.child.exitCode;
    const exit = new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent did not exit within ${timeoutMs} ms`)), timeoutMs);
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    this.child.kill(signal);
    return exit;
  }
}

/** Polls `probe` until it returns a value, bounded in time. */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The file `etc/version` of the tree the `current` link points at. */
export async function currentVersion(dataDir: string): Promise<string | undefined> {
  try {
    const target = await readlink(join(dataDir, 'current'));
    return (await readFile(join(resolve(dataDir, target), 'etc', 'version'), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** A one-minute maintenance window every day, twelve hours after `nowMs` (UTC): closed all through a test. */
export function closedWindow(nowMs = Date.now()): MaintenanceWindow {
  const start = new Date(nowMs + 12 * 3600 * 1000);
  const hhmm = `${String(start.getUTCHours()).padStart(2, '0')}:${String(start.getUTCMinutes()).padStart(2, '0')}`;
  return { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: hhmm, durationMinutes: 1, timeZone: 'UTC' };
}

/** Waits (bounded) until the tree the `current` link of `dataDir` points at is `version`. */
export async function waitForVersion(dataDir: string, version: string, what: string): Promise<void> {
  await eventually(async () => ((await currentVersion(dataDir)) === version ? true : undefined), what);
}

/** The `autonomous` section of an agent config tracking `image`, polled every 0.3 s (jitter 0.1 s) so that a push is seen at once. */
export function tracking(image: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { image, pollIntervalSeconds: 0.3, jitterSeconds: 0.1, ...extra };
}

export function writeJson(path: string, value: unknown): Promise<void> {
  return writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}
