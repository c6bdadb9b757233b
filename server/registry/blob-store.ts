/**
 * The content-addressed blob store shared by every repository:
 * `<root>/blobs/<algorithm>/<hex>` (the OCI image layout path, protocol's
 * `digestPath`). A blob appears there only complete and verified: content is
 * streamed into `<root>/uploads/` (same filesystem), hashed while it streams,
 * fsynced, and renamed into place only when its digest matches; the directory
 * is fsynced after the rename so that the new name survives power loss.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Hash } from 'node:crypto';
import { BootfleetError, createDigester, digestPath, parseDigest, type Digest, type DigestAlgorithm } from '../../protocol/index.js';
import { registryError } from './errors.js';

export interface BlobInfo {
  readonly size: number;
  readonly mtimeMs: number;
}

export class BlobStore {
  constructor(readonly root: string) {}

  async init(): Promise<void> {
    for (const dir of ['blobs/sha256', 'blobs/sha512', 'uploads']) await mkdir(join(this.root, dir), { recursive: true, mode: 0o700 });
  }

  pathOf(digest: Digest): string {
    return digestPath(this.root, digest);
  }

  /** Temporary file of an upload; `id` must have passed `isUploadId`. */
  uploadPath(id: string): string {
    return join(this.root, 'uploads', id);
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const info = await stat(this.pathOf(digest));
      return { size: info.size, mtimeMs: info.mtimeMs };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Streams `source` to the end of `path` (created when absent), feeding `hash`; fsyncs; returns bytes written. */
  async append(path: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, hash: Hash, limit: number): Promise<number> {
    const file = await open(path, 'a', 0o600);
    let written = 0;
    try {
      for await (const chunk of source) {
        written += chunk.byteLength;
        if (written > limit) throw registryError('BOOTFLEET_REGISTRY_TOO_LARGE', `blob exceeds the limit of ${limit} bytes`, { limit });
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
    } finally {
      await file.close();
    }
    return written;
  }

  /** Hashes the first `length` bytes of a file (an upload resumed after a restart, or a sha512 finish). */
  async hashFile(path: string, algorithm: DigestAlgorithm, length: number): Promise<Hash> {
    const hash = createDigester(algorithm);
    if (length === 0) return hash;
    for await (const chunk of createReadStream(path, { start: 0, end: length - 1, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
    }
    return hash;
  }

  /**
   * Moves a finished temporary file into the store if `actualHex` is `expected`;
   * otherwise deletes it and throws DIGEST_INVALID: a mismatch leaves nothing behind.
   */
  async commit(tempPath: string, expected: Digest, actualHex: string): Promise<void> {
    if (actualHex !== expected.hex) {
      await unlink(tempPath).catch(() => undefined);
      throw new BootfleetError('BOOTFLEET_DIGEST_INVALID', `uploaded content has digest ${expected.algorithm}:${actualHex}, not ${expected.value}`, {
        details: { expected: expected.value, actual: `${expected.algorithm}:${actualHex}` },
      });
    }
    const target = this.pathOf(expected);
    await rename(tempPath, target);
    await fsyncDir(dirname(target));
  }

  /** Stores a small buffer (a manifest) under its digest. */
  async putBytes(bytes: Uint8Array, digest: Digest, tempName: string): Promise<void> {
    if ((await this.stat(digest)) !== undefined) return;
    const temp = this.uploadPath(tempName);
    const hash = createDigester(digest.algorithm);
    await unlink(temp).catch(() => undefined);
    await this.append(temp, [bytes], hash, bytes.byteLength);
    await this.commit(temp, digest, hash.digest('hex'));
  }

  async remove(digest: Digest): Promise<void> {
    await unlink(this.pathOf(digest)).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }

  /** Every blob in the store, for garbage collection. */
  async *list(): AsyncGenerator<{ digest: Digest; info: BlobInfo }> {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const names = await readdir(join(this.root, 'blobs', algorithm)).catch(() => [] as string[]);
      for (const hex of names) {
        let digest: Digest;
        try {
          digest = parseDigest(`${algorithm}:${hex}`);
        } catch {
          continue; // not ours (a stray file); gc leaves it alone
        }
        const info = await this.stat(digest);
        if (info !== undefined) yield { digest, info };
      }
    }
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
