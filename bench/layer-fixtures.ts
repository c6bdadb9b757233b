/**
 * Large layers for the benchmarks, streamed to disk (never held in memory):
 * a tar of many files with half-compressible content (hex of random bytes,
 * about 2:1 under gzip, like binaries and text of a real root filesystem),
 * then compressed with the system's gzip or zstd, as image builders do.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { once } from 'node:events';
import { Header } from 'tar';

export interface LayerSpec {
  readonly totalBytes: number;
  readonly files: number;
  /** Random bytes (incompressible) instead of hex text. */
  readonly random?: boolean;
}

function header(path: string, size: number, type: 'File' | 'Directory'): Buffer {
  const buf = Buffer.alloc(512);
  new Header({ path, mode: type === 'File' ? 0o644 : 0o755, uid: 0, gid: 0, size, mtime: new Date(1_700_000_000_000), type }).encode(buf, 0);
  return buf;
}

/** Writes the tar and returns its sha256 (the diff_id). */
export async function writeTar(path: string, spec: LayerSpec): Promise<string> {
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  const write = async (chunk: Buffer): Promise<void> => {
    hash.update(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  };
  const perFile = Math.floor(spec.totalBytes / spec.files);
  for (let d = 0; d < Math.ceil(spec.files / 500); d++) await write(header(`usr/share/d${d}/`, 0, 'Directory'));
  for (let i = 0; i < spec.files; i++) {
    const size = Math.max(1, perFile + ((i * 7919) % 1024) - 512);
    const body = spec.random === true ? randomBytes(size) : Buffer.from(randomBytes(Math.ceil(size / 2)).toString('hex').slice(0, size));
    await write(header(`usr/share/d${Math.floor(i / 500)}/f${i}`, size, 'File'));
    await write(body);
    const pad = (512 - (size % 512)) % 512;
    if (pad > 0) await write(Buffer.alloc(pad));
  }
  await write(Buffer.alloc(1024));
  out.end();
  await once(out, 'close');
  return `sha256:${hash.digest('hex')}`;
}

/** `gzip -c` or `zstd -c` of a file into another; returns the compressed size. */
export async function compressFile(input: string, output: string, tool: 'gzip' | 'zstd'): Promise<number> {
  const args = tool === 'gzip' ? ['-6', '-c'] : ['-3', '-T2', '-q', '-c'];
  const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  createReadStream(input).pipe(child.stdin);
  const out = createWriteStream(output);
  child.stdout.pipe(out);
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${tool} failed with ${String(code)}`);
  if (!out.closed) await once(out, 'close');
  return statSync(output).size;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}
