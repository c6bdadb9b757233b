/**
 * The shipped executable is the rolldown bundle `npm run build` makes
 * (scripts/bundle.ts, dist/bundle/): it is what package.json `bin` names, it
 * runs, its start-up loads no server code, and its source maps turn a stack
 * trace back into our file names. The chunks' contents are read through their
 * source maps (`sources`), and their static imports from their `import`
 * statements, so the checks hold whatever names and hashes rolldown picks.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/exit-codes.js';
import { CLI_PATH } from '../helpers/cli-process.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUNDLE = join(ROOT, 'dist', 'bundle');

/** The source files (repository-relative) a chunk was made from, from its source map. */
function sourcesOf(chunk: string): string[] {
  const map = `${chunk}.map`;
  if (!existsSync(map)) return [];
  const { sources } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] };
  return sources.map((s) => resolve(dirname(chunk), s).slice(ROOT.length));
}

/**
 * A static import of a relative chunk, where the bundle writes them: at the start of a line or after a
 * `;` (whitespace is removed, several imports share a line). `import(` (dynamic) and `import.meta` never match.
 */
const STATIC_IMPORT = /(?:^|[;\n])\s*import\s*(?:[\w*{][^;"']*?from\s*)?"(\.{1,2}\/[^"]+)"/g;

/** `chunk` and every chunk it imports statically, transitively: what loading it loads. */
function staticClosure(chunk: string): string[] {
  const seen = new Set<string>();
  const queue = [chunk];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    if (seen.has(next)) continue;
    seen.add(next);
    const code = readFileSync(next, 'utf8');
    for (const m of code.matchAll(STATIC_IMPORT)) queue.push(normalize(join(dirname(next), m[1] ?? '')));
  }
  return [...seen];
}

function chunkFiles(): string[] {
  return readdirSync(join(BUNDLE, 'chunks')).filter((f) => f.endsWith('.js')).map((f) => join(BUNDLE, 'chunks', f));
}

/** The chunk holding `source` (repository-relative path). */
function chunkWith(source: string): string {
  const found = [join(BUNDLE, 'main.js'), ...chunkFiles()].find((c) => sourcesOf(c).includes(source));
  if (found === undefined) throw new Error(`no chunk holds ${source}`);
  return found;
}

/** What only the server needs: its start, HTTP framework, broker, database, logger. */
const SERVER_ONLY = [/^server\/start\.ts$/, /^server\/(routes|broker\/embedded|registry)\//, /node_modules\/(fastify|aedes|level|classic-level|pino)\//];

describe('the shipped bundle (dist/bundle/main.js)', () => {
  it('is what package.json `bin` names, executable, and the CLI the tests run', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; version: string };
    expect(pkg.bin.bootfleet).toBe('dist/bundle/main.js');
    expect(CLI_PATH).toBe(join(ROOT, pkg.bin.bootfleet ?? ''));
    expect(statSync(CLI_PATH).mode & 0o111).not.toBe(0);
    expect(readFileSync(CLI_PATH, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('prints the package version and its help, and keeps the usage exit code', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await run(CLI_PATH, ['--version'])).stdout.trim()).toBe(pkg.version);
    expect((await run(CLI_PATH, ['agent', '--help'])).stdout).toContain('Usage: bootfleet agent');
    await expect(run(CLI_PATH, ['agent', 'no-such-command'])).rejects.toMatchObject({ code: ExitCode.usage });
  });

  it('loads no server code at start-up, nor when the agent daemon starts; the HTTP client only with the first update', () => {
    const atStart = staticClosure(join(BUNDLE, 'main.js'));
    // `agent run` then imports the daemon's chunk (cli/commands/agent-daemon.ts).
    const daemon = [...atStart, ...staticClosure(chunkWith('agent/daemon/run-managed.ts'))];
    for (const loaded of [atStart, daemon]) {
      const sources = loaded.flatMap(sourcesOf);
      expect(sources).toContain('cli/main.ts');
      expect(sources.filter((s) => SERVER_ONLY.some((re) => re.test(s)))).toEqual([]);
      // undici costs an idle daemon about 9 MiB (measured: 76.5 against 67.3 MiB VmHWM when `image` imported it eagerly).
      expect(sources.filter((s) => s.startsWith('node_modules/undici/') || s.startsWith('agent/registry/'))).toEqual([]);
    }
    // An autonomous daemon (agent/daemon/daemon.ts) loads the MQTT client only in managed mode.
    const autonomous = [...atStart, ...staticClosure(chunkWith('agent/daemon/daemon.ts'))].flatMap(sourcesOf);
    expect(autonomous).toContain('agent/daemon/run.ts');
    expect(autonomous.filter((s) => s.startsWith('node_modules/mqtt/') || s === 'agent/managed/mqtt-session.ts')).toEqual([]);
    expect(daemon.flatMap(sourcesOf)).toContain('agent/managed/mqtt-session.ts');
    // ...and the server is in the bundle, in chunks of its own that `server start` imports.
    expect(sourcesOf(chunkWith('server/start.ts')).some((s) => s.includes('node_modules/fastify/'))).toBe(true);
  });

  it('is ASCII in every chunk: V8 would keep a source with any wider character as two bytes a character', () => {
    for (const chunk of [join(BUNDLE, 'main.js'), ...chunkFiles()]) {
      const bytes = readFileSync(chunk);
      expect({ chunk, ascii: bytes.every((b) => b < 0x80) }).toEqual({ chunk, ascii: true });
    }
  });

  it('leaves the native database addon and the lazily required sigstore libraries to node_modules', () => {
    const sources = chunkFiles().flatMap(sourcesOf);
    expect(sources.filter((s) => /node_modules\/(@sigstore|classic-level|level)\//.test(s))).toEqual([]);
    expect(sources.some((s) => s.startsWith('node_modules/typebox/'))).toBe(true);
  });

  it('maps a stack trace back to our TypeScript sources with --enable-source-maps', async () => {
    const chunk = chunkWith('protocol/ids.ts');
    // The chunk exports under short names: find parseDeviceId by its function name, call it with a bad id.
    const script = `
      const m = await import(${JSON.stringify(chunk)});
      const parse = Object.values(m).find((v) => typeof v === 'function' && v.name === 'parseDeviceId');
      try { parse('../not an id'); } catch (error) { console.log(JSON.stringify({ code: error.code, stack: error.stack })); }
    `;
    const { stdout } = await run(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 30_000 });
    const report = JSON.parse(stdout.trim()) as { code: string; stack: string };
    expect(report.code).toBe('BOOTFLEET_ID_INVALID');
    expect(report.stack).toMatch(/protocol\/ids\.ts:\d+:\d+/);
  });
});
