/**
 * Layer decompression by media type (image spec v1.1, "Image Layer
 * Filesystem Changeset", media types `tar`, `tar+gzip`, `tar+zstd`).
 *
 * zstd: Node 22.15+/23.8+ has `zlib.createZstdDecompress`; it is used when
 * present. On Node 20 we spawn the `zstd` binary (Debian `zstd`, native, a
 * streaming filter with bounded memory) rather than a pure-JavaScript
 * decoder: fzstd, the maintained JS one, is several times slower than native
 * and last released in 2023, and decompression speed bounds unpack time.
 */
import { spawn } from 'node:child_process';
import { PassThrough, pipeline, type Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { BootfleetError, type LayerCompression } from '../../protocol/index.js';

export type ZstdImplementation = 'zlib' | 'binary';

type ZstdFactory = (options: { chunkSize: number }) => Transform;

/** zlib's default 16 KiB output chunks cost a callback each; 128 KiB halves gunzip time on many-file layers. */
const CHUNK_SIZE = 128 * 1024;

function zlibZstd(): ZstdFactory | undefined {
  const factory: unknown = (zlib as unknown as Record<string, unknown>).createZstdDecompress;
  return typeof factory === 'function' ? (factory as ZstdFactory) : undefined;
}

/** The zstd implementation used by default on this Node. */
export function defaultZstd(): ZstdImplementation {
  return zlibZstd() === undefined ? 'binary' : 'zlib';
}

export function decompressLayer(source: Readable, compression: LayerCompression, zstd: ZstdImplementation = defaultZstd()): Readable {
  switch (compression) {
    case 'none':
      return source;
    case 'gzip':
      return through(source, zlib.createGunzip({ chunkSize: CHUNK_SIZE }));
    case 'zstd':
      return zstd === 'zlib' ? through(source, requireZlibZstd()({ chunkSize: CHUNK_SIZE })) : zstdBinary(source);
  }
}

function requireZlibZstd(): ZstdFactory {
  const factory = zlibZstd();
  if (factory === undefined) throw new BootfleetError('BOOTFLEET_INTERNAL', `this Node (${process.version}) has no zlib zstd`);
  return factory;
}

function corrupt(error: unknown): BootfleetError {
  return new BootfleetError('BOOTFLEET_UNPACK_TAR_INVALID', `layer does not decompress: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
    details: { rule: 'decompress' },
  });
}

function through(source: Readable, transform: Transform): Readable {
  // `out` stays outside the pipeline so that the error it carries is ours, not zlib's.
  const out = new PassThrough();
  pipeline(source, transform, (error) => {
    if (error) out.destroy(corrupt(error));
  });
  // pipeline() calls back at the transform's 'finish' and drops its listeners; zlib reports a
  // truncated stream after that, and with no listener left the error crashed the process.
  transform.on('error', (error) => out.destroy(corrupt(error)));
  transform.pipe(out);
  return out;
}

function zstdBinary(source: Readable): Readable {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  pipeline(source, child.stdin, (error) => {
    if (error && error.code !== 'EPIPE') child.kill('SIGKILL');
  });
  child.stdout.pipe(out, { end: false });
  child.on('error', (error) => out.destroy(corrupt(error)));
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else out.destroy(corrupt(new Error(`zstd exited with ${code ?? signal ?? 'unknown'}: ${stderr.trim()}`)));
  });
  out.on('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return out;
}
