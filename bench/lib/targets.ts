/**
 * The servers compared: bootfleet's registry (the built CLI, its own process),
 * a bare node:http server piping fs.createReadStream (the floor of a Node
 * server), Debian's docker-registry (Distribution 2.8, what users otherwise
 * run) and nginx with sendfile (the ceiling), when installed.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { freePort } from '../../scripts/lib/free-port.js';
import { startProcess, waitForHttp, type Target } from './measure.js';

export interface Running {
  readonly target: Target;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  child.kill('SIGTERM');
  await exited;
}

/** Streams a file as an HTTP request body; resolves with the status. */
async function upload(method: string, url: string, file: string, headers: Record<string, string>): Promise<number> {
  const size = (await stat(file)).size;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, 'content-length': size, 'content-type': 'application/octet-stream' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    pipeline(createReadStream(file), req).catch(reject);
  });
}

/** The floor: node:http piping fs.createReadStream (1 MiB reads), in its own process like every other server. */
const BASELINE_SCRIPT = `
const { createServer } = require('node:http');
const { createReadStream, statSync } = require('node:fs');
const file = process.env.BENCH_FILE;
const size = statSync(file).size;
createServer((req, res) => {
  res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
  createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res);
}).listen(Number(process.env.BENCH_PORT), '127.0.0.1');
`;

export async function startNodeBaseline(file: string): Promise<Running> {
  const port = await freePort();
  const child = startProcess(process.execPath, ['-e', BASELINE_SCRIPT], { BENCH_FILE: file, BENCH_PORT: String(port) });
  const url = `http://127.0.0.1:${port}/blob`;
  await waitForHttp(url);
  return { target: { name: 'node:http + createReadStream', url, headers: [], pid: child.pid }, stop: () => stopChild(child) };
}

export async function startBootfleet(work: string, file: string, digest: string, cliPath: string): Promise<Running> {
  const token = 'bench-operator-token';
  const [port, mqttPort] = [await freePort(), await freePort()];
  const config = join(work, 'bootfleet.json');
  await writeFile(config, JSON.stringify({
    dataDir: join(work, 'bootfleet-data'),
    http: { host: '127.0.0.1', port },
    // A free port, not the default 1883: two runs (or a broker on this machine) must not collide.
    broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: mqttPort } },
    logLevel: 'warn',
    registry: { operatorTokenSha256: [createHash('sha256').update(token).digest('hex')] },
  }));
  const child = startProcess(process.execPath, [cliPath, 'server', 'start', '--config', config]);
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/healthz`);
  const status = await upload('POST', `${base}/v2/bench/blob/blobs/uploads/?digest=${digest}`, file, { authorization: `Bearer ${token}` });
  if (status !== 201) throw new Error(`bootfleet blob push answered ${status}`);
  return {
    target: { name: 'bootfleet registry', url: `${base}/v2/bench/blob/blobs/${digest}`, headers: [`Authorization: Bearer ${token}`], pid: child.pid },
    stop: () => stopChild(child),
  };
}

export async function startDistribution(work: string, file: string, digest: string, binary: string): Promise<Running> {
  const port = await freePort();
  const root = join(work, 'distribution-data');
  await mkdir(root, { recursive: true });
  const config = join(work, 'distribution.yml');
  await writeFile(config, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${root}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = startProcess(binary, ['serve', config]);
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/v2/`);
  const started = await fetch(`${base}/v2/bench/blob/blobs/uploads/`, { method: 'POST' });
  const location = started.headers.get('location') ?? '';
  const putUrl = new URL(location, base);
  putUrl.searchParams.set('digest', digest);
  const status = await upload('PUT', putUrl.toString(), file, {});
  if (status !== 201) throw new Error(`distribution blob push answered ${status}`);
  return {
    target: { name: 'docker-registry (Distribution)', url: `${base}/v2/bench/blob/blobs/${digest}`, headers: [], pid: child.pid },
    stop: () => stopChild(child),
  };
}

export async function startNginx(work: string, binary: string): Promise<Running> {
  const port = await freePort();
  const prefix = join(work, 'nginx');
  await mkdir(join(prefix, 'logs'), { recursive: true });
  const config = join(prefix, 'nginx.conf');
  await writeFile(config, [
    // As root, nginx workers would drop to nobody and could not read the private work directory.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'daemon off;', 'worker_processes auto;', `pid ${prefix}/nginx.pid;`, 'error_log stderr error;',
    'events { worker_connections 1024; }',
    `http { access_log off; sendfile on; tcp_nopush on; client_body_temp_path ${prefix}/tmp;`,
    `  server { listen 127.0.0.1:${port}; root ${work}; } }`, '',
  ].join('\n'));
  const child = startProcess(binary, ['-p', prefix, '-c', config]);
  await waitForHttp(`http://127.0.0.1:${port}/`);
  return {
    target: { name: 'nginx (sendfile)', url: `http://127.0.0.1:${port}/blob.bin`, headers: [], pid: child.pid },
    stop: () => stopChild(child),
  };
}
