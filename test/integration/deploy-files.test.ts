/**
 * What can be checked of deploy/ without building an image (no network
 * here, no podman): every COPY source of each Containerfile exists in the
 * build context (the repository root), the build stage copies every source
 * tsconfig.build.json compiles and those copies alone type-check, the units
 * and the server image start the bundle package.json ships and the images copy
 * it, the units enabled are the ones copied, the configurations baked in parse with the real
 * parsers, the HEALTHCHECK's route answers 200 and the ports match EXPOSE,
 * and the server image runs node with the unit's flags and environment.
 * The units themselves: systemd-units.test.ts (`systemd-analyze verify`).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../agent/daemon/config.js';
import { loadServerConfig } from '../../server/config.js';
import { readUnit, unitLaunch } from '../../bench/lib/unit-launch.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONTAINERFILES = ['deploy/container/Containerfile', 'deploy/bootc/Containerfile'];

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly stage: number;
}

/** Instructions with continuation lines joined and comments dropped; `stage` counts FROM lines. */
function instructions(file: string): Instruction[] {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/\\\n/g, ' ');
  let stage = -1;
  const out: Instruction[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const [op = '', ...rest] = line.split(/\s+/);
    if (op.toUpperCase() === 'FROM') stage += 1;
    out.push({ op: op.toUpperCase(), args: rest.join(' '), stage });
  }
  return out;
}

/** Sources of COPY/ADD from the build context (not `--from=` another stage). */
function contextSources(list: readonly Instruction[], stage?: number): string[] {
  return list
    .filter((i) => (i.op === 'COPY' || i.op === 'ADD') && !i.args.includes('--from=') && (stage === undefined || i.stage === stage))
    .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
}

describe('deploy/ container files', () => {
  let server: TestServer | undefined;
  afterAll(async () => {
    await server?.destroy();
  });

  it.each(CONTAINERFILES)('%s copies only files that exist in the build context', (file) => {
    for (const source of contextSources(instructions(file))) {
      // A glob (the fleet's keys) is filled in by the operator: its directory must exist.
      const path = source.includes('*') ? dirname(source) : source;
      expect(existsSync(join(ROOT, path)), `${file}: COPY ${source}`).toBe(true);
    }
  });

  it.each(CONTAINERFILES)('%s builds every source tsconfig.build.json compiles', (file) => {
    const include = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
    expect(contextSources(instructions(file), 0)).toEqual(expect.arrayContaining([...include, 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']));
  });

  it('the build stage type-checks with only what it copies', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bootfleet-build-context-'));
    try {
      for (const source of contextSources(instructions('deploy/container/Containerfile'), 0)) await cp(join(ROOT, source), join(dir, source), { recursive: true });
      await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      await expect(promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noEmit'], { cwd: dir, timeout: 150_000 })).resolves.toBeDefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('the units and the server image start the executable package.json ships (the bundle), and the images copy it', () => {
    const bin = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin.bootfleet ?? '';
    expect(bin).toBe('dist/bundle/main.js');
    for (const unit of ['bootfleet-agent.service', 'bootfleet-agent-update.service', 'bootfleet-server.service']) {
      const execStart = /^ExecStart=(.*)$/m.exec(readFileSync(join(ROOT, 'deploy/systemd', unit), 'utf8'))?.[1] ?? '';
      expect(execStart.split(/\s+/), unit).toContain(`/opt/bootfleet/${bin}`);
    }
    const entrypoint = instructions('deploy/container/Containerfile').find((i) => i.op === 'ENTRYPOINT')?.args ?? '';
    expect(JSON.parse(entrypoint) as string[]).toContain(`/opt/bootfleet/${bin}`);
    for (const file of CONTAINERFILES) {
      const fromBuild = instructions(file).filter((i) => i.op === 'COPY' && i.args.includes('--from=build'));
      expect(fromBuild.map((i) => i.args.split(/\s+/)[1]), file).toContain(`/src/${dirname(bin)}`);
    }
  });

  it('the server image: its configuration parses, listens on the exposed ports, and its health check route answers', async () => {
    const list = instructions('deploy/container/Containerfile');
    const config = await loadServerConfig(join(ROOT, 'deploy/container/server.json'));
    const exposed = list.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
    expect(config.http.host).toBe('0.0.0.0');
    expect(exposed).toContain(config.http.port);
    expect(exposed).toContain(config.broker?.tcp?.port);
    expect(list.find((i) => i.op === 'VOLUME')?.args).toContain(config.dataDir);
    const healthcheck = list.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    expect(healthcheck).toContain(`http://127.0.0.1:${String(config.http.port)}/healthz`);
    expect(list.filter((i) => i.op === 'USER').at(-1)?.args).toBe('bootfleet');
    server = await startTestServer();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it("the server image runs node as bootfleet-server.service does: the same flags and the same environment", () => {
    const unit = unitLaunch(readUnit('bootfleet-server.service'));
    const list = instructions('deploy/container/Containerfile').filter((i) => i.stage === 1);
    const entrypoint = JSON.parse(list.find((i) => i.op === 'ENTRYPOINT')?.args ?? '[]') as string[];
    expect(entrypoint.slice(1, entrypoint.findIndex((arg, i) => i > 0 && !arg.startsWith('--')))).toEqual(unit.flags);
    const pairs = list.filter((i) => i.op === 'ENV').flatMap((i) => i.args.split(/\s+/).map((pair): [string, string] => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    const env = Object.fromEntries(pairs);
    expect(env).toEqual(unit.env);
    expect(unit.env).toMatchObject({ MALLOC_ARENA_MAX: '2' });
  });

  it('the bootc image: enables the agent unit it copies, and its agent configuration parses (bootc backend)', async () => {
    const list = instructions('deploy/bootc/Containerfile');
    expect(list[list.findIndex((i) => i.op === 'FROM' && i.stage === 1)]?.args).toMatch(/^quay\.io\/(fedora\/fedora|centos-bootc\/centos)-bootc:/);
    const copied = contextSources(list);
    const enabled = list.filter((i) => i.op === 'RUN').flatMap((i) => [...i.args.matchAll(/systemctl enable (\S+)/g)].map((m) => m[1]));
    expect(enabled).toEqual(['bootfleet-agent.service']);
    for (const unit of enabled) expect(copied).toContain(`deploy/systemd/${unit ?? ''}`);
    const config = await readAgentConfig(join(ROOT, 'deploy/bootc/agent.json'));
    expect(config.deploy?.backend).toBe('bootc');
    // The unit's StateDirectory is where the agent keeps its data and its enrolled credentials.
    const unit = readFileSync(join(ROOT, 'deploy/systemd/bootfleet-agent.service'), 'utf8');
    expect(unit).toMatch(/^StateDirectory=bootfleet-agent$/m);
    expect(config.deploy?.dataDir).toBe('/var/lib/bootfleet-agent');
    expect(config.server?.credentialsFile.startsWith('/var/lib/bootfleet-agent/')).toBe(true);
    expect(unit).toContain('--config /etc/bootfleet/agent.json');
  });
});
