/**
 * The demo's fleet: the server as a child process (`bootfleet server start`
 * with a configuration holding free ports and tokens made by
 * `bootfleet server token`), and agents as child processes, each enrolled
 * with `bootfleet agent enroll` and run with `bootfleet agent run --config`.
 */
import { writeFile } from 'node:fs/promises';
import { freePort } from '../lib/free-port.js';
import { join } from 'node:path';
import type { Child, Supervisor } from './processes.js';
import { waitFor } from './processes.js';
import type { Timeline } from './timeline.js';

export interface DemoServer {
  readonly configPath: string;
  readonly url: string;
  readonly mqttUrl: string;
  readonly host: string;
  readonly dataDir: string;
  readonly adminToken: string;
  readonly adminTokenFile: string;
  readonly enrollTokenFile: string;
  readonly child: Child;
}


interface MadeToken {
  readonly token: string;
  readonly auth: Record<string, unknown[]>;
}

async function makeToken(sup: Supervisor, args: readonly string[]): Promise<MadeToken> {
  const { stdout } = await sup.run(['server', 'token', ...args]);
  return JSON.parse(stdout) as MadeToken;
}

/** External-broker mode (docs/control-plane.md): the server's `broker` section and the URL agents connect to. */
export interface ExternalBroker {
  readonly config: Record<string, unknown>;
  readonly url: string;
}

/** Writes the configuration, starts the server and waits for /readyz. Without `external`, the broker is embedded. */
export async function startServer(sup: Supervisor, dir: string, timeline: Timeline, external?: ExternalBroker): Promise<DemoServer> {
  const admin = await makeToken(sup, ['-n', 'demo-admin', '-r', 'admin']);
  const enrol = await makeToken(sup, ['-n', 'demo-fleet', '--enrollment']);
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const dataDir = join(dir, 'server-data');
  const config = join(dir, 'server.json');
  const auth = { apiTokens: admin.auth.apiTokens ?? [], enrollmentTokens: enrol.auth.enrollmentTokens ?? [] };
  const broker = external?.config ?? { mode: 'embedded', tcp: { host: '127.0.0.1', port: mqttPort } };
  const body = { dataDir, http: { host: '127.0.0.1', port: httpPort }, logLevel: 'warn', broker, auth };
  await writeFile(config, `${JSON.stringify(body, null, 2)}\n`);
  const adminTokenFile = join(dir, 'admin.token');
  const enrollTokenFile = join(dir, 'enroll.token');
  await writeFile(adminTokenFile, admin.token, { mode: 0o600 });
  await writeFile(enrollTokenFile, enrol.token, { mode: 0o600 });
  const mqttUrl = external?.url ?? `mqtt://127.0.0.1:${String(mqttPort)}`;
  timeline.log('server', `starting: HTTP API and registry on 127.0.0.1:${String(httpPort)}, ${external === undefined ? 'embedded ' : ''}MQTT broker at ${mqttUrl}`);
  const server = { configPath: config, url: `http://127.0.0.1:${String(httpPort)}`, mqttUrl, host: `127.0.0.1:${String(httpPort)}`, dataDir, adminToken: admin.token, adminTokenFile, enrollTokenFile };
  return runServer(sup, server, timeline);
}

/** Starts (or starts again, after a kill) the server of `server.configPath`, same ports and data; waits for /readyz. */
export async function runServer(sup: Supervisor, server: Omit<DemoServer, 'child'>, timeline: Timeline): Promise<DemoServer> {
  const child = sup.start('server', ['server', 'start', '--config', server.configPath]);
  const url = server.url;
  await waitFor(async () => {
    if (child.exited) throw new Error(`the server exited: ${child.stderr.trim()}`);
    try {
      return (await fetch(`${url}/readyz`)).status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  }, 'the server to be ready');
  timeline.log('server', `ready at ${url} (pid ${String(child.process.pid)})`);
  return { ...server, child };
}

/** Calls the API with the admin token; throws unless the answer is 2xx. */
export async function api(server: DemoServer, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { authorization: `Bearer ${server.adminToken}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (response.status < 200 || response.status > 299) throw new Error(`${method} ${path} answered ${String(response.status)}: ${text.slice(0, 500)}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

export interface DemoAgent {
  readonly id: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly configPath: string;
  child?: Child;
  /** The last lines its agents logged (JSON, newest last): said when a step waiting on it fails. */
  readonly recent: string[];
}

/** Log lines kept per agent for a failure's message. */
const RECENT_LINES = 20;

export interface AgentOptions {
  readonly id: string;
  readonly dir: string;
  /** The health check's command (argv), run during each probation. */
  readonly healthArgv: readonly string[];
  readonly builderPub: string;
  /** The agent's `server.reportIntervalMs` (its default when absent). */
  readonly reportIntervalMs?: number;
}

/** Enrols the device with the CLI and writes its agent configuration. */
export async function prepareAgent(sup: Supervisor, server: DemoServer, o: AgentOptions): Promise<DemoAgent> {
  const credentials = join(o.dir, 'credentials.json');
  await sup.run(['agent', 'enroll', '--server', server.url, '--token-file', server.enrollTokenFile, '--device-id', o.id, '--out', credentials]);
  const dataDir = join(o.dir, 'data');
  const configPath = join(o.dir, 'agent.json');
  const config = {
    deviceId: o.id,
    mode: 'managed',
    deploy: { dataDir, healthChecks: [{ name: 'demo-app', kind: 'command', required: true, timeoutMs: 5_000, argv: o.healthArgv }] },
    server: { mqttUrl: server.mqttUrl, credentialsFile: credentials, trustedKeyFiles: [join(server.dataDir, 'keys', 'server.pub')], reconnectMinMs: 200, progressIntervalMs: 0, ...(o.reportIntervalMs === undefined ? {} : { reportIntervalMs: o.reportIntervalMs }) },
    registry: { plainHttp: true },
    builderKeyFiles: [o.builderPub],
    healthRetryIntervalMs: 250,
  };
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  return { id: o.id, dir: o.dir, dataDir, configPath, recent: [] };
}

/** Starts `bootfleet agent run`; its phase lines go to the timeline. `env` is for test hooks (BOOTFLEET_CRASH_AT). */
export function runAgent(sup: Supervisor, agent: DemoAgent, timeline: Timeline, env?: Readonly<Record<string, string>>): Child {
  const onLine = (line: string): void => {
    agent.recent.push(line.slice(0, 400));
    if (agent.recent.length > RECENT_LINES) agent.recent.shift();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (parsed.event === 'phase' && typeof parsed.phase === 'string') {
      const code = typeof parsed.code === 'string' ? ` (${parsed.code})` : '';
      timeline.log(agent.id, `phase ${parsed.phase}${code}`);
      if (typeof parsed.message === 'string') timeline.log(agent.id, `  why: ${parsed.message.trim().replace(/\s+/g, ' ').slice(0, 240)}`);
    }
  };
  agent.child = sup.start(agent.id, ['agent', 'run', '--config', agent.configPath], onLine, env);
  timeline.log(agent.id, `agent running (bootfleet agent run, pid ${String(agent.child.process.pid)})`);
  return agent.child;
}

