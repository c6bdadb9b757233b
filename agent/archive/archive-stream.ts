/**
 * The bytes of an oci-archive as a tar stream: a plain tar as it is, a
 * gzipped one (`image.tar.gz`, as technicians copy them) through our own
 * gunzip, so that the decompressed size is counted against the archive limit
 * (a decompression bomb stops there) and node-tar never decompresses on its
 * own behind that count. zstd, and a tar compressed twice, are refused.
 */
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BootfleetError } from '../../protocol/index.js';

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

function unreadable(path: string, error: unknown): BootfleetError {
  return new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${path}`, { cause: error, details: { path } });
}

async function magicOf(path: string): Promise<Buffer> {
  try {
    const handle = await open(path, 'r');
    try {
      const head = Buffer.alloc(4);
      const { bytesRead } = await handle.read(head, 0, 4, 0);
      return head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw unreadable(path, error);
  }
}

/** Opens the archive as an uncompressed tar stream. */
export async function openArchiveStream(path: string): Promise<{ stream: Readable; compressed: boolean }> {
  const head = await magicOf(path);
  if (startsWith(head, ZSTD)) throw new BootfleetError('BOOTFLEET_ARCHIVE_INVALID', 'zstd-compressed archives are not read; decompress it first', { details: { rule: 'compression' } });
  const file = createReadStream(path, { highWaterMark: 1024 * 1024 });
  if (!startsWith(head, GZIP)) return { stream: file, compressed: false };
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  file.on('error', (error) => gunzip.destroy(unreadable(path, error)));
  file.pipe(gunzip);
  return { stream: gunzip, compressed: true };
}

/** True when a decompressed stream starts compressed again (gzip or zstd): node-tar would unpack it behind our count. */
export function isCompressedAgain(chunk: Uint8Array): boolean {
  return startsWith(chunk, GZIP) || startsWith(chunk, ZSTD);
}
