/**
 * Reads an OCI image layout directory (image spec v1.1, "OCI Image Layout"):
 * one on a USB stick (hostile), or the one extract-archive.ts wrote (its
 * blobs already verified). Small documents are read bounded and verified
 * against their digest; a blob enters the content store only after its bytes
 * hashed to its digest, streamed, never held in memory. Links are never
 * followed: a stick could point `blobs/sha256/<hex>` at /dev/zero.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BootfleetError,
  createDigester,
  digestPath,
  parseDigest,
  parseImageIndex,
  parseJson,
  type Descriptor,
  type Digest,
  type ImageIndex,
} from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';

const INDEX_MAX_BYTES = 4 * 1024 * 1024;
const LAYOUT_FILE_MAX_BYTES = 4 * 1024;

function missing(what: string, digest?: Digest): BootfleetError {
  return new BootfleetError('BOOTFLEET_ARCHIVE_BLOB_MISSING', `the archive lacks ${what}`, { details: digest === undefined ? { what } : { digest: digest.value } });
}

/** Opens a regular file without following a link at any level below `root`. */
async function openPlain(root: string, rel: string): Promise<FileHandle | undefined> {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const info = await lstat(join(root, ...parts.slice(0, i))).catch(() => undefined);
    if (info === undefined) return undefined;
    if (!info.isDirectory()) throw new BootfleetError('BOOTFLEET_ARCHIVE_PATH_UNSAFE', `${parts.slice(0, i).join('/')} in the layout is not a directory`);
  }
  let handle: FileHandle;
  try {
    handle = await open(join(root, rel), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new BootfleetError('BOOTFLEET_ARCHIVE_PATH_UNSAFE', `${rel} in the layout is a symbolic link`, { details: { entry: rel } });
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${rel} in the layout`, { cause: error, details: { entry: rel } });
  }
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new BootfleetError('BOOTFLEET_ARCHIVE_PATH_UNSAFE', `${rel} in the layout is not a regular file`, { details: { entry: rel } });
  }
  return handle;
}

async function readBounded(handle: FileHandle, maxBytes: number, what: string): Promise<Buffer> {
  const size = (await handle.stat()).size;
  if (size > maxBytes) throw new BootfleetError('BOOTFLEET_ARCHIVE_TOO_LARGE', `${what} is ${size} bytes, limit ${maxBytes}`, { details: { limit: maxBytes } });
  return handle.readFile();
}

export class LayoutDir {
  private constructor(
    readonly root: string,
    /** True for a directory extract-archive.ts wrote: its blobs were verified and may be moved. */
    private readonly owned: boolean,
    readonly index: ImageIndex,
  ) {}

  static async open(root: string, owned: boolean): Promise<LayoutDir> {
    const layout = await LayoutDir.readFile(root, 'oci-layout', LAYOUT_FILE_MAX_BYTES);
    const version = (parseJson(layout, LAYOUT_FILE_MAX_BYTES, 'oci-layout') as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    if (typeof version !== 'string' || !version.startsWith('1.')) {
      throw new BootfleetError('BOOTFLEET_ARCHIVE_INVALID', `oci-layout names version ${JSON.stringify(version)}, not 1.x`, { details: { rule: 'layout-version' } });
    }
    const index = parseImageIndex(await LayoutDir.readFile(root, 'index.json', INDEX_MAX_BYTES));
    return new LayoutDir(root, owned, index);
  }

  private static async readFile(root: string, name: string, maxBytes: number): Promise<Buffer> {
    const handle = await openPlain(root, name);
    if (handle === undefined) throw new BootfleetError('BOOTFLEET_ARCHIVE_INVALID', `the archive has no ${name}: not an OCI layout`, { details: { rule: `no-${name}` } });
    try {
      return await readBounded(handle, maxBytes, name);
    } finally {
      await handle.close();
    }
  }

  /** A small document (manifest, index, signature bundle), checked against its descriptor's digest and size. */
  async readSmall(descriptor: Pick<Descriptor, 'digest' | 'size'>, maxBytes: number): Promise<Buffer> {
    const digest = parseDigest(descriptor.digest);
    if (descriptor.size > maxBytes) throw new BootfleetError('BOOTFLEET_ARCHIVE_TOO_LARGE', `blob ${digest.value} is ${descriptor.size} bytes, limit ${maxBytes}`);
    const handle = await openPlain(this.root, relPath(digest));
    if (handle === undefined) throw missing(`blob ${digest.value}`, digest);
    let bytes: Buffer;
    try {
      bytes = await readBounded(handle, maxBytes, `blob ${digest.value}`);
    } finally {
      await handle.close();
    }
    checkBlob(digest, bytes.length === descriptor.size ? hashOf(bytes, digest) : undefined, bytes.length, descriptor.size);
    return bytes;
  }

  /** Brings one blob into the store, verified (already there: nothing to do). */
  async importBlob(store: ContentStore, descriptor: Descriptor): Promise<void> {
    const digest = parseDigest(descriptor.digest);
    if (await store.has(descriptor)) return;
    const handle = await openPlain(this.root, relPath(digest));
    if (handle === undefined) throw missing(`blob ${digest.value}`, digest);
    if (this.owned) {
      const size = (await handle.stat()).size;
      await handle.close();
      checkBlob(digest, undefined, size, descriptor.size);
      await store.commitFile(digestPath(this.root, digest), digest);
      return;
    }
    const partial = join(store.partialDir, `archive-blob-${randomBytes(6).toString('hex')}`);
    try {
      const { hex, size } = await copyHashing(handle, partial, digest);
      checkBlob(digest, hex, size, descriptor.size);
      await store.commitFile(partial, digest);
    } finally {
      await handle.close();
      await rm(partial, { force: true });
    }
  }
}

function relPath(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.hex}`;
}

function hashOf(bytes: Buffer, digest: Digest): string {
  return createDigester(digest.algorithm).update(bytes).digest('hex');
}

function checkBlob(digest: Digest, hex: string | undefined, size: number, expected: number): void {
  if (size !== expected) {
    throw new BootfleetError('BOOTFLEET_ARCHIVE_DIGEST_MISMATCH', `archive blob ${digest.value} is ${size} bytes, its descriptor says ${expected}`, {
      details: { digest: digest.value, size, expected },
    });
  }
  if (hex !== undefined && hex !== digest.hex) {
    throw new BootfleetError('BOOTFLEET_ARCHIVE_DIGEST_MISMATCH', `archive blob ${digest.value} hashes to sha256:${hex}`, { details: { digest: digest.value, actual: `sha256:${hex}` } });
  }
}

async function copyHashing(source: FileHandle, target: string, digest: Digest): Promise<{ hex: string; size: number }> {
  const hash = createDigester(digest.algorithm);
  const out = await open(target, 'wx', 0o600);
  let size = 0;
  try {
    for await (const chunk of source.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      await out.write(chunk);
    }
    await out.sync();
  } finally {
    await out.close();
  }
  return { hex: hash.digest('hex'), size };
}
